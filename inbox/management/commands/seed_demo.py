"""Seed (idempotently) the demo organization with one user per role, teams, an invitation and history."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django_scopes import scope, scopes_disabled

from accounts import services
from accounts.models import Invitation, Membership, Organization, Role, Team, User
from accounts.roles import RoleKey

PASSWORD = "tsunagu-demo"
DOMAIN = "demo.tsunagu.example"

PEOPLE = [
    (RoleKey.OWNER, "山田 太郎"),
    (RoleKey.ADMIN, "佐藤 花子"),
    (RoleKey.MANAGER, "鈴木 一郎"),
    (RoleKey.AGENT, "高橋 美咲"),
    (RoleKey.EDITOR, "田中 健"),
    (RoleKey.APPROVER, "伊藤 さくら"),
    (RoleKey.ANALYST, "Emily Carter"),
]
EXTRA_AGENTS = [("agent2", "渡辺 翔太"), ("agent3", "Daniel Kim")]


class Command(BaseCommand):
    help = "Create or complete the demo organization `demo` (safe to run repeatedly)."

    @transaction.atomic
    def handle(self, *args, **options):
        # Seeding spans users and organizations; it is an operator action, hence explicitly unscoped lookups.
        with scopes_disabled():
            users = {}
            for role, name in PEOPLE:
                users[role.value] = self._user(f"{role.value}@{DOMAIN}", name)
            for local, name in EXTRA_AGENTS:
                users[local] = self._user(f"{local}@{DOMAIN}", name)
            demo = Organization.objects.filter(slug="demo").first()
            if demo is None:
                demo = services.organization_create(name="デモ株式会社", slug="demo", owner=users["owner"])
            second = Organization.objects.filter(slug="sakura-shop").first()
            if second is None:
                second = services.organization_create(
                    name="さくら雑貨店", slug="sakura-shop", owner=users["owner"], default_language="ja"
                )
        self._members(demo, users)
        # Everyone starts in the demo organization (the owner and admin also belong to the second one).
        User.objects.filter(pk__in=[u.pk for u in users.values()], last_organization__isnull=True).update(
            last_organization=demo
        )
        with scope(organization=second):
            roles = {role.key: role for role in Role.objects.all()}
            Membership.objects.get_or_create(
                organization=second, user=users["admin"], defaults={"role": roles["agent"]}
            )
        from django.core.management import call_command

        call_command("seed_demo_inbox")
        call_command("seed_demo_listening")  # by command name too: the monitors; mentions come from the poller
        call_command("seed_demo_csat")  # surveys on, a few answers (before the rebuild derives their facts)
        # The dashboards read facts that the consumer derives on beat a minute or two later; derive the demo's now
        # (by command name: inbox does not import analytics) so they show its conversations from the first page.
        call_command("analytics_rebuild", organization="demo")
        self.stdout.write(self.style.SUCCESS(f"demo organization ready; password for all demo users: {PASSWORD}"))

    def _user(self, email: str, name: str) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, PASSWORD, name=name)
        return user

    def _members(self, demo: Organization, users: dict[str, User]) -> None:
        owner = users["owner"]
        with scope(organization=demo):
            roles = {role.key: role for role in Role.objects.all()}
            for key, user in users.items():
                role = roles.get(key, roles["agent"])
                Membership.objects.get_or_create(organization=demo, user=user, defaults={"role": role})
            owner_membership = Membership.objects.get(user=owner)
            teams = {
                "サポート": ("メールと Messenger の問い合わせ対応", ["agent", "agent2", "manager"]),
                "ソーシャル": ("Facebook・Instagram・X のコメントとDM", ["agent3", "editor", "manager"]),
            }
            for name, (description, members) in teams.items():
                if not Team.objects.filter(name=name).exists():
                    services.team_create(
                        organization=demo,
                        actor=owner,
                        name=name,
                        description=description,
                        members=[users[m] for m in members],
                    )
            if not Invitation.objects.filter(email=f"newhire@{DOMAIN}").exists():
                services.invitation_create(
                    organization=demo,
                    actor=owner,
                    actor_membership=owner_membership,
                    email=f"newhire@{DOMAIN}",
                    role=roles["agent"],
                )
