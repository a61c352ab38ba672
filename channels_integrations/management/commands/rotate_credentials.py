"""Re-encrypt every connection's credentials with the newest key in TSUNAGU_ENCRYPTION_KEYS (key rotation step 2)."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django_scopes import scopes_disabled

from channels_integrations.models import ChannelConnection
from core import crypto


class Command(BaseCommand):
    help = "Re-encrypt channel credentials with the first key of TSUNAGU_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        count = 0
        # Rotation spans every organization by nature; nothing is read or shown, only re-encrypted.
        with scopes_disabled(), transaction.atomic():
            for connection in ChannelConnection.objects.select_for_update().exclude(credentials_encrypted=""):
                connection.credentials_encrypted = crypto.rotate(connection.credentials_encrypted)
                connection.save(update_fields=["credentials_encrypted"])
                count += 1
        self.stdout.write(self.style.SUCCESS(f"re-encrypted the credentials of {count} connections"))
