from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import UserBriefSerializer
from accounts.models import Team, User
from channels_integrations.models import ChannelConnection
from tickets.models import (
    Attachment,
    CannedResponse,
    CannedResponseVariant,
    Contact,
    Message,
    Priority,
    SavedView,
    Tag,
    Ticket,
    TicketStatus,
)

MAX_BULK_IDS = 500

# --- tickets ----------------------------------------------------------------------------------------------------


class ConnectionBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChannelConnection
        fields = ["id", "platform", "display_name"]


class ContactBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name"]


class TicketSerializer(serializers.ModelSerializer):
    """Expects `selectors.ticket_list` rows: related rows selected, tags prefetched, `preview` annotated."""

    assignee = UserBriefSerializer(read_only=True, allow_null=True)
    team = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    tags = serializers.SerializerMethodField()
    connection = ConnectionBriefSerializer(read_only=True)
    contact = ContactBriefSerializer(read_only=True)
    preview = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "id",
            "number",
            "subject",
            "status",
            "priority",
            "assignee",
            "team",
            "tags",
            "language",
            "sentiment",
            "connection",
            "contact",
            "created_at",
            "updated_at",
            "last_message_at",
            "first_response_due_at",
            "resolution_due_at",
            "preview",
        ]

    def get_tags(self, ticket) -> list[str]:
        return [tag.name for tag in ticket.tags.all()]

    def get_preview(self, ticket) -> str:
        return (getattr(ticket, "preview", None) or "")[:200]


def _member_queryset(organization):
    return User.objects.filter(memberships__organization=organization)


class TicketUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=TicketStatus.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.none(), allow_null=True, required=False, help_text=_("A member's user id, or null.")
    )
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.none(), allow_null=True, required=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=60), max_length=50, required=False, help_text=_("Tag names.")
    )

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        if organization is not None:  # None only while the OpenAPI schema is generated
            self.fields["assignee"].queryset = _member_queryset(organization)
            self.fields["team"].queryset = Team.objects.filter(organization=organization)


class TicketBulkSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=MAX_BULK_IDS, help_text=_("Ticket ids.")
    )
    status = serializers.ChoiceField(choices=TicketStatus.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    assignee = serializers.PrimaryKeyRelatedField(queryset=User.objects.none(), allow_null=True, required=False)
    tags_add = serializers.ListField(
        child=serializers.CharField(max_length=60), min_length=1, max_length=50, required=False
    )

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        if organization is not None:  # None only while the OpenAPI schema is generated
            self.fields["assignee"].queryset = _member_queryset(organization)

    def validate(self, attrs):
        if not {"status", "priority", "assignee", "tags_add"} & set(attrs):
            raise serializers.ValidationError(_("Give at least one of status, priority, assignee or tags_add."))
        return attrs


class TicketBulkResultSerializer(serializers.Serializer):
    updated = serializers.IntegerField()
    not_found = serializers.ListField(child=serializers.IntegerField())


# --- messages ---------------------------------------------------------------------------------------------------


class AttachmentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["filename", "content_type", "size", "url"]

    def get_url(self, attachment) -> str:
        """A stored file's address is the access-checked download (a signed-in member's session; never MEDIA_URL),
        a platform's file its own URL."""
        if not attachment.file:
            return attachment.remote_url
        request = self.context.get("request")
        slug = request.organization.slug if request is not None else attachment.organization.slug
        path = reverse("org:attachment", args=[slug, attachment.pk])
        return request.build_absolute_uri(path) if request is not None else path


class AuthorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[("contact", "contact"), ("user", "user")])
    id = serializers.IntegerField()
    name = serializers.CharField()


class DkimSignatureSerializer(serializers.Serializer):
    domain = serializers.CharField(help_text="the signing domain (d=)")
    selector = serializers.CharField()
    result = serializers.CharField(help_text="pass, fail, neutral, temperror or permerror (RFC 7601)")


class SenderAuthenticationSerializer(serializers.Serializer):
    """Who really sent an inbound email, checked on receipt."""

    verdict = serializers.ChoiceField(
        choices=["pass", "fail", "none"],
        help_text="pass: the From domain is authenticated (aligned DKIM or SPF); fail: DMARC failed; none: unknown",
    )
    from_domain = serializers.CharField()
    dkim = DkimSignatureSerializer(many=True)
    spf = serializers.CharField(help_text="as the mailbox's trusted receiving host reported it; none otherwise")
    spf_domain = serializers.CharField()
    dmarc = serializers.CharField(help_text="pass, fail, none (no record), temperror or permerror")
    policy = serializers.CharField(help_text="the From domain's DMARC policy: none, quarantine, reject or empty")


