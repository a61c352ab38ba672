"""Tickets API: tickets, their conversation and notes, contacts, tags, canned responses and saved views.

Same conventions as the organization API (accounts.api.views): TenantMiddleware has checked membership and activated
the organization's scope; `required_capabilities` gates each method; views parse, then call selectors and services.
Every ticket lookup starts from `selectors.visible_tickets(membership)`, so a ticket of a channel the member may not
see is a 404 exactly like a missing one, and a contact is visible only through such a ticket.

Lists are cursor-paginated (`cursor`, `page_size` up to 200) except tags-by-name (also a cursor) and saved views (a
plain list: a member has a handful). The conversation (`tickets/<id>/messages/`) is cursor-paginated oldest first.
Contacts, their identities, merges and suggestions: tickets/api/contacts.py.
"""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from accounts.models import Membership
from accounts.roles import Capability
from channels_integrations.connector import TemplateChoice
from core.api.pagination import CreatedCursorPagination
from core.api.views import OrgAPIView, OrgListAPIView
from tickets import canned, saved_views, selectors, tags
from tickets.api import intake
from tickets.api import serializers as s
from tickets.models import CannedResponse, SavedView, Tag, TicketStatus
from tickets.services import replies
from tickets.services.changes import ticket_update, tickets_bulk_update
from tickets.services.notes import note_add

# --- pagination -------------------------------------------------------------------------------------------------

# The inbox's sorts that a cursor can page through correctly: the first key is never NULL (every ticket gets
# `last_message_at` in the same transaction that creates it) and practically unique. "priority" and "due" are not
# (four priority values; due dates are often empty), so the API refuses them rather than page them wrongly.
CURSOR_SORTS = {
    "recent": ("-last_message_at", "-id"),
    "oldest": ("last_message_at", "id"),
    "created": ("-created_at", "-id"),
}


class TicketCursorPagination(CreatedCursorPagination):
    """The ticket list in the order of its `sort` (default: most recent activity first)."""

    ordering = CURSOR_SORTS["recent"]

    def get_ordering(self, request, queryset, view):
        return CURSOR_SORTS.get(selectors.TicketFilter.from_query(request.query_params).sort, self.ordering)


class MessageCursorPagination(CreatedCursorPagination):
    """The conversation, oldest first."""

    ordering = ("created_at", "id")


class TagCursorPagination(CreatedCursorPagination):
    """Tags by name (unique in an organization)."""

    ordering = ("name", "id")


# --- tickets ----------------------------------------------------------------------------------------------------

EVERY_STATUS = selectors.TicketFilter(statuses=tuple(TicketStatus.values))


def ticket_rows(membership: Membership) -> QuerySet:
    """Visible tickets of any status, shaped for TicketSerializer (same query as the list's rows)."""
    return selectors.ticket_list(membership, EVERY_STATUS)


TICKET_FILTER_PARAMETERS = [
    OpenApiParameter("view", str, enum=list(selectors.VIEWS)),
    OpenApiParameter("status", str, many=True, enum=TicketStatus.values, description="default: the active ones"),
    OpenApiParameter("platform", str),
    OpenApiParameter("connection", int),
    OpenApiParameter("priority", str),
    OpenApiParameter("assignee", str, description='"me", "none" or a user id'),
    OpenApiParameter("team", int),
    OpenApiParameter("tag", str, description="tag name"),
    OpenApiParameter("sentiment", str),
    OpenApiParameter("since", OpenApiTypes.DATE, description="last activity on or after"),
    OpenApiParameter("until", OpenApiTypes.DATE, description="last activity on or before"),
    OpenApiParameter("q", str, description="full-text search (Japanese and English)"),
    OpenApiParameter("sort", str, enum=list(CURSOR_SORTS)),
]


