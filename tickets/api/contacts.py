"""Contacts API (issue 21): contacts (list with filters, create, read, edit), their identities, merges and their
undo, duplicate suggestions, custom attribute definitions, contact settings, and the outgoing webhook subscriptions
for contact events. Privacy actions (export, erase) are in tickets/api/privacy.py.

Same conventions as tickets/api/views.py: TenantMiddleware has checked membership and activated the scope;
`required_capabilities` gates each method; every contact lookup starts from `selectors.visible_contacts(membership)`,
so a contact the member may not see is a 404 exactly like a missing one (merging needs both contacts visible)."""

from django.db.models import Prefetch, Q, QuerySet, Value
from django.db.models.functions import Coalesce, NullIf
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.roles import Capability
from channels_integrations.permissions import connections_visible_to
from core.api.pagination import CreatedCursorPagination
from core.api.views import OrgAPIView, OrgListAPIView
from core.errors import DomainError
from tickets import selectors
from tickets.models import (
    AttributeType,
    Contact,
    ContactAttributeDefinition,
    ContactDuplicateSuggestion,
    ContactIdentity,
    ContactMerge,
    WebhookEvent,
    WebhookEventDelivery,
    WebhookSubscription,
)
from tickets.search import filter_matching
from tickets.services import contact_matching, contact_merge, contact_webhooks, contacts
from tickets.services.contacts import email_normalise, phone_normalise

# --- serializers --------------------------------------------------------------------------------------------------


class IdentitySerializer(serializers.ModelSerializer):
    class Meta:
        model = ContactIdentity
        fields = ["id", "platform", "external_id", "handle", "profile_url"]


class IdentityWriteSerializer(serializers.Serializer):
    platform = serializers.CharField(max_length=32)
    external_id = serializers.CharField(max_length=255)
    handle = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    profile_url = serializers.URLField(max_length=1000, required=False, allow_blank=True, default="")


class ContactFullSerializer(serializers.ModelSerializer):
    """A contact with its identities (on the platforms of the channels the member sees)."""

    identities = IdentitySerializer(many=True, read_only=True)
    locale = serializers.CharField(source="language", read_only=True, help_text="the same as `language`")

    class Meta:
        model = Contact
        fields = [
            "id",
            "name",
            "reading",
            "avatar_url",
            "email",
            "emails",
            "phones",
            "company",
            "language",
            "locale",
            "timezone",
            "notes",
            "vip",
            "tags",
            "attributes",
            "consent_marketing",
            "consent_survey",
            "consent_updated_at",
            "last_seen_at",
            "created_at",
            "updated_at",
            "identities",
        ]


class ContactWriteSerializer(serializers.Serializer):
    """What POST and PATCH accept; the services check and normalise the values (addresses lower-cased, numbers in
    E.164, custom attributes against their definitions) and answer a bad one with a field error."""

    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    reading = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="in katakana or hiragana; stored in katakana"
    )
    avatar_url = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    emails = serializers.ListField(child=serializers.CharField(max_length=254), required=False, max_length=20)
    phones = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        max_length=20,
        help_text="as people write them (03-1234-5678, ０９０…, +81 90…); stored in E.164",
    )
    company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    language = serializers.CharField(max_length=16, required=False, allow_blank=True)
    timezone = serializers.CharField(max_length=64, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    vip = serializers.BooleanField(required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=60), required=False, max_length=50)
    attributes = serializers.DictField(required=False, help_text="custom attribute key → value; null removes one")
    consent_marketing = serializers.BooleanField(required=False)
    consent_survey = serializers.BooleanField(required=False)


class MergeRequestSerializer(serializers.Serializer):
    other = serializers.IntegerField(help_text="the contact merged into this one (this one survives)")


MOVED = ("identities", "tickets", "messages")


class MergeSerializer(serializers.ModelSerializer):
    moved = serializers.SerializerMethodField()
    undoable = serializers.SerializerMethodField()

    class Meta:
        model = ContactMerge
        fields = [
            "id",
            "survivor",
            "merged",
            "actor",
            "automatic",
            "reason",
            "created_at",
            "undo_until",
            "undone_at",
            "undone_by",
            "undoable",
            "moved",
        ]

    @extend_schema_field(
        {"type": "object", "properties": {k: {"type": "integer"} for k in ("identities", "tickets", "messages")}}
    )
    def get_moved(self, merge) -> dict:
        return {name: len(merge.moved.get(name, [])) for name in MOVED}

    def get_undoable(self, merge) -> bool:
        return merge.undone_at is None and merge.undo_until >= timezone.now()


class SuggestedContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name", "reading", "email", "phones", "company", "avatar_url"]


class SuggestionSerializer(serializers.ModelSerializer):
    contact = SuggestedContactSerializer(read_only=True)
    other = SuggestedContactSerializer(read_only=True)

    class Meta:
        model = ContactDuplicateSuggestion
        fields = ["id", "contact", "other", "reasons", "score", "status", "created_at"]


class SuggestionMergeSerializer(serializers.Serializer):
    survivor = serializers.IntegerField(
        required=False, help_text="which of the two contacts survives (default: the older one)"
    )


class AttributeDefinitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContactAttributeDefinition
        fields = ["id", "key", "label", "type", "choices", "required", "position"]


class AttributeDefinitionWriteSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=60, required=False)
    label = serializers.CharField(max_length=120, required=False)
    type = serializers.ChoiceField(choices=AttributeType.choices, required=False)
    choices = serializers.ListField(child=serializers.CharField(max_length=120), required=False, max_length=200)
    required = serializers.BooleanField(required=False)
    position = serializers.IntegerField(min_value=0, max_value=32767, required=False)


class ContactSettingsSerializer(serializers.Serializer):
    auto_merge_exact = serializers.BooleanField(
        required=False, help_text="merge contacts with the same email address or phone number automatically"
    )
    merge_undo_days = serializers.IntegerField(min_value=1, max_value=365, required=False)
    phone_region = serializers.CharField(
        max_length=2, required=False, help_text="country of numbers written without a country code (JP)"
    )


class SubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "events", "active", "created_at"]


class SubscriptionCreatedSerializer(SubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="the signing secret, shown this once")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class SubscriptionWriteSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), required=False, max_length=10
    )
    active = serializers.BooleanField(required=False)


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEventDelivery
        fields = ["id", "event", "state", "attempts", "last_status_code", "last_error", "payload", "created_at"]


# --- reads --------------------------------------------------------------------------------------------------------


def contact_rows(membership) -> QuerySet[Contact]:
    """Visible contacts shaped for ContactFullSerializer: identities on the platforms the member sees."""
    identities = ContactIdentity.objects.order_by("platform", "id")
    if not membership.has(Capability.TICKETS_VIEW_ALL):
        # A member sees the customer's accounts on the platforms of the channels they see, not the others.
        identities = identities.filter(
            platform__in=sorted(set(connections_visible_to(membership).values_list("platform", flat=True)))
        )
    return (
        selectors.visible_contacts(membership)
        .defer("search_vector")
        .prefetch_related(Prefetch("identities", queryset=identities))
    )


def _flag(value: str | None) -> bool | None:
    return {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}.get((value or "").lower())


class ContactNameCursorPagination(CreatedCursorPagination):
    """Contacts by name: by the reading (フリガナ) where one is known, since kanji do not sort by sound."""

    ordering = ("sort_name", "id")


# --- contacts -----------------------------------------------------------------------------------------------------


class ContactListView(OrgListAPIView):
    serializer_class = ContactFullSerializer
    required_capabilities = {"POST": Capability.TICKETS_WORK}

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="name, reading (kana or kanji), handle, email, phone or company"),
            OpenApiParameter("email", str, description="exactly this address (in any case)"),
            OpenApiParameter("phone", str, description="exactly this number (in any usual format)"),
            OpenApiParameter("tag", str, description="contacts with this tag"),
            OpenApiParameter("vip", bool),
            OpenApiParameter("platform", str, description="contacts with an identity on this platform"),
            OpenApiParameter("consent_marketing", bool),
            OpenApiParameter("consent_survey", bool),
            OpenApiParameter("ordering", str, enum=["created", "name"], description="newest first or by name"),
        ]
    )
    def get(self, request, org_slug):
        return self.list(request)

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            by_name = self.request.query_params.get("ordering") == "name"
            self._paginator = ContactNameCursorPagination() if by_name else CreatedCursorPagination()
        return self._paginator

    def get_queryset(self):
        params = self.request.query_params
        rows = contact_rows(self.membership).annotate(sort_name=Coalesce(NullIf("reading", Value("")), "name"))
        q = params.get("q", "").strip()[:200]
        if q:
            rows = filter_matching(rows, q)
        if params.get("email"):
            try:
                rows = rows.filter(emails__contains=[email_normalise(params["email"])])
            except DomainError:
                rows = rows.none()
        if params.get("phone"):
            region = contacts.contact_settings(self.organization).phone_region
            try:
                rows = rows.filter(phones__contains=[phone_normalise(params["phone"], region=region)])
            except DomainError:
                rows = rows.none()
        if params.get("tag"):
            rows = rows.filter(tags__contains=[params["tag"][:60]])
        if params.get("platform"):
            rows = rows.filter(identities__platform=params["platform"][:32]).distinct()
        for name in ("vip", "consent_marketing", "consent_survey"):
            flag = _flag(params.get(name))
            if flag is not None:
                rows = rows.filter(**{name: flag})
        return rows

    @extend_schema(request=ContactWriteSerializer, responses={201: ContactFullSerializer})
    def post(self, request, org_slug):
        data = ContactWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        contact = contacts.contact_create(organization=self.organization, actor=request.user, **data.validated_data)
        # A contact typed in has no ticket yet: returned as created (the creator may not see it in lists without
        # `tickets.view_all`).
        return Response(
            self.get_serializer(contact_rows_unfiltered().get(pk=contact.pk)).data, status=status.HTTP_201_CREATED
        )


