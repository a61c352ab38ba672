"""REST API intake: `POST .../tickets/` opens a ticket with its first customer message,
`POST .../tickets/<id>/messages/` adds a customer message to a ticket (tickets.services.api_intake). Both honour an
`Idempotency-Key` header: within API_IDEMPOTENCY_KEY_HOURS the same key with the same request answers the first
answer again (same status and body, with `Idempotent-Replayed: true`) and creates nothing; with another request it is
a 422. A retry sent while the first request is still at work waits for it and then gets its answer (409 only after
API_IDEMPOTENCY_WAIT_SECONDS). A request refused by validation (400) stores nothing under its key: corrected, it may
be sent again with the same key.

Asynchronous mode (`Prefer: respond-async`, RFC 7240, on `POST .../tickets/`): the body, permissions and channel are
checked as above (same 400s), then the request is stored as a raw event of the channel and answered at once with 202
Accepted, `Preference-Applied: respond-async` and a `Location` to the status resource `GET .../intake/<id>/`
(received → processed with the ticket and message, or failed). The worker ingests it like a webhook's event, the
customer found or created as the synchronous path does. The Idempotency-Key works the same way (the 202 is
replayed; the event key derives from it, so the request is stored once)."""

import dataclasses
import time

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent
from channels_integrations.permissions import connections_visible_to
from channels_integrations.providers.api.connector import API_EVENT_SOURCE
from channels_integrations.registry import has_connector
from core.api.views import OrgAPIView
from core.errors import DomainError
from tickets.services import api_intake
from tickets.services.contacts import contact_settings, email_normalise, phone_normalise

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string up to 255 characters (a UUID). Retrying with the same key and body within 24 hours "
        "returns the first answer and creates nothing; the same key with another body is refused (422)."
    ),
)

PREFER_HEADER = OpenApiParameter(
    "Prefer",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    enum=["respond-async"],
    description=(
        "respond-async (RFC 7240): the request is validated, stored and answered 202 at once, with a Location of its "
        "intake status; the ticket is created moments later by the same ingest as any inbound message."
    ),
)


class CustomerSerializer(serializers.Serializer):
    """Who writes: at least one of an email address, a phone number, or an account on a platform."""

    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    email = serializers.CharField(max_length=254, required=False, allow_blank=True, default="")
    phone = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default="", help_text="e.g. 090-1234-5678 or +81…"
    )
    platform = serializers.CharField(
        max_length=32, required=False, allow_blank=True, default="", help_text="with external_id: e.g. line, api"
    )
    external_id = serializers.CharField(
        max_length=255, required=False, allow_blank=True, default="", help_text="the customer's id on that platform"
    )

    def validate_email(self, value: str) -> str:
        if not value.strip():
            return ""
        try:
            return email_normalise(value)
        except DomainError as exc:
            raise serializers.ValidationError(exc.message) from None

    def validate_phone(self, value: str) -> str:
        if not value.strip():
            return ""
        try:
            return phone_normalise(value, region=self.context["phone_region"]())
        except DomainError as exc:
            raise serializers.ValidationError(exc.message) from None

    def validate_platform(self, value: str) -> str:
        value = value.strip()
        if value and not has_connector(value):
            raise serializers.ValidationError(_("Unknown platform."))
        return value

    def validate(self, attrs):
        if bool(attrs["platform"]) != bool(attrs["external_id"].strip()):
            raise serializers.ValidationError(
                {"external_id" if attrs["platform"] else "platform": [_("Give both platform and external_id.")]}
            )
        if not (attrs["email"] or attrs["phone"] or attrs["platform"]):
            raise serializers.ValidationError(
                _("Name the customer by email, phone, or platform and external_id."), code="required"
            )
        return attrs


class TicketCreateSerializer(serializers.Serializer):
    connection = serializers.IntegerField(
        required=False, help_text="the channel's id; default: the organization's first API channel"
    )
    customer = CustomerSerializer()
    subject = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    text = serializers.CharField(max_length=20000)


class MessageCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=20000)


class IntakeResultSerializer(serializers.Serializer):
    """What an intake request created or continued."""

    ticket = serializers.IntegerField(help_text="the ticket's id")
    number = serializers.IntegerField()
    status = serializers.CharField()
    connection = serializers.IntegerField()
    contact = serializers.IntegerField()
    message = serializers.IntegerField(help_text="the stored message's id")
    ticket_created = serializers.BooleanField(help_text="false when the message continued an existing ticket")


def _result(intake: api_intake.Intake) -> dict:
    ticket = intake.ticket
    return {
        "ticket": ticket.pk,
        "number": ticket.number,
        "status": ticket.status,
        "connection": ticket.connection_id,
        "contact": ticket.contact_id,
        "message": intake.message.pk,
        "ticket_created": intake.ticket_created,
    }


