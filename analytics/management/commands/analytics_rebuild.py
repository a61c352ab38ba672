"""Recompute reporting facts and rollups exactly from the ticket history."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from analytics import services


class Command(BaseCommand):
    help = "Recompute analytics facts and daily rollups from the ticket history (one organization, or all)."

    def add_arguments(self, parser):
        parser.add_argument("--organization", metavar="SLUG", help="only this organization")

    def handle(self, *args, organization=None, **options):
        organizations = Organization.objects.order_by("pk")
        if organization:
            organizations = organizations.filter(slug=organization)
            if not organizations.exists():
                raise CommandError(f"No organization {organization!r}.")
        for org in organizations:
            count = services.rebuild(org)
            self.stdout.write(f"{org.slug}: {count} facts")
