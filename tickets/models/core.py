"""Tickets, their messages and history, tags, canned responses and saved views (contacts: models/contacts.py)."""

import os
import re
import uuid
from datetime import datetime

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tickets.models.contacts import Contact, scoped


class Tag(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=60)
    color = models.CharField(max_length=7, default="#64748b")

    objects = scoped()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="tickets_tag_org_name_unique")]

    def __str__(self) -> str:
        return self.name


class TicketStatus(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    PENDING = "pending", _("Pending (waiting on customer)")
    ON_HOLD = "on_hold", _("On hold")
    SOLVED = "solved", _("Solved")
    CLOSED = "closed", _("Closed")


ACTIVE_STATUSES = [TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.ON_HOLD]
# Solved and closed tickets: their resolution clock has stopped.
DONE_STATUSES = frozenset({TicketStatus.SOLVED, TicketStatus.CLOSED})
# Partial-index predicate for the inbox's active lists (the list queries imply it, so PostgreSQL can use them).
ACTIVE_CONDITION = Q(status__in=["new", "open", "pending", "on_hold"], merged_into__isnull=True)


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class SlaState(models.TextChoices):
    """How the ticket stands against its SLA, set by the SLA monitor (highlighted live in the inbox)."""

    NONE = "", _("No SLA")
    OK = "ok", _("On track")
    WARNING = "warning", _("Due soon")
    BREACHED = "breached", _("Overdue")


class SlaMetric(models.TextChoices):
    """The ticket's SLA clocks (its due columns); automation starts, pauses and stops them."""

    FIRST_RESPONSE = "first_response", _("First response")
    NEXT_RESPONSE = "next_response", _("Next response")
    RESOLUTION = "resolution", _("Resolution")


class Sentiment(models.TextChoices):
    POSITIVE = "positive", _("Positive")
    NEUTRAL = "neutral", _("Neutral")
    NEGATIVE = "negative", _("Negative")


class Ticket(models.Model):
    """One conversation thread with one customer on one channel connection."""

    # Each foreign key below without its own index leads a composite index or unique constraint (Meta), which
    # serves its lookups: a single-column copy would only cost every insert and update. The optional ones are
    # indexed only where set (Meta): a new ticket, unassigned, is then in none of those indexes.
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    number = models.PositiveBigIntegerField(editable=False)
    connection = models.ForeignKey(
        "channels_integrations.ChannelConnection", on_delete=models.PROTECT, related_name="tickets", db_index=False
    )
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="tickets", db_index=False)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=TicketStatus.choices, default=TicketStatus.NEW)
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="tickets")
    language = models.CharField(max_length=8, blank=True)
    sentiment = models.CharField(max_length=8, choices=Sentiment.choices, blank=True)
    sentiment_score = models.FloatField(null=True, blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    next_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    sla_policy = models.ForeignKey(
        "automation.SlaPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets", db_index=False
    )
    sla_state = models.CharField(max_length=8, choices=SlaState.choices, blank=True, db_default="")
    # Set while the ticket is pending on the customer: the SLA clocks stop and resume with the time left.
    sla_paused_at = models.DateTimeField(null=True, blank=True)
    # When the SLA monitor must look at this ticket next (the earliest warning or due time of its running clocks).
    sla_check_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    external_thread_key = models.CharField(max_length=500)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    search_vector = SearchVectorField(null=True, editable=False)

    # Notifications point at their target generically (core): deleting a ticket deletes its notifications.
    notifications = GenericRelation("core.Notification", content_type_field="target_type", object_id_field="target_id")

    objects = scoped()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="tickets_ticket_org_number_unique"),
            # One active ticket per platform thread: concurrent deliveries cannot open two.
            models.UniqueConstraint(
                fields=["connection", "external_thread_key"],
                condition=Q(status__in=["new", "open", "pending", "on_hold"], merged_into__isnull=True),
                name="tickets_ticket_active_thread_unique",
            ),
        ]
        indexes = [
            # The inbox's default list: active tickets, newest activity first (an ordered scan that stops at a page).
            models.Index(
                "organization",
                F("last_message_at").desc(),
                F("id").desc(),
                condition=ACTIVE_CONDITION,
                name="tickets_active_recent",
            ),
            models.Index("organization", F("last_message_at").desc(), F("id").desc(), name="tickets_org_recent"),
            # Per assignee / channel / team, active tickets in list order: "Mine", a channel's or a team's inbox.
            models.Index(
                "organization",
                "assignee",
                F("last_message_at").desc(),
                F("id").desc(),
                condition=ACTIVE_CONDITION,
                name="tickets_active_assignee",
            ),
            models.Index(
                "organization",
                "connection",
                F("last_message_at").desc(),
                F("id").desc(),
                condition=ACTIVE_CONDITION,
                name="tickets_active_connection",
            ),
            models.Index(
                "organization",
                "team",
                F("last_message_at").desc(),
                F("id").desc(),
                condition=ACTIVE_CONDITION,
                name="tickets_active_team",
            ),
            # The inbox's status, priority and sentiment filters, in list order (any status: solved and closed too).
            # A combination that matches little or nothing is then read from the narrowest of them instead of
            # walking the organization's whole recency index and filtering every row out.
            *(
                models.Index(
                    "organization",
                    name,
                    F("last_message_at").desc(),
                    F("id").desc(),
                    condition=Q(merged_into__isnull=True),
                    name=f"tickets_{name}_recent",
                )
                for name in ("status", "priority", "sentiment")
            ),
            # Snoozed tickets (few): the Snoozed view and its count, without reading every active ticket.
            models.Index(
                fields=["organization", "snoozed_until"],
                condition=Q(snoozed_until__isnull=False),
                name="tickets_snoozed",
            ),
            models.Index(fields=["connection", "external_thread_key", "-created_at"], name="tickets_thread_lookup"),
            models.Index(fields=["contact", "-created_at"], name="tickets_contact_recent"),
            models.Index(fields=["sla_check_at"], condition=Q(sla_check_at__isnull=False), name="tickets_sla_check"),
            # One organization's due SLA checks, in order (the monitor's batches), whatever other organizations hold.
            models.Index(
                "organization", "sla_check_at", condition=Q(sla_check_at__isnull=False), name="tickets_org_sla_check"
            ),
            # Time-based rules: the active tickets past a time (automation.rules.compiler.condition_filter), one index
            # per time a condition measures from, as the compiled filter writes it.
            *(
                models.Index("organization", expression, condition=ACTIVE_CONDITION, name=f"tickets_active_{name}")
                for name, expression in (
                    ("created", F("created_at")),
                    ("activity", Coalesce(F("last_message_at"), F("created_at"))),
                    ("customer", F("last_customer_message_at")),
                    ("in_status", Coalesce(F("status_changed_at"), F("created_at"))),
                )
            ),
            # A team's queue: active tickets waiting for an agent, oldest first (routing drains, beat).
            models.Index(
                "organization",
                "team",
                "created_at",
                condition=Q(
                    status__in=["new", "open", "pending", "on_hold"],
                    merged_into__isnull=True,
                    assignee__isnull=True,
                    team__isnull=False,
                ),
                name="tickets_team_queue",
            ),
            GinIndex(fields=["search_vector"], name="tickets_ticket_search"),
            *(
                models.Index(fields=[name], condition=Q(**{f"{name}__isnull": False}), name=f"tickets_{name}_set")
                for name in ("assignee", "team", "sla_policy", "merged_into")
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.subject}"

    def running_clocks(self) -> list[tuple[str, datetime]]:
        """(metric, due) of each SLA clock that is counting, or held while the ticket is paused (automation starts,
        pauses and stops them; the columns are the ticket's)."""
        clocks = []
        if self.first_response_due_at is not None and self.first_response_at is None:
            clocks.append((SlaMetric.FIRST_RESPONSE.value, self.first_response_due_at))
        if self.next_response_due_at is not None:
            clocks.append((SlaMetric.NEXT_RESPONSE.value, self.next_response_due_at))
        if self.resolution_due_at is not None and self.status not in DONE_STATUSES:
            clocks.append((SlaMetric.RESOLUTION.value, self.resolution_due_at))
        return clocks

    @property
    def sla_due_at(self):
        """The earliest due time among the SLA clocks still counting (what the inbox shows), or None."""
        dues = [due for _metric, due in self.running_clocks()]
        return min(dues) if dues else None


class Direction(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")


class MessageKind(models.TextChoices):
    DIRECT = "direct", _("Direct message")
    COMMENT = "comment", _("Public comment")
    MENTION = "mention", _("Mention")
    REVIEW = "review", _("Review")
    EMAIL = "email", _("Email")
    CHAT = "chat", _("Chat")
    FORM = "form", _("Form")
    CALL = "call", _("Call")
    NOTE = "note", _("Private note")


class DeliveryState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    FAILED = "failed", _("Failed")
    # Reply approval (送信前承認, approvals app through tickets/reply_gate.py): never sent in these states.
    HELD = "held", _("Awaiting approval")
    RETURNED = "returned", _("Returned for changes")
    APPROVED = "approved", _("Approved, not sent yet")


class Message(models.Model):
    """One message in a ticket. `(connection, platform_message_id)` is unique: the duplicate guard for webhooks
    and pollers that deliver the same message more than once."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey(  # indexed by tickets_message_ticket_time
        Ticket, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    connection = models.ForeignKey(
        "channels_integrations.ChannelConnection", on_delete=models.PROTECT, related_name="+"
    )
    direction = models.CharField(max_length=8, choices=Direction.choices)
    kind = models.CharField(max_length=8, choices=MessageKind.choices)
    author_contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    author_user = models.ForeignKey(  # indexed where set (Meta), like `parent`: a customer's message is in neither
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    automated = models.BooleanField(
        default=False, db_default=False, help_text="sent by a rule or an auto-response, not by an agent"
    )
    text = models.TextField(blank=True)
    html = models.TextField(blank=True, help_text="sanitized HTML (email)")
    platform_message_id = models.CharField(max_length=255, blank=True)  # empty for notes and unsent replies
    platform_timestamp = models.DateTimeField(null=True, blank=True)
    delivery_state = models.CharField(max_length=12, choices=DeliveryState.choices, blank=True)
    delivery_error = models.TextField(blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies", db_index=False
    )
    reply_to_platform_id = models.CharField(max_length=255, blank=True)
    is_public = models.BooleanField(default=False, help_text="a public reply (comment) rather than a private message")
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    language = models.CharField(max_length=8, blank=True)
    sentiment = models.CharField(max_length=8, choices=Sentiment.choices, blank=True)
    sentiment_score = models.FloatField(null=True, blank=True)
    # Inbound email: who really sent it (DKIM, SPF, DMARC; channels_integrations/providers/email/authentication.py),
    # as Authentication.as_dict() gives it; "verdict" is pass, fail or none. Null for other messages.
    sender_authentication = models.JSONField(null=True, blank=True)
    # Outbound: a pre-approved template sent instead of free text (WhatsApp outside its 24 hours), as
    # {"name", "language", "parameters": [...]}; `text` holds the filled-in body the agent saw. Null otherwise.
    template = models.JSONField(null=True, blank=True)
    # The version of the conversation the author saw when writing (collision warning on stale replies).
    based_on_message_id = models.BigIntegerField(null=True, blank=True)
    # Outbound: a stable reference sent as platform metadata (echo matching) and as the idempotency key.
    local_ref = models.UUIDField(null=True, blank=True, unique=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    send_claimed_at = models.DateTimeField(null=True, blank=True)  # a worker started sending (crash detection)
    # After a failed attempt: when the retry is due (its task lost, the stranded-reply sweep sends it after this).
    send_retry_at = models.DateTimeField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)  # the customer deleted it on the platform
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    search_vector = SearchVectorField(null=True, editable=False)

    # Every attempt of it (core.retry), deleted with it.
    attempt_log = GenericRelation("core.Attempt", content_type_field="subject_type", object_id_field="subject_id")

    objects = scoped()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "platform_message_id"],
                condition=~Q(platform_message_id=""),
                name="tickets_message_platform_id_unique",
            )
        ]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="tickets_message_ticket_time"),
            GinIndex(fields=["search_vector"], name="tickets_message_search"),
            *(
                models.Index(fields=[name], condition=Q(**{f"{name}__isnull": False}), name=f"tickets_msg_{name}_set")
                for name in ("author_user", "parent")
            ),
            # The replies waiting for their send (few at any time): the sweep of replies whose send was lost.
            models.Index(fields=["created_at"], condition=Q(delivery_state="queued"), name="tickets_msg_queued"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.kind} {self.text[:40]}"


def attachment_upload_to(instance: "Attachment", filename: str) -> str:
    """attachments/<organization id>/<random><extension>: a name nobody can guess or derive from the customer's file
    name (which stays on the attachment). Files are served only by the access-checked view, never from MEDIA_URL."""
    extension = os.path.splitext(filename or "")[1].lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,10}", extension):
        extension = ""
    return f"attachments/{instance.organization_id}/{uuid.uuid4().hex}{extension}"


class Attachment(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_upload_to, blank=True)
    remote_url = models.URLField(max_length=2000, blank=True)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120, blank=True)
    size = models.PositiveBigIntegerField(default=0)

    objects = scoped()

    def __str__(self) -> str:
        return self.filename


class TicketEventKind(models.TextChoices):
    CREATED = "created", pgettext_lazy("a ticket's history", "Created")
    STATUS = "status", _("Status changed")
    PRIORITY = "priority", _("Priority changed")
    ASSIGNMENT = "assignment", _("Assigned")
    TEAM = "team", _("Team changed")
    TAGS = "tags", _("Tags changed")
    SNOOZE = "snooze", _("Snoozed")
    MERGE = "merge", _("Merged")
    SPLIT = "split", _("Split")
    REOPENED = "reopened", _("Reopened by the customer")
    REPLY_HELD = "reply_held", _("Reply held for approval")
    REPLY_EDITED = "reply_edited", _("Reply edited in approval")
    REPLY_APPROVED = "reply_approved", _("Reply approved")
    REPLY_RETURNED = "reply_returned", _("Reply returned for changes")


class TicketEvent(models.Model):
    """The ticket's history: who changed what, when."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey(  # indexed by tickets_event_ticket_time
        Ticket, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=TicketEventKind.choices)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="tickets_event_ticket_time")]

    def __str__(self) -> str:
        return f"{self.kind} {self.old} → {self.new}"


class CannedResponse(models.Model):
    """A reusable reply, inserted with `/shortcut`. `owner` empty = shared with the organization."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    title = models.CharField(_("title"), max_length=120)
    shortcut = models.SlugField(_("shortcut"), max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        ordering = ["shortcut"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "owner", "shortcut"],
                name="tickets_canned_shortcut_unique",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class CannedResponseVariant(models.Model):
    """The body of a canned response in one language; placeholders like {{contact.name}} are filled on insert."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    response = models.ForeignKey(CannedResponse, on_delete=models.CASCADE, related_name="variants")
    language = models.CharField(max_length=8, choices=settings.LANGUAGES)
    body = models.TextField(_("body"))

    objects = scoped()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "language"], name="tickets_canned_variant_language_unique")
        ]

    def __str__(self) -> str:
        return f"{self.response_id}:{self.language}"


class SavedView(models.Model):
    """A named ticket filter; `owner` empty = shared."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(_("name"), max_length=80)
    filters = models.JSONField(default=dict)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def query_string(self) -> str:
        from urllib.parse import urlencode

        return urlencode(self.filters, doseq=True)