def contact_rows_unfiltered() -> QuerySet[Contact]:
    return Contact.objects.defer("search_vector").prefetch_related(
        Prefetch("identities", queryset=ContactIdentity.objects.order_by("platform", "id"))
    )


class ContactMixin:
    def get_contact(self) -> Contact:
        return get_object_or_404(contact_rows(self.membership), pk=self.kwargs["contact_id"])


class ContactDetailView(ContactMixin, OrgAPIView):
    serializer_class = ContactFullSerializer
    required_capabilities = {"PATCH": Capability.TICKETS_WORK}

    def get(self, request, org_slug, contact_id):
        return Response(self.get_serializer(self.get_contact()).data)

    @extend_schema(request=ContactWriteSerializer)
    def patch(self, request, org_slug, contact_id):
        contact = self.get_contact()
        data = ContactWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        contacts.contact_update(
            organization=self.organization, contact=contact, actor=request.user, **data.validated_data
        )
        return Response(self.get_serializer(self.get_contact()).data)


class ContactIdentitiesView(ContactMixin, OrgAPIView):
    serializer_class = IdentitySerializer
    pagination_class = None  # a short plain list
    required_capabilities = {"POST": Capability.TICKETS_WORK}

    @extend_schema(responses=IdentitySerializer(many=True), operation_id="orgs_contacts_identities_list")
    def get(self, request, org_slug, contact_id):
        contact = self.get_contact()
        return Response(self.get_serializer(contact.identities.order_by("platform", "id"), many=True).data)

    @extend_schema(request=IdentityWriteSerializer, responses={201: IdentitySerializer})
    def post(self, request, org_slug, contact_id):
        contact = self.get_contact()
        data = IdentityWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        identity = contacts.contact_identity_add(
            organization=self.organization, actor=request.user, contact=contact, **data.validated_data
        )
        return Response(self.get_serializer(identity).data, status=status.HTTP_201_CREATED)


class ContactIdentityDetailView(ContactMixin, OrgAPIView):
    serializer_class = IdentitySerializer
    required_capabilities = {"DELETE": Capability.TICKETS_WORK}

    def delete(self, request, org_slug, contact_id, identity_id):
        contact = self.get_contact()
        identity = get_object_or_404(ContactIdentity.objects.filter(contact=contact), pk=identity_id)
        contacts.contact_identity_remove(organization=self.organization, actor=request.user, identity=identity)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactMergeView(ContactMixin, OrgAPIView):
    """Merge another contact into this one (this one survives)."""

    serializer_class = MergeSerializer
    required_capabilities = {"POST": Capability.TICKETS_WORK}

    @extend_schema(request=MergeRequestSerializer, responses={201: MergeSerializer})
    def post(self, request, org_slug, contact_id):
        survivor = self.get_contact()
        data = MergeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        other = get_object_or_404(contact_rows(self.membership), pk=data.validated_data["other"])
        merge = contact_merge.contact_merge(
            organization=self.organization,
            actor=request.user,
            survivor=survivor,
            merged=other,
            request=request._request,
        )
        return Response(self.get_serializer(merge).data, status=status.HTTP_201_CREATED)


