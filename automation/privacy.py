"""Automation's part in erasing a contact or anonymizing old tickets (tickets.privacy_hooks): the calls rules made
to external URLs carry the ticket and its customer in their payload (deleted, with their attempts), and the rule
runs' summaries may quote them (redacted)."""

from accounts.models import Organization
from automation.models import RuleRun, WebhookCall
from tickets.privacy_hooks import Erasure, redact_free_text
from tickets.privacy_hooks import register as register_part


def erase(*, organization: Organization, erasure: Erasure) -> None:
    calls = WebhookCall.objects.filter(ticket_id__in=erasure.ticket_ids)
    for value in erasure.values:  # a call whose ticket was merged away or deleted may still name the customer
        calls = calls | WebhookCall.objects.filter(payload__icontains=value)
    WebhookCall.objects.filter(pk__in=list(calls.values_list("pk", flat=True))).delete()
    for run in RuleRun.objects.filter(ticket_id__in=erasure.ticket_ids).exclude(actions=[]):
        actions = redact_free_text(run.actions)
        if actions != run.actions:
            RuleRun.objects.filter(pk=run.pk).update(actions=actions)


def register() -> None:
    register_part("automation", eraser=erase)
