"""Automation's part in erasing a contact or anonymizing old tickets (tickets.privacy_hooks): the calls rules made
to external URLs carry the ticket and its customer in their payload (deleted, with their attempts), and the rule
runs' summaries may quote them (redacted)."""

from accounts.models import Organization
from automation.models import RuleRun, WebhookCall
from tickets.privacy_hooks import Erasure, containing, redact_free_text, redact_rows
from tickets.privacy_hooks import register as register_part


def erase(*, organization: Organization, erasure: Erasure) -> None:
    # A call whose ticket was merged away or deleted may still name the customer in its payload.
    calls = containing(WebhookCall.objects.all(), "payload", erasure.values)
    calls = calls | WebhookCall.objects.filter(ticket_id__in=erasure.ticket_ids)
    WebhookCall.objects.filter(pk__in=list(calls.values_list("pk", flat=True))).delete()
    redact_rows(
        RuleRun.objects.filter(ticket_id__in=erasure.ticket_ids).exclude(actions=[]), redact_free_text, "actions"
    )


def register() -> None:
    register_part("automation", eraser=erase)
