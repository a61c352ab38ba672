"""Customers (social CRM): a contact is one person across platforms, its identities are its accounts there.

Also here: the organization's custom contact attributes, the contact settings (automatic merge, undo period, phone
region), merges (with what moved, so they can be undone), duplicate suggestions, and the outgoing-webhook
subscriptions that tell other systems about contact events (in tickets, the lowest layer that owns contacts)."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_scopes import ScopedManager

from channels_integrations.registry import platform_choices


def scoped():
    return ScopedManager(organization="organization")


class Contact(models.Model):
    """A customer: one person across platforms (identities link their accounts).

    `emails` and `phones` hold every address and number in normal form (lower-cased addresses, E.164 numbers:
    tickets/services/contacts.py), the first one being the main one; `email` repeats the main address for
    the code that shows a single one. A contact merged into another keeps its row with `merged_into` set, so the merge
    can be undone; lists leave such contacts out."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=200, blank=True)
    # The name's reading in full-width katakana (フリガナ): shown with the name, searched, and sorted by in Japanese.
    reading = models.CharField(_("reading (furigana)"), max_length=200, blank=True, default="", db_default="")
    avatar_url = models.URLField(max_length=1000, blank=True)
    email = models.EmailField(blank=True)
    emails = ArrayField(
        models.CharField(max_length=254), verbose_name=_("email addresses"), default=list, db_default=[], blank=True
    )
    phones = ArrayField(
        models.CharField(max_length=32), verbose_name=_("phone numbers"), default=list, db_default=[], blank=True
    )
    company = models.CharField(_("company"), max_length=200, blank=True, default="", db_default="")
    # The contact's locale (ja, en, pt-BR…): the language replies and surveys are written in.
    language = models.CharField(_("language"), max_length=16, blank=True)
    timezone = models.CharField(_("time zone"), max_length=64, blank=True, default="", db_default="")
    notes = models.TextField(_("notes"), blank=True, default="", db_default="")
    vip = models.BooleanField(_("VIP"), default=False)
    tags = ArrayField(models.CharField(max_length=60), default=list, db_default=[], blank=True)
    # Values of the organization's custom attributes (ContactAttributeDefinition.key → value, validated by
    # tickets/services/contacts.py: numbers as numbers, dates as ISO strings).
    attributes = models.JSONField(default=dict, blank=True)
    consent_marketing = models.BooleanField(_("agrees to marketing messages"), default=False, db_default=False)
    consent_survey = models.BooleanField(_("agrees to surveys"), default=False, db_default=False)
    consent_updated_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)  # the customer's latest message
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())
    search_vector = SearchVectorField(null=True, editable=False)

    objects = scoped()

    class Meta:
        indexes = [
            GinIndex(fields=["search_vector"], name="tickets_contact_search"),
            # Exact matching: a contact with one of these addresses or numbers (`emails && ARRAY[…]`).
            GinIndex(fields=["emails"], name="tickets_contact_emails"),
            GinIndex(fields=["phones"], name="tickets_contact_phones"),
            models.Index(fields=["merged_into"], condition=Q(merged_into__isnull=False), name="tickets_contact_merged"),
            models.Index("organization", F("created_at").desc(), F("id").desc(), name="tickets_contact_org_recent"),
        ]

    def __str__(self) -> str:
        return self.name or self.email or f"#{self.pk}"

    @property
    def audit_label(self) -> str:
        """How the append-only audit log names a contact: by number, never by personal data an erasure removes."""
        return f"#{self.pk}"


class ContactIdentity(models.Model):
    """The contact's account on one platform (a PSID, an Instagram-scoped id, an email address, a LINE user id)."""

    organization = models.ForeignKey(  # indexed by tickets_identity_platform_id_unique
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    platform = models.CharField(max_length=32, choices=platform_choices)
    external_id = models.CharField(max_length=255)
    handle = models.CharField(max_length=255, blank=True)
    profile_url = models.URLField(max_length=1000, blank=True, default="", db_default="")

    objects = scoped()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "platform", "external_id"], name="tickets_identity_platform_id_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.handle or self.external_id}"


class AttributeType(models.TextChoices):
    TEXT = "text", pgettext_lazy("a kind of value", "Text")
    NUMBER = "number", pgettext_lazy("a kind of value", "Number")
    DATE = "date", pgettext_lazy("a kind of value", "Date")
    CHOICE = "choice", pgettext_lazy("a kind of value", "Choice")


