"""The "call an external URL" action: a JSON POST signed with the organization's secret, retried on the one retry
policy's schedule (core.retry) on network errors, 5xx, 408 and 429, and given up on other 4xx (the receiver refused
it; retrying would not help). Every call (WebhookCall) and each of its attempts (core.models.Attempt) are kept, so an
admin can see what was sent and what came back each time.

Signature (like Stripe's): `X-Tsunagu-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
The receiver recomputes it over the raw body and rejects old timestamps (replays)."""

import hashlib
import hmac
import json
import logging
import secrets
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, Organization
from automation.models import AutomationSettings, WebhookCall, WebhookCallState
from automation.rules import tasks as rule_tasks  # the module, not its names: the tasks call webhooks
from automation.setup_cache import cached_setup
from core.crypto import decrypt_json, encrypt_json
from core.models import AttemptOutcome
from core.outbound_http import OutboundError, guarded_request
from core.retry import attempt_record, retry_delay
from tickets.models import Ticket

logger = logging.getLogger("tsunagu.rules")

TIMEOUT = (5, 10)  # connect, read (seconds)
TOTAL_TIME = 20  # seconds for the whole call, however slowly the receiver trickles its answer
MAX_RESPONSE = 64 * 1024  # bytes of the answer read (500 characters are kept)
SIGNATURE_HEADER = "X-Tsunagu-Signature"


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
    transaction.on_commit(lambda: rule_tasks.deliver_webhook.delay(organization_id=organization.pk, call_id=call.pk))
    return call


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
    status, error, excerpt, failed_retryably = None, "", "", False
    started, clock = timezone.now(), time.monotonic()
    try:
        # Resolved once, refused on a private address, connected to the checked address, no redirects (a 3xx is the
        # receiver's answer), the answer's size and time capped: core.outbound_http
        response = guarded_request(
            "POST",
            call.url,
            allow_private=settings.RULE_WEBHOOKS_ALLOW_PRIVATE,
            timeout=TIMEOUT,
            total=TOTAL_TIME,
            max_bytes=MAX_RESPONSE,
            headers=headers,
            data=body,
        )
        status, excerpt = response.status_code, response.text[:500]
    except OutboundError as exc:
        error = (f"{type(exc).__name__}: {exc}" if exc.retryable else str(exc))[:500]
        failed_retryably = exc.retryable
    retryable = failed_retryably or status in (408, 429) or (status is not None and status >= 500)
    succeeded = status is not None and 200 <= status < 300
    retry_in = retry_delay(call.attempts) if retryable and not succeeded else None
    if succeeded:
        state, outcome = WebhookCallState.SUCCEEDED, AttemptOutcome.SUCCEEDED
    elif retry_in is not None:
        state, outcome = WebhookCallState.PENDING, AttemptOutcome.RETRYING
    else:
        state, outcome = WebhookCallState.FAILED, AttemptOutcome.FAILED
    with transaction.atomic():
        attempt_record(
            organization=organization,
            subject=call,
            number=call.attempts,
            outcome=outcome,
            started_at=started,
            duration_ms=int((time.monotonic() - clock) * 1000),
            status_code=status,
            error=error if not succeeded else "",
            response=excerpt,
        )
        WebhookCall.objects.filter(pk=call.pk).update(
            state=state,
            last_status_code=status,
            last_error=error if not succeeded else "",
            response_excerpt=excerpt,
            updated_at=timezone.now(),
        )
    log = logger.info if succeeded else logger.warning
    log("webhook call %s to %s: attempt %s, status %s %s", call.pk, call.url, call.attempts, status, error)
    return retry_in
