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
from automation.models import BusinessCalendar, SlaPolicy
from automation.rules.services import auto_response_save, rule_create
from channels_integrations.inbound import InboundMessage
from channels_integrations.models import ChannelConnection
from tickets.models import CannedResponse, CannedResponseVariant, Ticket
from tickets.services.changes import ticket_update
from tickets.services.ingest import message_ingest

CONVERSATIONS = [
    # (platform, customer, kind, [messages], status, priority, assignee local part, tags)
    (
        "facebook",
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
    ("facebook", "中村 大輔", "direct", ["ポイントの有効期限を教えてください。"], "new", "normal", None, []),
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
        "facebook",
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


def _automation(demo, owner, connections, support, social) -> None:
    """Business hours, SLA policies, team routing, a few rules and an acknowledgement for the demo — made through the
    same services as the settings pages, before the sample conversations arrive so they are measured and routed."""
    calendar = BusinessCalendar.objects.create(organization=demo, name="本社（平日 9:00–18:00）", is_default=True)
    for name, priority, first, following, resolution in (
        ("標準", "normal", 240, 480, 3 * 540),
        ("高", "high", 60, 120, 540),
        ("緊急", "urgent", 30, 60, 240),
    ):
        SlaPolicy.objects.create(
            organization=demo,
            name=name,
            priority=priority,
            calendar=calendar,
            first_response_minutes=first,
            next_response_minutes=following,
            resolution_minutes=resolution,
            warning_minutes=30,
        )
    Team.objects.filter(pk=support.pk).update(assignment_strategy="round_robin", default_capacity=8)
    Team.objects.filter(pk=social.pk).update(assignment_strategy="least_open", default_capacity=10)
    routes = (
        ("メール・Facebook はサポートへ", ["email", "facebook"], support),
        ("Instagram はソーシャルへ", ["instagram"], social),
    )
    for name, platforms, team in routes:
        rule_create(
            organization=demo,
            actor=owner,
            name=name,
            trigger="ticket_created",
            conditions={"all": [{"field": "platform", "op": "in", "value": platforms}]},
            actions=[{"type": "assign_team", "team": team.pk}],
        )
    rule_create(
        organization=demo,
        actor=owner,
        name="返金・至急は優先度「高」",
        description="返金や至急の依頼は早めに対応します。",
        trigger="message_received",
        conditions={
            "any": [
                {"field": "message.text", "op": "contains_any", "value": ["返金", "至急", "refund", "urgent"]},
                {"field": "message.sentiment", "op": "in", "value": ["negative"]},
            ]
        },
        actions=[{"type": "set_priority", "priority": "high"}, {"type": "add_tags", "tags": ["要対応"]}],
    )
    rule_create(
        organization=demo,
        actor=owner,
        name="SLA超過はマネージャーへ通知",
        trigger="sla_breach",
        conditions={"all": []},
        actions=[{"type": "notify", "users": [User.objects.get(email="manager@demo.tsunagu.example").pk]}],
    )
    rule_create(
        organization=demo,
        actor=owner,
        name="お客様の返信待ち 48 時間で解決済みに",
        trigger="scheduled",
        conditions={
            "all": [
                {"field": "ticket.status", "op": "in", "value": ["pending"]},
                {"field": "ticket.minutes_in_status", "op": "gt", "value": 48 * 60},
            ]
        },
        actions=[{"type": "set_status", "status": "solved"}],
    )
    ack = CannedResponse.objects.create(organization=demo, title="受付のご連絡", shortcut="uketsuke")
    CannedResponseVariant.objects.create(
        organization=demo,
        response=ack,
        language="ja",
        body="{{contact.name}}様\nお問い合わせいただきありがとうございます。内容を確認のうえ、担当者よりご連絡いたします。",
    )
    CannedResponseVariant.objects.create(
        organization=demo,
        response=ack,
        language="en",
        body="Dear {{contact.name}},\nThank you for contacting us. We will get back to you shortly.",
    )
    return ack


def _acknowledgement(demo, owner, connections, ack) -> None:
    """New email conversations get an acknowledgement (set after the samples, which are history, not new mail)."""

    auto_response_save(
        organization=demo,
        actor=owner,
        connection=connections["email"],
        kind="first_contact",
        response=ack,
        calendar=None,
        window_hours=24,
        enabled=True,
    )


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
                ("email", "support@demo.tsunagu.example"),
                ("facebook", "デモ株式会社 Facebookページ"),
                ("instagram", "@demo_tsunagu"),
            ):
                connections[platform] = ChannelConnection.objects.create(
                    organization=demo, platform=platform, display_name=name, external_account_id=f"demo-{platform}"
                )
            support, social = Team.objects.get(name="サポート"), Team.objects.get(name="ソーシャル")
            # Support answers mail and the Facebook page; the social team works Facebook and Instagram.
            for platform, teams in (
                ("email", [support]),
                ("facebook", [support, social]),
                ("instagram", [social]),
            ):
                account_services.connection_access_set(
                    organization=demo, actor=owner, connection=connections[platform], teams=teams
                )
            ack = _automation(demo, owner, connections, support, social)
            for n, (platform, customer, kind, texts, status, priority, assignee, tags) in enumerate(CONVERSATIONS):
                message = None
                for i, text in enumerate(texts):
                    message, _created = message_ingest(
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
                ticket_update(
                    organization=demo,
                    actor=owner,
                    ticket=message.ticket,
                    status=status,
                    priority=priority,
                    assignee=user,
                    tags=tags,
                )
            _acknowledgement(demo, owner, connections, ack)
        self.stdout.write(self.style.SUCCESS("demo conversations ready"))
