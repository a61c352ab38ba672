"""Replies held for approval before they reach the customer (送信前承認).

The reply itself is a `tickets.Message` in the `held` delivery state (never sent while held); `ReplyHold` is the
approval side of it: why it was held, the version the approval binds to (each edit adds one), and the text as the
author first wrote it (the before of the before/after diff on the ticket's history)."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager


class ReplyHoldReason(models.TextChoices):
    POLICY = "policy", _("Required by an approval policy")
    ASKED = "asked", _("The author asked for approval")


class ReplyHold(models.Model):
    """The approval state of one held reply (`message`, a tickets.Message). `version` counts edits of the text by
    the author or an approver; an approval binds to it. `send_when_approved`: approving sends it at once; otherwise
    the approver leaves the sending to the author."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    message = models.OneToOneField("tickets.Message", on_delete=models.CASCADE, related_name="approval_hold")
    reason = models.CharField(max_length=8, choices=ReplyHoldReason.choices, default=ReplyHoldReason.POLICY)
    version = models.PositiveIntegerField(default=1, db_default=1)
    original_text = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    released_at = models.DateTimeField(null=True, blank=True)  # approved and sent (or handed back to send)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"hold of message {self.message_id} v{self.version}"
