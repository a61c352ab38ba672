"""Approvals' part in erasing a contact or anonymizing old tickets (tickets.privacy_hooks): a held reply keeps its
first draft (`ReplyHold.original_text`), and approvers' comments on a reply may quote the customer."""

from django.contrib.contenttypes.models import ContentType

from accounts.models import Organization
from approvals.models import ApprovalDecision, ApprovalRequest, ReplyHold
from tickets.models import Message
from tickets.privacy_hooks import REDACTED, Erasure
from tickets.privacy_hooks import register as register_part


def erase(*, organization: Organization, erasure: Erasure) -> None:
    ReplyHold.objects.filter(message_id__in=erasure.message_ids).update(original_text="")
    requests = ApprovalRequest.objects.filter(
        subject_type=ContentType.objects.get_for_model(Message), subject_id__in=erasure.message_ids
    )
    ApprovalDecision.objects.filter(request__in=requests).exclude(comment="").update(comment=REDACTED)


def register() -> None:
    register_part("approvals", eraser=erase)
