"""Contact tasks: matching new or changed contacts against the others (after the ingest or an edit commits, off
their path), and sending contact-event webhooks on the one retry policy's schedule."""

from celery import shared_task

from core.retry import retry_later
from core.task_base import TenantTask
from tickets.services import contact_matching, contact_webhooks  # modules: they import this one


@shared_task(base=TenantTask, name="tickets.match_contacts", acks_late=True, resume_after_outage=True)
def match_contacts(*, organization, contact_ids: list[int], announce: bool = False) -> int:
    """Exact matches merged (when the organization asks for it) or suggested, probable duplicates suggested, for each
    contact; `announce`: first send contact.created for them (contacts the ingest made). Idempotent."""
    if announce:
        contact_webhooks.contacts_announce(organization=organization, contact_ids=contact_ids)
    matched = contact_matching.contacts_match(organization=organization, contact_ids=contact_ids)
    return sum(len(results) for results in matched.values())


# resume_after_outage: after an outage the delivery is tried again rather than left pending for ever (receivers
# tell a repeated delivery by its id).
@shared_task(base=TenantTask, name="tickets.deliver_contact_webhook", acks_late=True, resume_after_outage=True)
def deliver_contact_webhook(*, organization, delivery_id: int) -> None:
    retry_in = contact_webhooks.webhook_delivery_send(organization=organization, delivery_id=delivery_id)
    if retry_in is not None:
        retry_later(
            deliver_contact_webhook,
            kwargs={"organization_id": organization.pk, "delivery_id": delivery_id},
            delay=retry_in,
        )