class TicketListView(OrgListAPIView):
    """The inbox's ticket list with its filters (unknown filter values are ignored, as in the inbox). POST opens a
    ticket with its customer's first message (REST API intake: tickets/api/intake.py)."""

    serializer_class = s.TicketSerializer
    pagination_class = TicketCursorPagination
    required_capabilities = {"POST": Capability.TICKETS_WORK}

    @extend_schema(parameters=TICKET_FILTER_PARAMETERS)
    def get(self, request, org_slug):
        return self.list(request)

    @extend_schema(
        request=intake.TicketCreateSerializer,
        responses={201: intake.IntakeResultSerializer, 202: intake.IntakeStatusSerializer},
        parameters=[intake.IDEMPOTENCY_HEADER, intake.PREFER_HEADER],
    )
    def post(self, request, org_slug):
        return intake.ticket_create(self, request)

    def get_queryset(self):
        filters = selectors.TicketFilter.from_query(self.request.query_params)
        if filters.sort not in CURSOR_SORTS:
            raise ValidationError({"sort": [_("The API pages by recent, oldest or created.")]})
        return selectors.ticket_list(self.membership, filters)


class TicketDetailView(OrgAPIView):
    serializer_class = s.TicketSerializer
    required_capabilities = {"PATCH": Capability.TICKETS_WORK}

    def get_object(self):
        return get_object_or_404(ticket_rows(self.membership), pk=self.kwargs["ticket_id"])

    def get(self, request, org_slug, ticket_id):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=s.TicketUpdateSerializer)
    def patch(self, request, org_slug, ticket_id):
        ticket = self.get_object()
        data = s.TicketUpdateSerializer(data=request.data, organization=self.organization)
        data.is_valid(raise_exception=True)
        ticket_update(organization=self.organization, actor=request.user, ticket=ticket, **data.validated_data)
        return Response(self.get_serializer(self.get_object()).data)


class TicketBulkView(OrgAPIView):
    """Apply the same change to many tickets; tickets the member may not see are not touched (`not_found`)."""

    serializer_class = s.TicketBulkSerializer
    required_capabilities = {"POST": Capability.TICKETS_WORK}

    @extend_schema(request=s.TicketBulkSerializer, responses=s.TicketBulkResultSerializer)
    def post(self, request, org_slug):
        data = s.TicketBulkSerializer(data=request.data, organization=self.organization)
        data.is_valid(raise_exception=True)
        change = dict(data.validated_data)
        ids = list(dict.fromkeys(change.pop("ids")))
        found = tickets_bulk_update(
            organization=self.organization, actor=request.user, membership=self.membership, ids=ids, **change
        )
        found_ids = set(found)
        return Response({"updated": len(found), "not_found": [pk for pk in ids if pk not in found_ids]})


def _visible_ticket(view, ticket_id: int):
    return get_object_or_404(selectors.visible_tickets(view.membership), pk=ticket_id)


class TicketMessagesView(OrgListAPIView):
    """The conversation (customer messages, replies and private notes), oldest first. POST adds a message from the
    ticket's customer, as if it had come through the channel (REST API intake: tickets/api/intake.py)."""

    serializer_class = s.MessageSerializer
    pagination_class = MessageCursorPagination
    required_capabilities = {"POST": Capability.TICKETS_WORK}

    def get(self, request, org_slug, ticket_id):
        return self.list(request)

    @extend_schema(
        request=intake.MessageCreateSerializer,
        responses={201: intake.IntakeResultSerializer},
        parameters=[intake.IDEMPOTENCY_HEADER],
    )
    def post(self, request, org_slug, ticket_id):
        ticket = get_object_or_404(
            selectors.visible_tickets(self.membership).select_related("connection"), pk=ticket_id
        )
        return intake.message_create(self, request, ticket)

    def get_queryset(self):
        return selectors.conversation(_visible_ticket(self, self.kwargs["ticket_id"]))


class TicketNotesView(OrgAPIView):
    """Add a private note (never sent to the customer); @mentions notify members."""

    serializer_class = s.MessageSerializer
    required_capabilities = {"POST": Capability.TICKETS_WORK}

    @extend_schema(request=s.NoteCreateSerializer, responses={201: s.MessageSerializer})
    def post(self, request, org_slug, ticket_id):
        ticket = _visible_ticket(self, ticket_id)
        data = s.NoteCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = note_add(
            organization=self.organization,
            actor=request.user,
            ticket=ticket,
            text=data.validated_data["text"],
            mention_ids=data.validated_data.get("mentions", []),
        )
        note = selectors.conversation(ticket).get(pk=note.pk)
        return Response(self.get_serializer(note).data, status=status.HTTP_201_CREATED)