def intake_connection(membership, connection_id: int | None) -> ChannelConnection:
    """The channel to open the ticket on: the one named (the member must see it), else the first API channel."""
    visible = connections_visible_to(membership)
    if connection_id is None:
        connection = visible.filter(platform=api_intake.API_PLATFORM, status=ConnectionStatus.ACTIVE).order_by("pk")
        connection = connection.first()
        if connection is None:
            raise ValidationError(
                {"connection": [_("Name a channel, or add an API channel in the channels settings first.")]}
            )
        return connection
    connection = visible.filter(pk=connection_id).first()
    if connection is None:
        raise ValidationError({"connection": [_("There is no channel with this id that you can see.")]})
    if connection.status not in (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR):
        raise ValidationError({"connection": [_("This channel is paused or disconnected.")]})
    return connection


def _key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 255 or not key.isprintable():
        raise ValidationError({"Idempotency-Key": [_("Use a key of 1 to 255 printable characters, such as a UUID.")]})
    return key


def _principal(request) -> str:
    token = request.auth if getattr(request.auth, "pk", None) else None
    return f"token:{token.pk}" if token is not None else f"user:{request.user.pk}"


def idempotent_create(view, request, work) -> Response:
    """Answer `work()` (the body of a 201) once per Idempotency-Key, in one transaction with the key."""
    key = _key(request)
    if key is None:
        with transaction.atomic():
            return Response(work(), status=201)
    principal = _principal(request)
    fingerprint = api_intake.request_fingerprint(request.method, request.path, request.data)
    organization = view.organization
    with transaction.atomic():
        replay = api_intake.idempotency_claim(
            organization=organization, principal=principal, key=key, fingerprint=fingerprint
        )
        if replay is not None:
            status, body = replay
            response = Response(body, status=status)
            response["Idempotent-Replayed"] = "true"
            return response
        body = work()
        api_intake.idempotency_complete(organization=organization, principal=principal, key=key, status=201, body=body)
    return Response(body, status=201)


def _flat(errors, prefix: str = "") -> dict:
    """Nested serializer errors as one level of dotted field names ("customer.email"), as the error shape has."""
    flat = {}
    for name, value in errors.items():
        key = f"{prefix}{name}" if name != "non_field_errors" or not prefix else prefix.rstrip(".")
        if isinstance(value, dict):
            flat.update(_flat(value, f"{key}."))
        else:
            flat.setdefault(key, []).extend(value)
    return flat


def ticket_create(view, request) -> Response:
    """POST .../tickets/."""
    organization = view.organization
    region = []

    def phone_region() -> str:  # read only when a number is given
        if not region:
            region.append(contact_settings(organization).phone_region)
        return region[0]

    data = TicketCreateSerializer(data=request.data, context={"phone_region": phone_region})
    if not data.is_valid():
        raise ValidationError(_flat(data.errors))
    connection = intake_connection(view.membership, data.validated_data.get("connection"))
    customer = api_intake.Customer(**data.validated_data["customer"])
    if prefers_async(request):
        api_intake.customer_author_check(connection, customer)
        response = accept_async(view, request, connection, customer, data.validated_data)
        if response.status_code == 202 and not response.has_header("Idempotent-Replayed"):
            context_remember(view, request, connection, data.validated_data.get("connection"), region)
        return response

    def work() -> dict:
        return _result(
            api_intake.ticket_open(
                organization=organization,
                actor=request.user,
                connection=connection,
                customer=customer,
                text=data.validated_data["text"],
                subject=data.validated_data["subject"],
            )
        )

    return idempotent_create(view, request, work)


def message_create(view, request, ticket) -> Response:
    """POST .../tickets/<id>/messages/."""
    data = MessageCreateSerializer(data=request.data)
    data.is_valid(raise_exception=True)

    def work() -> dict:
        return _result(
            api_intake.ticket_message_add(
                organization=view.organization, actor=request.user, ticket=ticket, text=data.validated_data["text"]
            )
        )

    return idempotent_create(view, request, work)


# --- asynchronous mode ------------------------------------------------------------------------------------------


def prefers_async(request) -> bool:
    """`Prefer: respond-async` (RFC 7240: comma-separated preferences, each maybe with parameters after `;`)."""
    header = request.headers.get("Prefer", "")
    return any(part.split(";", 1)[0].strip().lower() == "respond-async" for part in header.split(","))


def _accepted(view, body: dict, *, replayed: bool = False) -> Response:
    response = Response(body, status=202)
    response["Preference-Applied"] = "respond-async"
    response["Location"] = view.request.build_absolute_uri(
        reverse("api:intake-status", args=[view.organization.slug, body["id"]])
    )
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def accept_async(view, request, connection: ChannelConnection, customer, validated: dict) -> Response:
    """Store the validated request for the worker and answer 202 with its status (once per Idempotency-Key)."""
    organization = view.organization
    key = _key(request)
    principal = _principal(request)
    with transaction.atomic():
        if key is not None:
            replay = api_intake.idempotency_claim(
                organization=organization,
                principal=principal,
                key=key,
                fingerprint=api_intake.request_fingerprint(request.method, request.path, request.data),
            )
            if replay is not None:
                status, body = replay
                if status != 202:  # the first request was answered synchronously: that answer stands
                    response = Response(body, status=status)
                    response["Idempotent-Replayed"] = "true"
                    return response
                return _accepted(view, body, replayed=True)
        event = api_intake.ticket_open_later(
            organization=organization,
            actor=request.user,
            connection=connection,
            customer=customer,
            text=validated["text"],
            subject=validated["subject"],
            event_key=api_intake.intake_event_key(principal=principal, key=key),
        )
        body = api_intake.intake_status(event)
        if key is not None:
            api_intake.idempotency_complete(
                organization=organization, principal=principal, key=key, status=202, body=body
            )
    return _accepted(view, body)


