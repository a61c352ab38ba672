"""Secret tokens stored as SHA-256 digests: API keys and invitation links."""

import hashlib
import secrets

API_KEY_PREFIX = "tsu_"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key() -> tuple[str, str, str]:
    """Return (key shown once to the user, display prefix, stored digest)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[: len(API_KEY_PREFIX) + 6], digest(key)


def new_invitation_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def api_key_from_header(header: str) -> str | None:
    """`Authorization: Token <key>` or `Bearer <key>`."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() not in {"token", "bearer"} or not value.strip():
        return None
    return value.strip()
