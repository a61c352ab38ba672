"""The "call an external URL" action: a JSON POST signed with the organization's secret, retried with backoff on
network errors, 5xx, 408 and 429, and given up on other 4xx (the receiver refused it; retrying would not help).
Every call and its attempts are kept (WebhookCall), so an admin can see what was sent and what came back.

Signature (like Stripe's): `X-Tsunagu-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
The receiver recomputes it over the raw body and rejects old timestamps (replays)."""

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization
from core.crypto import decrypt_json, encrypt_json
from tickets.batch_reads import cached_setup
from tickets.models import AutomationSettings, Ticket, WebhookCall, WebhookCallState

logger = logging.getLogger("tsunagu.rules")

MAX_ATTEMPTS = 6
TIMEOUT = (5, 10)  # connect, read (seconds)
SIGNATURE_HEADER = "X-Tsunagu-Signature"


def url_problem(url) -> str:
    """Why this URL cannot be called, or "" if it can."""
    if not isinstance(url, str) or len(url) > 2000:
        return _("Give a URL of at most 2000 characters.")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return _("Give an http:// or https:// URL.")
    if parts.username or parts.password:
        return _("Do not put credentials in the URL; verify the signature header instead.")
    if not settings.RULE_WEBHOOKS_ALLOW_PRIVATE and _private(parts.hostname):
        return _("This address is on a private network and cannot be called.")
    return ""


def _private(hostname: str) -> bool:
    """True for loopback, private, link-local and other non-public addresses (no calls into our own network)."""
    try:
        infos = socket.getaddrinfo(hostname, None)
    except OSError:
        return False  # unresolvable now: the call itself will fail and be logged
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return True
    return False


# --- the signing secret -----------------------------------------------------------------------------------------


def automation_settings(organization: Organization) -> AutomationSettings:
    """The organization's settings; the defaults (unsaved) until someone changes them — reading never writes."""

    def load() -> AutomationSettings:
        found = AutomationSettings.objects.filter(organization=organization).first()
        return found if found is not None else AutomationSettings(organization=organization)

    return cached_setup(organization.pk, "automation_settings", load)


def webhook_secret(organization: Organization) -> str:
    """The organization's signing secret, created on first use."""
    row, _created = AutomationSettings.objects.get_or_create(organization=organization)
    if not row.webhook_secret:
        with transaction.atomic():
            row = AutomationSettings.objects.select_for_update().get(pk=row.pk)
            if not row.webhook_secret:
                row.webhook_secret = encrypt_json({"secret": "whsec_" + secrets.token_urlsafe(32)})
                row.save(update_fields=["webhook_secret"])
    return decrypt_json(row.webhook_secret)["secret"]


@transaction.atomic
def webhook_secret_rotate(*, organization: Organization, actor, request=None) -> str:
    from accounts.audit import audit_record
    from accounts.models import AuditAction

    AutomationSettings.objects.get_or_create(organization=organization)
    row = AutomationSettings.objects.select_for_update().get(organization=organization)
    row.webhook_secret = encrypt_json({"secret": "whsec_" + secrets.token_urlsafe(32)})
    row.save(update_fields=["webhook_secret"])
    audit_record(organization=organization, actor=actor, action=AuditAction.WEBHOOK_SECRET_ROTATED, request=request)
    return decrypt_json(row.webhook_secret)["secret"]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --- calls ------------------------------------------------------------------------------------------------------


def ticket_payload(ticket: Ticket) -> dict:
    return {
        "id": ticket.pk,
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee_id": ticket.assignee_id,
        "team_id": ticket.team_id,
        "language": ticket.language,
        "sentiment": ticket.sentiment,
        "channel": {"id": ticket.connection_id, "platform": ticket.connection.platform},
        "contact": {"id": ticket.contact_id, "name": ticket.contact.name},
        "created_at": ticket.created_at.isoformat() if ticket.created_at else None,
        "url": f"{settings.SITE_URL}/{ticket.organization.slug}/inbox/?ticket={ticket.pk}",
    }


def webhook_enqueue(*, organization: Organization, rule, ticket: Ticket, url: str) -> WebhookCall:
    """Record the call and send it after the transaction commits."""
    payload = {
        "event": "rule.matched",
        "rule": {"id": rule.pk, "name": rule.name},
        "ticket": ticket_payload(ticket),
        "organization": organization.slug,
        "created_at": timezone.now().isoformat(),
    }
    call = WebhookCall.objects.create(
        organization=organization, rule_id=rule.pk, ticket=ticket, url=url, payload=payload
    )
    from tickets.rules.tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.delay(organization_id=organization.pk, call_id=call.pk))
    return call


def backoff(attempts: int) -> int:
    return min(30 * 4 ** (attempts - 1), 6 * 3600)


def webhook_deliver(*, organization: Organization, call_id: int) -> int | None:
    """One attempt. Returns seconds until the next attempt, or None when the call is finished."""
    with transaction.atomic():
        call = WebhookCall.objects.select_for_update(skip_locked=True).filter(pk=call_id).first()
        if call is None or call.state != WebhookCallState.PENDING:
            return None  # another worker has it, or it is done
        call.attempts += 1
        call.save(update_fields=["attempts", "updated_at"])
    body = json.dumps(call.payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Tsunagu-Webhooks/1.0",
        "X-Tsunagu-Delivery": str(call.pk),
        "X-Tsunagu-Event": call.payload.get("event", ""),
        SIGNATURE_HEADER: sign(webhook_secret(organization), int(time.time()), body),
    }
    status, error, excerpt = None, "", ""
    problem = url_problem(call.url)
    if problem:
        error = problem
    else:
        try:
            response = requests.post(call.url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
            status, excerpt = response.status_code, response.text[:500]
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
    retryable = status is None and not problem or status in (408, 429) or (status is not None and status >= 500)
    succeeded = status is not None and 200 <= status < 300
    if succeeded:
        state = WebhookCallState.SUCCEEDED
    elif retryable and call.attempts < MAX_ATTEMPTS:
        state = WebhookCallState.PENDING
    else:
        state = WebhookCallState.FAILED
    WebhookCall.objects.filter(pk=call.pk).update(
        state=state,
        last_status_code=status,
        last_error=error if not succeeded else "",
        response_excerpt=excerpt,
        updated_at=timezone.now(),
    )
    log = logger.info if succeeded else logger.warning
    log("webhook call %s to %s: attempt %s, status %s %s", call.pk, call.url, call.attempts, status, error)
    return backoff(call.attempts) if state == WebhookCallState.PENDING else None
