"""Encryption at rest for connection credentials (tokens, passwords, signing secrets).

Keys come from `TSUNAGU_ENCRYPTION_KEYS`: comma-separated Fernet keys, newest first. Everything is encrypted with the
first key and decrypted with any of them, so rotating is: put a new key in front, deploy, run
`manage.py rotate_credentials` (re-encrypts every row with the new key), then drop the old key."""

import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.ENCRYPTION_KEYS if k.strip()]
    if not keys:
        raise ImproperlyConfigured("TSUNAGU_ENCRYPTION_KEYS is empty")
    return MultiFernet([Fernet(k.encode()) for k in keys])


def reset_keys() -> None:
    """Forget the cached keys (tests that change settings.ENCRYPTION_KEYS)."""
    _fernet.cache_clear()


def encrypt_json(data: dict) -> str:
    return _fernet().encrypt(json.dumps(data, separators=(",", ":")).encode()).decode()


def decrypt_json(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise ImproperlyConfigured("stored credentials cannot be decrypted with TSUNAGU_ENCRYPTION_KEYS") from exc


def rotate(token: str) -> str:
    """The same secret encrypted with the newest key."""
    return _fernet().rotate(token.encode()).decode() if token else token