class TicketRepliesView(OrgAPIView):
    """Reply to the customer through the ticket's channel. Platform rules (length, reply window, attachment types)
    are checked first: a reply that breaks one is a 400 with the reason. The reply is stored as `queued`, sent in
    the background, and its `delivery_state` moves to `sent`/`delivered` or `failed` (with `delivery_error`)."""

    serializer_class = s.MessageSerializer
    parser_classes = [JSONParser, MultiPartParser]
    required_capabilities = {"POST": Capability.TICKETS_WORK}

    @extend_schema(request=s.ReplyCreateSerializer, responses={201: s.MessageSerializer})
    def post(self, request, org_slug, ticket_id):
        ticket = _visible_ticket(self, ticket_id)
        data = s.ReplyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = replies.message_reply(
            organization=self.organization,
            actor=request.user,
            ticket=ticket,
            text=data.validated_data["text"],
            public=data.validated_data["public"],
            files=data.validated_data.get("files") or [],
            template=_template_choice(data.validated_data.get("template")),
        )
        message = selectors.conversation(ticket).get(pk=message.pk)
        return Response(self.get_serializer(message).data, status=status.HTTP_201_CREATED)


def _template_choice(template: dict | None) -> TemplateChoice | None:
    if not template:
        return None
    return TemplateChoice(
        name=template["name"], language=template["language"], parameters=tuple(template.get("parameters") or ())
    )


# --- tags -------------------------------------------------------------------------------------------------------


class TagListView(OrgListAPIView):
    serializer_class = s.TagSerializer
    pagination_class = TagCursorPagination
    required_capabilities = {"POST": Capability.TICKETS_WORK}

    def get_queryset(self):
        return Tag.objects.all()

    @extend_schema(request=s.TagWriteSerializer, responses={201: s.TagSerializer})
    def post(self, request, org_slug):
        data = s.TagWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tag = tags.tag_create(organization=self.organization, actor=request.user, **data.validated_data)
        return Response(self.get_serializer(tag).data, status=status.HTTP_201_CREATED)