class ContactMergesView(ContactMixin, OrgAPIView):
    """The merges into this contact, newest first (each with whether it can still be undone)."""

    serializer_class = MergeSerializer
    pagination_class = None  # the newest hundred, a plain list

    @extend_schema(responses=MergeSerializer(many=True), operation_id="orgs_contacts_merges_list")
    def get(self, request, org_slug, contact_id):
        contact = self.get_contact()
        merges = ContactMerge.objects.filter(survivor=contact).order_by("-created_at", "-id")[:100]
        return Response(self.get_serializer(merges, many=True).data)


class MergeUndoView(OrgAPIView):
    serializer_class = MergeSerializer
    required_capabilities = {"POST": Capability.TICKETS_WORK}

    @extend_schema(request=None)
    def post(self, request, org_slug, merge_id):
        merge = get_object_or_404(ContactMerge.objects.all(), pk=merge_id)
        # The member must see the survivor (which holds the merged contact's tickets until the undo).
        get_object_or_404(contact_rows(self.membership), pk=merge.survivor_id)
        merge = contact_merge.contact_merge_undo(
            organization=self.organization, actor=request.user, merge=merge, request=request._request
        )
        return Response(self.get_serializer(merge).data)


# --- duplicate suggestions ------------------------------------------------------------------------------------------


class SuggestionCursorPagination(CreatedCursorPagination):
    ordering = ("-score", "-id")


class SuggestionListView(OrgListAPIView):
    """Open suggestions of probable duplicates whose two contacts the member may see, best first."""

    serializer_class = SuggestionSerializer
    pagination_class = SuggestionCursorPagination

    def get_queryset(self):
        visible = selectors.visible_contacts(self.membership)
        return contact_matching.suggestions_open().filter(contact__in=visible, other__in=visible)


class SuggestionMixin:
    def get_suggestion(self) -> ContactDuplicateSuggestion:
        visible = selectors.visible_contacts(self.membership)
        return get_object_or_404(
            ContactDuplicateSuggestion.objects.filter(Q(contact__in=visible) & Q(other__in=visible)).select_related(
                "contact", "other"
            ),
            pk=self.kwargs["suggestion_id"],
        )


class SuggestionMergeView(SuggestionMixin, OrgAPIView):
    serializer_class = MergeSerializer
    required_capabilities = {"POST": Capability.TICKETS_WORK}

    @extend_schema(request=SuggestionMergeSerializer, responses={201: MergeSerializer})
    def post(self, request, org_slug, suggestion_id):
        suggestion = self.get_suggestion()
        data = SuggestionMergeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        survivor_id = data.validated_data.get("survivor", suggestion.contact_id)
        if survivor_id not in (suggestion.contact_id, suggestion.other_id):
            raise DomainError(_("The survivor must be one of the two contacts."), field="survivor")
        survivor, merged = (
            (suggestion.contact, suggestion.other)
            if survivor_id == suggestion.contact_id
            else (suggestion.other, suggestion.contact)
        )
        merge = contact_merge.contact_merge(
            organization=self.organization,
            actor=request.user,
            survivor=survivor,
            merged=merged,
            request=request._request,
        )
        return Response(self.get_serializer(merge).data, status=status.HTTP_201_CREATED)


class SuggestionDismissView(SuggestionMixin, OrgAPIView):
    serializer_class = SuggestionSerializer
    required_capabilities = {"POST": Capability.TICKETS_WORK}

    @extend_schema(request=None)
    def post(self, request, org_slug, suggestion_id):
        suggestion = contact_matching.suggestion_dismiss(
            organization=self.organization, actor=request.user, suggestion=self.get_suggestion()
        )
        return Response(self.get_serializer(suggestion).data)


# --- custom attributes and settings -------------------------------------------------------------------------------


class AttributeListView(OrgAPIView):
    serializer_class = AttributeDefinitionSerializer
    pagination_class = None  # a short plain list
    required_capabilities = {"POST": Capability.ORG_MANAGE}

    @extend_schema(responses=AttributeDefinitionSerializer(many=True), operation_id="orgs_contact_attributes_list")
    def get(self, request, org_slug):
        return Response(self.get_serializer(ContactAttributeDefinition.objects.all(), many=True).data)

    @extend_schema(request=AttributeDefinitionWriteSerializer, responses={201: AttributeDefinitionSerializer})
    def post(self, request, org_slug):
        data = AttributeDefinitionWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "key" not in values or "label" not in values:
            raise DomainError(_("Give the field a key and a label."), field="key" if "key" not in values else "label")
        definition = contacts.contact_attribute_define(
            organization=self.organization, actor=request.user, request=request._request, **values
        )
        return Response(self.get_serializer(definition).data, status=status.HTTP_201_CREATED)


