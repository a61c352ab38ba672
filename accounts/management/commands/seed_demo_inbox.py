"""Sample conversations for the demo organization, ingested through the real `message_ingest` path.

The channel connections created here are connected to the platform simulator by `connect_demo_channels` when
`make run` starts it; from then on the simulator's steady trickle of customers arrives through the real webhooks and
pollers."""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django_scopes import scope

from accounts import services as account_services
from accounts.models import Organization, Team, User
from channels_integrations.models import ChannelConnection
from tickets import services
from tickets.inbound import InboundMessage
from tickets.models import Ticket

CONVERSATIONS = [
    # (platform, customer, kind, [messages], status, priority, assignee local part, tags)
    (
        "line",
        "山本 美和",
        "direct",
        [
            "注文した商品がまだ届いていません。注文番号は A-10234 です。",
            "今週末に使いたいので、至急確認をお願いします。",
        ],
        "open",
        "high",
        "agent",
        ["配送"],
    ),
    ("line", "中村 大輔", "direct", ["ポイントの有効期限を教えてください。"], "new", "normal", None, []),
    (
        "email",
        "Sarah Johnson",
        "email",
        ["Hi, I was charged twice for order #55812. Could you refund the duplicate payment?"],
        "open",
        "urgent",
        "agent2",
        ["billing", "refund"],
    ),
    (
        "email",
        "小林 恵",
        "email",
        ["返品・交換の方法を教えてください。サイズが合いませんでした。"],
        "pending",
        "normal",
        "agent",
        ["返品"],
    ),
    (
        "facebook",
        "Kenji Watanabe",
        "comment",
        ["新商品の発売日はいつですか？楽しみにしています！"],
        "new",
        "low",
        None,
        [],
    ),
    (
        "instagram",
        "aoi_photo",
        "direct",
        ["投稿で紹介されていたバッグは店舗でも買えますか？"],
        "open",
        "normal",
        "agent3",
        ["店舗"],
    ),
    (
        "instagram",
        "mika.t",
        "comment",
        ["届いた商品が破損していました…写真を送ります。"],
        "new",
        "high",
        None,
        ["破損"],
    ),
    (
        "facebook",
        "Tom Becker",
        "direct",
        ["Do you ship to Germany? How long does it take?"],
        "open",
        "normal",
        "agent3",
        ["shipping"],
    ),
    (
        "line",
        "加藤 翼",
        "direct",
        ["アプリにログインできません。パスワードを再設定しても同じです。"],
        "solved",
        "normal",
        "agent2",
        ["アカウント"],
    ),
    (
        "email",
        "Emily Clark",
        "email",
        ["Thanks for the quick help yesterday! Everything works now."],
        "closed",
        "low",
        "agent",
        [],
    ),
]


class Command(BaseCommand):
    help = "Ingest sample conversations into the demo organization (once)."

    @transaction.atomic
    def handle(self, *args, **options):
        demo = Organization.objects.get(slug="demo")
        with scope(organization=demo):
            if Ticket.objects.exists():
                return
            owner = User.objects.get(email="owner@demo.tsunagu.example")
            connections = {}
            for platform, name in (
                ("line", "LINE 公式アカウント"),
                ("email", "support@demo.tsunagu.example"),
                ("facebook", "デモ株式会社 Facebookページ"),
                ("instagram", "@demo_tsunagu"),
            ):
                connections[platform] = ChannelConnection.objects.create(
                    organization=demo, platform=platform, display_name=name, external_account_id=f"demo-{platform}"
                )
            support, social = Team.objects.get(name="サポート"), Team.objects.get(name="ソーシャル")
            for platform, team in (("line", support), ("email", support), ("facebook", social), ("instagram", social)):
                account_services.connection_access_set(
                    organization=demo, actor=owner, connection=connections[platform], teams=[team]
                )
            for n, (platform, customer, kind, texts, status, priority, assignee, tags) in enumerate(CONVERSATIONS):
                message = None
                for i, text in enumerate(texts):
                    message, _created = services.message_ingest(
                        organization=demo,
                        connection=connections[platform],
                        inbound=InboundMessage(
                            platform_message_id=f"demo-{n}-{i}",
                            thread_key=f"demo-thread-{n}",
                            kind=kind,
                            # Email identities are addresses, so replies to the samples reach the simulator's SMTP.
                            author_id=f"customer{n}@example.jp" if platform == "email" else f"demo-customer-{n}",
                            author_email=f"customer{n}@example.jp" if platform == "email" else "",
                            author_name=customer,
                            text=text,
                            subject=text[:40] if kind == "email" else "",
                            timestamp=timezone.now() - timedelta(minutes=90 - n * 7 - i),
                        ),
                    )
                user = User.objects.get(email=f"{assignee}@demo.tsunagu.example") if assignee else None
                services.ticket_update(
                    organization=demo,
                    actor=owner,
                    ticket=message.ticket,
                    status=status,
                    priority=priority,
                    assignee=user,
                    tags=tags,
                )
        self.stdout.write(self.style.SUCCESS("demo conversations ready"))