class ContactAttributeDefinition(models.Model):
    """A custom field the organization keeps on its contacts (membership number, plan, birthday…); the values live
    in `Contact.attributes` under `key`."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.SlugField(_("key"), max_length=60, help_text=_("Used in the API, in CSV files and in rules."))
    label = models.CharField(_("label"), max_length=120)
    type = models.CharField(_("type"), max_length=8, choices=AttributeType.choices, default=AttributeType.TEXT)
    choices = ArrayField(
        models.CharField(max_length=120), verbose_name=_("choices"), default=list, db_default=[], blank=True
    )
    required = models.BooleanField(_("required"), default=False, db_default=False)
    position = models.PositiveSmallIntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="tickets_contactattr_org_key_unique")
        ]

    def __str__(self) -> str:
        return self.label or self.key


class ContactSettings(models.Model):
    """An organization's contact settings (no row: the defaults)."""

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    auto_merge_exact = models.BooleanField(
        _("merge exact matches automatically"),
        default=False,
        db_default=False,
        help_text=_("Contacts with the same email address or phone number become one. Each merge can be undone."),
    )
    merge_undo_days = models.PositiveSmallIntegerField(_("days a merge can be undone"), default=30, db_default=30)
    phone_region = models.CharField(
        _("country of phone numbers without a country code"), max_length=2, default="JP", db_default="JP"
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = scoped()

    def __str__(self) -> str:
        return f"contact settings of {self.organization_id}"


class ContactMerge(models.Model):
    """One merge: `merged` became part of `survivor`. `moved` records exactly what changed (ids of the identities,
    tickets and messages that moved, and the survivor's fields before), so the merge can be undone until
    `undo_until`."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    survivor = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    merged = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    automatic = models.BooleanField(default=False, db_default=False)  # by the exact-match setting, not a person
    reason = models.CharField(max_length=200, blank=True, default="", db_default="")
    moved = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    undo_until = models.DateTimeField()
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = scoped()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.merged_id} → {self.survivor_id}"


class SuggestionStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("a duplicate suggestion", "Open")
    MERGED = "merged", pgettext_lazy("a duplicate suggestion", "Merged")
    DISMISSED = "dismissed", pgettext_lazy("a duplicate suggestion", "Dismissed")


class ContactDuplicateSuggestion(models.Model):
    """Two contacts that are probably one person, for an agent to merge or dismiss (never merged silently). The
    pair is stored once, lower id first; a dismissed pair is not suggested again."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    # What the two have in common, e.g. ["email"], ["phone"], ["name", "email_domain"].
    reasons = ArrayField(models.CharField(max_length=32), default=list, db_default=[])
    score = models.FloatField(default=0, db_default=0)
    status = models.CharField(max_length=10, choices=SuggestionStatus.choices, default=SuggestionStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = scoped()

    class Meta:
        ordering = ["-score", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "contact", "other"], name="tickets_dupsuggestion_pair"),
            models.CheckConstraint(condition=Q(contact__lt=F("other")), name="tickets_dupsuggestion_ordered"),
        ]
        indexes = [
            models.Index(
                fields=["organization", "-score"], condition=Q(status="open"), name="tickets_dupsuggestion_open"
            )
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} ≈ {self.other_id} ({self.status})"


class WebhookEvent(models.TextChoices):
    CONTACT_CREATED = "contact.created", _("Contact created")
    CONTACT_UPDATED = "contact.updated", _("Contact updated")
    CONTACT_MERGED = "contact.merged", _("Contacts merged")


class WebhookSubscription(models.Model):
    """An outgoing webhook: contact events the organization's other systems receive as signed JSON POSTs
    (`X-Tsunagu-Signature`, HMAC-SHA256 with this subscription's secret, as the rule webhooks sign)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    url = models.URLField(_("URL"), max_length=2000)
    events = ArrayField(models.CharField(max_length=40, choices=WebhookEvent.choices), verbose_name=_("events"))
    secret = models.TextField(editable=False)  # Fernet token (core.crypto), never shown after creation
    active = models.BooleanField(_("active"), default=True, db_default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class WebhookDeliveryState(models.TextChoices):
    PENDING = "pending", pgettext_lazy("a webhook delivery", "Pending")
    SUCCEEDED = "succeeded", pgettext_lazy("a webhook delivery", "Delivered")
    FAILED = "failed", pgettext_lazy("a webhook delivery", "Failed")


class WebhookEventDelivery(models.Model):
    """One event sent to one subscription, with its attempts (core.Attempt, the one retry policy): the delivery
    log."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=WebhookDeliveryState.choices, default=WebhookDeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Every attempt of it (core.retry), deleted with it.
    attempt_log = GenericRelation("core.Attempt", content_type_field="subject_type", object_id_field="subject_id")

    objects = scoped()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription_id} ({self.state})"