class AttributeDetailView(OrgAPIView):
    serializer_class = AttributeDefinitionSerializer
    required_capabilities = {"PATCH": Capability.ORG_MANAGE, "DELETE": Capability.ORG_MANAGE}

    def get_object(self):
        return get_object_or_404(ContactAttributeDefinition.objects.all(), pk=self.kwargs["attribute_id"])

    def get(self, request, org_slug, attribute_id):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=AttributeDefinitionWriteSerializer)
    def patch(self, request, org_slug, attribute_id):
        data = AttributeDefinitionWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = {k: v for k, v in data.validated_data.items() if k in ("label", "choices", "required", "position")}
        definition = contacts.contact_attribute_update(
            organization=self.organization,
            actor=request.user,
            definition=self.get_object(),
            request=request._request,
            **values,
        )
        return Response(self.get_serializer(definition).data)

    def delete(self, request, org_slug, attribute_id):
        contacts.contact_attribute_delete(
            organization=self.organization, actor=request.user, definition=self.get_object(), request=request._request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactSettingsView(OrgAPIView):
    serializer_class = ContactSettingsSerializer
    required_capabilities = {"PATCH": Capability.ORG_MANAGE}

    def _data(self, row) -> dict:
        return {
            "auto_merge_exact": row.auto_merge_exact,
            "merge_undo_days": row.merge_undo_days,
            "phone_region": row.phone_region,
        }

    def get(self, request, org_slug):
        return Response(self._data(contacts.contact_settings(self.organization)))

    def patch(self, request, org_slug):
        data = ContactSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        row = contacts.contact_settings_update(
            organization=self.organization, actor=request.user, request=request._request, **data.validated_data
        )
        return Response(self._data(row))


# --- outgoing webhooks --------------------------------------------------------------------------------------------


class SubscriptionListView(OrgAPIView):
    serializer_class = SubscriptionSerializer
    pagination_class = None  # a short plain list
    required_capabilities = {"GET": Capability.ORG_MANAGE, "POST": Capability.ORG_MANAGE}

    @extend_schema(responses=SubscriptionSerializer(many=True), operation_id="orgs_contact_webhooks_list")
    def get(self, request, org_slug):
        return Response(self.get_serializer(WebhookSubscription.objects.all(), many=True).data)

    @extend_schema(request=SubscriptionWriteSerializer, responses={201: SubscriptionCreatedSerializer})
    def post(self, request, org_slug):
        data = SubscriptionWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription, secret = contact_webhooks.webhook_subscription_create(
            organization=self.organization,
            actor=request.user,
            url=data.validated_data.get("url", ""),
            events=data.validated_data.get("events", []),
            request=request._request,
        )
        subscription.secret = secret  # the plain secret for this one answer, never stored in clear
        return Response(SubscriptionCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED)


class SubscriptionDetailView(OrgAPIView):
    serializer_class = SubscriptionSerializer
    required_capabilities = {
        "GET": Capability.ORG_MANAGE,
        "PATCH": Capability.ORG_MANAGE,
        "DELETE": Capability.ORG_MANAGE,
    }

    def get_object(self):
        return get_object_or_404(WebhookSubscription.objects.all(), pk=self.kwargs["subscription_id"])

    def get(self, request, org_slug, subscription_id):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=SubscriptionWriteSerializer)
    def patch(self, request, org_slug, subscription_id):
        data = SubscriptionWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        subscription = contact_webhooks.webhook_subscription_update(
            organization=self.organization,
            actor=request.user,
            subscription=self.get_object(),
            request=request._request,
            **data.validated_data,
        )
        return Response(self.get_serializer(subscription).data)

    def delete(self, request, org_slug, subscription_id):
        contact_webhooks.webhook_subscription_delete(
            organization=self.organization, actor=request.user, subscription=self.get_object(), request=request._request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryListView(OrgListAPIView):
    """The subscription's deliveries, newest first: what was sent, how it went."""

    serializer_class = DeliverySerializer
    required_capabilities = {"GET": Capability.ORG_MANAGE}

    def get_queryset(self):
        subscription = get_object_or_404(WebhookSubscription.objects.all(), pk=self.kwargs["subscription_id"])
        return WebhookEventDelivery.objects.filter(subscription=subscription)

    def get(self, request, org_slug, subscription_id):
        return self.list(request)