class MessageSerializer(serializers.ModelSerializer):
    """Expects `selectors.conversation` rows (authors selected, attachments prefetched)."""

    author = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)
    sender_authentication = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id",
            "direction",
            "kind",
            "author",
            "text",
            "platform_message_id",
            "delivery_state",
            "delivery_error",
            "is_public",
            "created_at",
            "edited_at",
            "deleted_at",
            "attachments",
            "sender_authentication",
        ]

    @extend_schema_field(SenderAuthenticationSerializer(allow_null=True))
    def get_sender_authentication(self, message):
        data = message.sender_authentication
        return SenderAuthenticationSerializer(data).data if isinstance(data, dict) else None

    @extend_schema_field(AuthorSerializer(allow_null=True))
    def get_author(self, message):
        if message.author_user_id:
            user = message.author_user
            return {"type": "user", "id": user.pk, "name": user.name or user.email}
        if message.author_contact_id:
            return {"type": "contact", "id": message.author_contact_id, "name": message.author_contact.name}
        return None


class NoteCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=10000)
    mentions = serializers.ListField(
        child=serializers.IntegerField(), required=False, max_length=50, help_text="user ids of colleagues to notify"
    )


class ReplyTemplateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=20, help_text="the template's language code, e.g. ja or en_US")
    parameters = serializers.ListField(
        child=serializers.CharField(max_length=1024),
        required=False,
        default=list,
        max_length=50,
        help_text="the values of the body's {{1}}, {{2}}… in order",
    )


class ReplyCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=100000, allow_blank=True, trim_whitespace=False, required=False, default="")
    public = serializers.BooleanField(default=False, help_text="a public reply (comment) instead of a private one")
    files = serializers.ListField(child=serializers.FileField(), required=False, max_length=10)
    template = ReplyTemplateSerializer(
        required=False,
        help_text="an approved message template instead of text (WhatsApp: the only reply it delivers after 24 hours)",
    )


# --- tags -------------------------------------------------------------------------------------------------------

_COLOR = r"^#[0-9a-fA-F]{6}$"


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "color"]


class TagWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=60)
    color = serializers.RegexField(_COLOR, required=False, help_text=_("#rrggbb"))


# --- canned responses -------------------------------------------------------------------------------------------


class CannedVariantSerializer(serializers.ModelSerializer):
    language = serializers.ChoiceField(choices=settings.LANGUAGES)
    body = serializers.CharField(max_length=10000)

    class Meta:
        model = CannedResponseVariant
        fields = ["language", "body"]


class CannedResponseSerializer(serializers.ModelSerializer):
    shared = serializers.SerializerMethodField()
    variants = CannedVariantSerializer(many=True, read_only=True)

    class Meta:
        model = CannedResponse
        fields = ["id", "title", "shortcut", "shared", "owner", "created_at", "variants"]

    def get_shared(self, canned) -> bool:
        return canned.owner_id is None


class CannedUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=120)
    shortcut = serializers.SlugField(max_length=40)
    variants = CannedVariantSerializer(many=True, allow_empty=False, help_text=_("Replaces every variant."))

    def validate_variants(self, variants):
        # A partial update (PATCH) skips the nested fields' `required`; replacing the variants still needs each whole.
        if any("language" not in v or "body" not in v for v in variants):
            raise serializers.ValidationError(_("Each variant needs a language and a body."))
        languages = [v["language"] for v in variants]
        if len(set(languages)) != len(languages):
            raise serializers.ValidationError(_("Each language may appear only once."))
        return variants


class CannedCreateSerializer(CannedUpdateSerializer):
    shared = serializers.BooleanField(
        default=False, help_text=_("Shared with the organization (needs rules.manage) or personal.")
    )


class CannedRenderQuerySerializer(serializers.Serializer):
    ticket = serializers.PrimaryKeyRelatedField(queryset=Ticket.objects.none())
    language = serializers.CharField(max_length=8, required=False, allow_blank=True)

    def __init__(self, *args, tickets=None, **kwargs):
        super().__init__(*args, **kwargs)
        if tickets is not None:  # None only while the OpenAPI schema is generated
            self.fields["ticket"].queryset = tickets


class CannedRenderSerializer(serializers.Serializer):
    body = serializers.CharField()


# --- saved views ------------------------------------------------------------------------------------------------


class SavedViewSerializer(serializers.ModelSerializer):
    shared = serializers.SerializerMethodField()

    class Meta:
        model = SavedView
        fields = ["id", "name", "filters", "shared", "position", "created_at"]

    def get_shared(self, view) -> bool:
        return view.owner_id is None


class SavedViewUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    filters = serializers.DictField(
        required=False, help_text=_('Inbox filters, e.g. {"status": ["open"], "assignee": "me"}.')
    )
    position = serializers.IntegerField(min_value=0, max_value=100000, required=False)


class SavedViewCreateSerializer(SavedViewUpdateSerializer):
    shared = serializers.BooleanField(default=False, help_text=_("Shared (needs rules.manage) or personal."))
