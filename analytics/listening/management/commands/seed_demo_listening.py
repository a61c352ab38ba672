"""Seed (idempotently) the demo organization's listening monitors: its brand and two competitors. The mentions come
from the platform simulator's public posts, collected by the poller like real ones."""

from django.core.management.base import BaseCommand
from django_scopes import scope, scopes_disabled

from accounts.models import Organization, User
from analytics.listening.models import Monitor
from analytics.listening.services import monitor_save

MONITORS = [
    ("ツナグ", "brand", ["ツナグ", "Tsunagu"], ["求人"]),
    ("カスタマーボックス", "competitor", ["カスタマーボックス", "CustomerBox"], []),
    ("Zen", "competitor", ["Zen"], []),
]


class Command(BaseCommand):
    help = "Create the demo organization's listening monitors (safe to run repeatedly)."

    def handle(self, *args, **options):
        with scopes_disabled():
            demo = Organization.objects.filter(slug="demo").first()
            owner = User.objects.filter(email="owner@demo.tsunagu.example").first()
        if demo is None or owner is None:
            self.stdout.write("no demo organization; no monitors")
            return
        with scope(organization=demo):
            for name, kind, terms, excluded in MONITORS:
                if not Monitor.objects.filter(name=name).exists():
                    monitor_save(
                        organization=demo,
                        actor=owner,
                        name=name,
                        kind=kind,
                        terms=terms,
                        excluded_terms=excluded,
                        platforms=[],
                        active=True,
                    )
        self.stdout.write(self.style.SUCCESS("demo listening monitors ready"))
