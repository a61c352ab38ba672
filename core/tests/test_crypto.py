"""Credentials are encrypted at rest, readable after a key rotation, and re-encrypted by rotate_credentials."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from channels_integrations.models import ChannelConnection
from core import crypto


@pytest.fixture
def keys(settings):
    def use(*new_keys: str) -> None:
        settings.ENCRYPTION_KEYS = list(new_keys)
        crypto.reset_keys()

    yield use
    crypto.reset_keys()


def test_credentials_are_not_stored_in_clear(tenant_a, keys):
    keys(Fernet.generate_key().decode())
    with tenant_a.scope():
        connection = ChannelConnection(
            organization=tenant_a.organization, platform="email", display_name="m", external_account_id="a@example.jp"
        )
        connection.set_credentials({"password": "very-secret-パスワード"})
        connection.save()
        stored = ChannelConnection.objects.values_list("credentials_encrypted", flat=True).get(pk=connection.pk)
        assert "very-secret" not in stored
        assert ChannelConnection.objects.get(pk=connection.pk).credentials == {"password": "very-secret-パスワード"}


def test_rotation_keeps_old_rows_readable_and_rewrites_them(tenant_a, keys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys(old)
    with tenant_a.scope():
        connection = ChannelConnection(
            organization=tenant_a.organization, platform="email", display_name="m", external_account_id="b@example.jp"
        )
        connection.set_credentials({"password": "p"})
        connection.save()
    # When a new key is put in front, rows written with the old one still decrypt
    keys(new, old)
    with tenant_a.scope():
        assert ChannelConnection.objects.get(pk=connection.pk).credentials == {"password": "p"}
    # ...and after rotate_credentials the old key can be dropped
    call_command("rotate_credentials")
    keys(new)
    with tenant_a.scope():
        assert ChannelConnection.objects.get(pk=connection.pk).credentials == {"password": "p"}
