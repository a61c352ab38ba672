"""Writing the audit log. Services call `audit_record` explicitly for every sensitive action."""

import ipaddress
import logging

from django.conf import settings
from django.db import models

from accounts.models import AuditEntry, Organization

logger = logging.getLogger("tsunagu.audit")


def client_ip(request) -> str | None:
    """The client address: REMOTE_ADDR, or the entry TRUSTED_PROXY_COUNT hops back in X-Forwarded-For."""
    if request is None:
        return None
    address = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if hops and len(forwarded) >= hops:
        address = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


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
    """Append one entry. `actor` may be None (system, or an unknown address in `actor_email`)."""
    entry = AuditEntry(
        organization=organization,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_email=actor_email or getattr(actor, "email", "") or "",
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:255] if obj is not None else "",
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
