"""Outgoing webhooks for contact events (contact.created, contact.updated, contact.merged): an organization
subscribes a URL to some events; each event becomes one delivery per subscription (WebhookEventDelivery), sent after
the commit as a signed JSON POST and retried on the one retry policy's schedule (core.retry: every attempt kept, a
dead letter after the last), like Saleor's EventDelivery and EventDeliveryAttempt.

They live in tickets (the app that owns contacts), below automation, whose rule webhooks sign the same way:
`X-Tsunagu-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, with the subscription's own
secret (shown once, when the subscription is made)."""

import hashlib
import hmac
import json
import logging
import secrets
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import AuditAction, Organization
from core.crypto import decrypt_json, encrypt_json
from core.errors import DomainError
from core.models import AttemptOutcome
from core.outbound_http import OutboundError, guarded_request
from core.retry import attempt_record, retry_delay
from tickets import tasks_contacts  # a module: it imports the services that import this one
from tickets.models import (
    Contact,
    WebhookDeliveryState,
    WebhookEvent,
    WebhookEventDelivery,
    WebhookSubscription,
)

logger = logging.getLogger("tsunagu.tickets")

TIMEOUT = (5, 10)  # connect, read (seconds)
TOTAL_TIME = 20
MAX_RESPONSE = 64 * 1024
SIGNATURE_HEADER = "X-Tsunagu-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def contact_payload(contact: Contact) -> dict:
    """What a receiver learns about a contact (its identities included)."""
    return {
        "id": contact.pk,
        "name": contact.name,
        "reading": contact.reading,
        "emails": list(contact.emails),
        "phones": list(contact.phones),
        "company": contact.company,
        "language": contact.language,
        "timezone": contact.timezone,
        "vip": contact.vip,
        "tags": list(contact.tags),
        "attributes": contact.attributes,
        "consent": {"marketing": contact.consent_marketing, "survey": contact.consent_survey},
        "identities": [
            {"platform": i.platform, "external_id": i.external_id, "handle": i.handle, "profile_url": i.profile_url}
            for i in contact.identities.all().order_by("id")
        ],
        "merged_into": contact.merged_into_id,
        "created_at": contact.created_at.isoformat() if contact.created_at else None,
    }


def contact_event(
    *,
    organization: Organization,
    event: str,
    contact: Contact,
    changed: list[str] | None = None,
    extra: dict | None = None,
) -> list[WebhookEventDelivery]:
    """Record `event` about `contact` for every active subscription to it; each is sent after the commit."""
    subscriptions = list(WebhookSubscription.objects.filter(active=True, events__contains=[event]))
    if not subscriptions:
        return []
    payload = {
        "event": event,
        "organization": organization.slug,
        "contact": contact_payload(contact),
        "created_at": timezone.now().isoformat(),
    }
    if changed is not None:
        payload["changed"] = changed
    payload.update(extra or {})
    deliveries = WebhookEventDelivery.objects.bulk_create(
        [
            WebhookEventDelivery(organization=organization, subscription=s, event=event, payload=payload)
            for s in subscriptions
        ]
    )
    ids = [d.pk for d in deliveries]

    def send() -> None:
        for delivery_id in ids:
            tasks_contacts.deliver_contact_webhook.delay(organization_id=organization.pk, delivery_id=delivery_id)

    transaction.on_commit(send)
    return deliveries


def contacts_announce(*, organization: Organization, contact_ids: list[int]) -> int:
    """contact.created for contacts the ingest made (announced from the matching task, off the ingest's path)."""
    if not WebhookSubscription.objects.filter(active=True, events__contains=[WebhookEvent.CONTACT_CREATED]).exists():
        return 0
    count = 0
    with transaction.atomic():
        for contact in Contact.objects.filter(pk__in=contact_ids, merged_into__isnull=True):
            count += bool(contact_event(organization=organization, event=WebhookEvent.CONTACT_CREATED, contact=contact))
    return count


# --- subscriptions ------------------------------------------------------------------------------------------------


def _clean(url: str | None, events: list[str] | None) -> tuple[str | None, list[str] | None]:
    if url is not None:
        url = url.strip()
        try:
            URLValidator(schemes=["https", "http"])(url)
        except ValidationError:
            raise DomainError(_("Enter the URL that receives the events."), field="url") from None
        if not settings.RULE_WEBHOOKS_ALLOW_PRIVATE and not url.startswith("https://"):
            raise DomainError(_("Use an https:// URL."), field="url")
    if events is not None:
        events = list(dict.fromkeys(events))
        if not events or any(e not in WebhookEvent.values for e in events):
            raise DomainError(
                _("Choose among: %(events)s.") % {"events": ", ".join(WebhookEvent.values)}, field="events"
            )
    return url, events


