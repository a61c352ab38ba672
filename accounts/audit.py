"""Writing the audit log. Services call `audit_record` explicitly for every sensitive action."""

import functools
import ipaddress
import logging

from django.conf import settings
from django.db import models

from accounts.models import AuditEntry, Organization

logger = logging.getLogger("tsunagu.audit")


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _address(value: str):
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client address. REMOTE_ADDR, unless it is one of TRUSTED_PROXIES: then X-Forwarded-For is read from the
    right, each entry added by a trusted proxy, up to the first address that is not a trusted proxy. Entries a
    client wrote itself sit left of that and are never believed."""
    if request is None:
        return None
    address = _address(request.META.get("REMOTE_ADDR", ""))
    if address is None:
        return None
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    while networks and any(address in network for network in networks) and forwarded:
        previous = _address(forwarded.pop())
        if previous is None:  # a trusted proxy passed on garbage: the proxy is the best we know
            break
        address = previous
    return str(address)


def audit_record(
    *,
    organization: Organization | None,
    actor,
    action: str,
    obj: models.Model | None = None,
    changes: dict | None = None,
    request=None,
    actor_email: str = "",
) -> AuditEntry:
    """Append one entry. `actor` may be None (system, or an unknown address in `actor_email`). The object is named
    by its `audit_label` when it has one: the log is append-only, so a customer's name written here would outlive
    the erasure of their data."""
    entry = AuditEntry(
        organization=organization,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_email=actor_email or getattr(actor, "email", "") or "",
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(getattr(obj, "audit_label", obj))[:255] if obj is not None else "",
        changes=changes or {},
        ip_address=client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:255] if request is not None else ""),
    )
    entry.save()
    logger.info(
        "audit org=%s actor=%s action=%s object=%s:%s ip=%s",
        getattr(organization, "slug", "-"),
        entry.actor_email or "-",
        action,
        entry.object_type,
        entry.object_id,
        entry.ip_address,
    )
    return entry