class IntakeStatusSerializer(serializers.Serializer):
    """What became of a request accepted with `Prefer: respond-async`."""

    id = serializers.IntegerField(help_text="the accepted request's id")
    status = serializers.ChoiceField(choices=["received", "processed", "failed"])
    ticket = serializers.IntegerField(allow_null=True, help_text="the ticket's id, once processed")
    message = serializers.IntegerField(allow_null=True, help_text="the stored message's id, once processed")


class IntakeStatusView(OrgAPIView):
    """GET .../intake/<id>/: the status of a ticket creation accepted with `Prefer: respond-async` (the `Location`
    of its 202). Seen by the members who see its channel."""

    serializer_class = IntakeStatusSerializer

    def get(self, request, org_slug, event_id):
        event = get_object_or_404(
            InboundEvent.objects.only("pk", "connection_id", "event_key", "status").filter(
                source=API_EVENT_SOURCE, connection__in=connections_visible_to(self.membership)
            ),
            pk=event_id,
        )
        return Response(api_intake.intake_status(event))


# --- what the thin path may assume (tickets/api/intake_asgi.py) --------------------------------------------------
# A request this full path accepted (202) leaves what it established for the caller — the token, organization and
# member, the channel it chose, the phone region it read — for the thin ASGI path, which then accepts the caller's
# next requests without Django's middleware and DRF. The thin path checks all of it again in the statement that
# stores each request (api_intake.AcceptGate), so a revoked token, a removed member, a lost grant or a paused channel
# take effect at once; what it keeps here only saves the lookups. An entry lives CONTEXT_SECONDS, then the full path
# runs again (and with it the token's last-used time, updated at most once a minute).
CONTEXT_SECONDS = 60.0
CONTEXT_MAX_ENTRIES = 1000


@dataclasses.dataclass
class IntakeContext:
    """One caller on one organization (by token digest, organization slug and whether the request came over HTTPS)."""

    gate: api_intake.AcceptGate
    principal: str
    expires: float
    # The channel per requested id (None: the default one), each with just what the thin path reads.
    connections: dict[int | None, ChannelConnection] = dataclasses.field(default_factory=dict)
    phone_region: str | None = None
    # The headers the full stack's middleware gave this caller's 202 (recorded by the ASGI path), so the thin path's
    # 202 has the same ones.
    headers: list[tuple[bytes, bytes]] | None = None


_contexts: dict[tuple[str, str, bool], IntakeContext] = {}


def context_key(key_hash: str, slug: str, secure: bool) -> tuple[str, str, bool]:
    return (key_hash, slug, secure)


def context_for(key: tuple[str, str, bool]) -> IntakeContext | None:
    """The caller's context while it lives and once its headers are known, else None (the full path answers)."""
    context = _contexts.get(key)
    if context is None or context.headers is None:
        return None
    if context.expires <= time.monotonic():
        _contexts.pop(key, None)
        return None
    return context


def context_remember(view, request, connection: ChannelConnection, requested: int | None, region: list) -> None:
    token = request.auth if getattr(request.auth, "pk", None) else None
    if token is None:  # a signed-in session: the thin path serves API tokens only
        return
    organization = view.organization
    key = context_key(token.key_hash, organization.slug, request.is_secure())
    context = _contexts.get(key)
    if context is None or context.expires <= time.monotonic() or context.gate.token_id != token.pk:
        if len(_contexts) >= CONTEXT_MAX_ENTRIES:
            _contexts.clear()  # bounded; a forgotten caller only takes the full path once more
        context = IntakeContext(
            gate=api_intake.AcceptGate(
                token_id=token.pk, user_id=token.user_id, organization_id=organization.pk, slug=organization.slug
            ),
            principal=_principal(request),
            expires=time.monotonic() + CONTEXT_SECONDS,
        )
        _contexts[key] = context
    context.connections[requested] = ChannelConnection(
        pk=connection.pk,
        organization_id=connection.organization_id,
        uuid=connection.uuid,
        platform=connection.platform,
        display_name=connection.display_name,
        status=connection.status,
    )
    if region:
        context.phone_region = region[0]


def context_headers_record(key: tuple[str, str, bool], headers: list[tuple[bytes, bytes]]) -> None:
    context = _contexts.get(key)
    if context is not None and context.headers is None:
        context.headers = headers


def context_forget(key: tuple[str, str, bool]) -> None:
    _contexts.pop(key, None)


def contexts_forget() -> None:
    """Forget every caller's context (tests)."""
    _contexts.clear()