class TagDetailView(OrgAPIView):
    serializer_class = s.TagSerializer
    required_capabilities = {"PATCH": Capability.RULES_MANAGE, "DELETE": Capability.RULES_MANAGE}

    def get_object(self):
        return get_object_or_404(Tag.objects.all(), pk=self.kwargs["tag_id"])

    @extend_schema(request=s.TagWriteSerializer)
    def patch(self, request, org_slug, tag_id):
        tag = self.get_object()
        data = s.TagWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        tag = tags.tag_update(
            organization=self.organization, actor=request.user, tag=tag, request=request, **data.validated_data
        )
        return Response(self.get_serializer(tag).data)

    def delete(self, request, org_slug, tag_id):
        tags.tag_delete(organization=self.organization, actor=request.user, tag=self.get_object(), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- canned responses -------------------------------------------------------------------------------------------


class CannedWriteMixin:
    def canned_kwargs(self) -> dict:
        return {
            "organization": self.organization,
            "actor": self.request.user,
            "actor_membership": self.membership,
            "request": self.request,
        }


class CannedListView(CannedWriteMixin, OrgListAPIView):
    """Shared canned responses and the caller's personal ones. Creating a shared one needs `rules.manage`, a
    personal one `tickets.work`."""

    serializer_class = s.CannedResponseSerializer

    def get_queryset(self):
        return canned.canned_for(self.membership)

    @extend_schema(request=s.CannedCreateSerializer, responses={201: s.CannedResponseSerializer})
    def post(self, request, org_slug):
        if not (self.membership.has(Capability.TICKETS_WORK) or self.membership.has(Capability.RULES_MANAGE)):
            self.permission_denied(request)
        data = s.CannedCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = canned.canned_response_create(**self.canned_kwargs(), **data.validated_data)
        created = self.get_queryset().get(pk=created.pk)
        return Response(self.get_serializer(created).data, status=status.HTTP_201_CREATED)


class CannedDetailView(CannedWriteMixin, OrgAPIView):
    """Shared ones are changed with `rules.manage`; personal ones only by their owner (others get a 404)."""

    serializer_class = s.CannedResponseSerializer

    def get_object(self) -> CannedResponse:
        return get_object_or_404(canned.canned_for(self.membership), pk=self.kwargs["canned_id"])

    def get_writable_object(self) -> CannedResponse:
        obj = self.get_object()
        if not canned.can_manage(self.membership, shared=obj.owner_id is None, owner_id=obj.owner_id):
            self.permission_denied(self.request)
        return obj

    def get(self, request, org_slug, canned_id):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=s.CannedUpdateSerializer)
    def patch(self, request, org_slug, canned_id):
        obj = self.get_writable_object()
        data = s.CannedUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        canned.canned_response_update(**self.canned_kwargs(), canned=obj, **data.validated_data)
        return Response(self.get_serializer(self.get_object()).data)

    def delete(self, request, org_slug, canned_id):
        canned.canned_response_delete(**self.canned_kwargs(), canned=self.get_writable_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class CannedRenderView(OrgAPIView):
    """The body with its placeholders filled for a ticket, in `language` if the response has that variant, else in
    the ticket's language, else the organization's default language, else its first variant."""

    serializer_class = s.CannedRenderSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("ticket", int, required=True),
            OpenApiParameter("language", str, description='e.g. "ja"'),
        ]
    )
    def get(self, request, org_slug, canned_id):
        obj = get_object_or_404(canned.canned_for(self.membership), pk=canned_id)
        tickets = selectors.visible_tickets(self.membership).select_related("contact", "organization")
        query = s.CannedRenderQuerySerializer(data=request.query_params, tickets=tickets)
        query.is_valid(raise_exception=True)
        ticket = query.validated_data["ticket"]
        variant = canned.pick_variant(obj, language=query.validated_data.get("language", ""), ticket=ticket)
        body = canned.render_canned(variant.body, ticket=ticket, agent=request.user) if variant else ""
        return Response(self.get_serializer({"body": body}).data)


# --- saved views ------------------------------------------------------------------------------------------------


class SavedViewWriteMixin:
    def view_kwargs(self) -> dict:
        return {"organization": self.organization, "actor": self.request.user, "actor_membership": self.membership}


class SavedViewListView(SavedViewWriteMixin, OrgListAPIView):
    """Shared views and the caller's own (a plain list, in their order). Anyone may save a personal view; a shared
    one needs `rules.manage`."""

    serializer_class = s.SavedViewSerializer
    pagination_class = None

    def get_queryset(self):
        return saved_views.saved_views_for(self.membership)

    @extend_schema(request=s.SavedViewCreateSerializer, responses={201: s.SavedViewSerializer})
    def post(self, request, org_slug):
        data = s.SavedViewCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        view = saved_views.saved_view_create(**self.view_kwargs(), **data.validated_data)
        return Response(self.get_serializer(view).data, status=status.HTTP_201_CREATED)


class SavedViewDetailView(SavedViewWriteMixin, OrgAPIView):
    """The caller's own views, or shared ones with `rules.manage`; another member's personal view is a 404."""

    serializer_class = s.SavedViewSerializer

    def get_object(self) -> SavedView:
        view = get_object_or_404(saved_views.saved_views_for(self.membership), pk=self.kwargs["view_id"])
        if not saved_views.can_manage(self.membership, view):
            self.permission_denied(self.request)
        return view

    @extend_schema(request=s.SavedViewUpdateSerializer)
    def patch(self, request, org_slug, view_id):
        view = self.get_object()
        data = s.SavedViewUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        view = saved_views.saved_view_update(**self.view_kwargs(), view=view, **data.validated_data)
        return Response(self.get_serializer(view).data)

    def delete(self, request, org_slug, view_id):
        saved_views.saved_view_delete(**self.view_kwargs(), view=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