@transaction.atomic
def webhook_subscription_create(
    *, organization: Organization, actor, url: str, events: list[str], request=None
) -> tuple[WebhookSubscription, str]:
    """Subscribe `url` to contact events. Returns the subscription and its signing secret (shown this once)."""
    url, events = _clean(url, events)
    secret = "whsec_" + secrets.token_urlsafe(32)
    subscription = WebhookSubscription.objects.create(
        organization=organization,
        url=url,
        events=events,
        secret=encrypt_json({"secret": secret}),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CONTACT_WEBHOOKS_CHANGED,
        obj=subscription,
        changes={"created": {"url": url, "events": events}},
        request=request,
    )
    return subscription, secret


@transaction.atomic
def webhook_subscription_update(
    *,
    organization: Organization,
    actor,
    subscription: WebhookSubscription,
    url: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
    request=None,
) -> WebhookSubscription:
    url, events = _clean(url, events)
    changes = {}
    for name, value in (("url", url), ("events", events), ("active", active)):
        if value is not None and getattr(subscription, name) != value:
            changes[name] = [getattr(subscription, name), value]
            setattr(subscription, name, value)
    if changes:
        subscription.save()
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.CONTACT_WEBHOOKS_CHANGED,
            obj=subscription,
            changes=changes,
            request=request,
        )
    return subscription


@transaction.atomic
def webhook_subscription_delete(
    *, organization: Organization, actor, subscription: WebhookSubscription, request=None
) -> None:
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CONTACT_WEBHOOKS_CHANGED,
        obj=subscription,
        changes={"deleted": subscription.url},
        request=request,
    )
    subscription.delete()


def subscription_secret(subscription: WebhookSubscription) -> str:
    return decrypt_json(subscription.secret)["secret"]


# --- sending ------------------------------------------------------------------------------------------------------


def webhook_delivery_send(*, organization: Organization, delivery_id: int) -> int | None:
    """One attempt of one delivery. Returns seconds until the next attempt, or None when the delivery is finished
    (delivered; refused with a 4xx other than 408/429; or out of attempts: a dead letter)."""
    with transaction.atomic():
        delivery = (
            WebhookEventDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.state != WebhookDeliveryState.PENDING:
            return None  # another worker has it, or it is done
        if not delivery.subscription.active:
            delivery.state = WebhookDeliveryState.FAILED
            delivery.last_error = "subscription disabled"
            delivery.save(update_fields=["state", "last_error", "updated_at"])
            return None
        delivery.attempts += 1
        delivery.save(update_fields=["attempts", "updated_at"])
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Tsunagu-Webhooks/1.0",
        "X-Tsunagu-Delivery": str(delivery.pk),
        "X-Tsunagu-Event": delivery.event,
        SIGNATURE_HEADER: sign(subscription_secret(delivery.subscription), int(time.time()), body),
    }
    status, error, excerpt, failed_retryably = None, "", "", False
    started, clock = timezone.now(), time.monotonic()
    try:
        response = guarded_request(
            "POST",
            delivery.subscription.url,
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
    retry_in = retry_delay(delivery.attempts) if retryable and not succeeded else None
    if succeeded:
        state, outcome = WebhookDeliveryState.SUCCEEDED, AttemptOutcome.SUCCEEDED
    elif retry_in is not None:
        state, outcome = WebhookDeliveryState.PENDING, AttemptOutcome.RETRYING
    else:
        state, outcome = WebhookDeliveryState.FAILED, AttemptOutcome.FAILED
    if not succeeded and not error:
        error = f"HTTP {status}"
    with transaction.atomic():
        attempt_record(
            organization=organization,
            subject=delivery,
            number=delivery.attempts,
            outcome=outcome,
            started_at=started,
            duration_ms=int((time.monotonic() - clock) * 1000),
            status_code=status,
            error=error if not succeeded else "",
            response=excerpt,
        )
        WebhookEventDelivery.objects.filter(pk=delivery.pk).update(
            state=state, last_status_code=status, last_error=error if not succeeded else "", updated_at=timezone.now()
        )
    logger.info(
        "contact webhook %s (%s): attempt %s, status %s %s",
        delivery.pk,
        delivery.event,
        delivery.attempts,
        status,
        error,
    )
    return retry_in
