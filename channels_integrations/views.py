"""The Channels settings pages (`/<org>/settings/channels/...`): connect accounts (the platform's OAuth flow, or a
form for mailboxes), see each connection's health, pause, resume, disconnect, decide who sees its tickets, and
inspect and replay dead-letter events. Everything here needs `channels.manage`; every change is audit-logged by
the services."""

import base64
import hashlib
import logging
import secrets
from datetime import UTC, datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.module_loading import import_string
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from requests_oauthlib import OAuth2Session

from accounts import services as account_services
from accounts.models import Membership, Organization, Team, User
from accounts.permissions import require_capability
from accounts.roles import Capability
from accounts.tenancy import organization_scope
from channels_integrations import services
from channels_integrations.connector import AccountChoice, ConnectorError
from channels_integrations.forms import AccessForm, RenameForm
from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent, InboundEventStatus
from channels_integrations.registry import all_connectors, connector_for, has_connector
from channels_integrations.rejections import rejections_of
from core import crypto
from core.errors import DomainError
from core.views import actor_kwargs, unconfirmed

logger = logging.getLogger("tsunagu.channels")

OAUTH_SESSION_KEY = "channels_oauth"
CHOICES_SESSION_KEY = "channels_oauth_choices"
OPEN_EVENTS = [InboundEventStatus.RECEIVED, InboundEventStatus.RETRYING, InboundEventStatus.DEAD]


def _connection(connection_id: int) -> ChannelConnection:
    return get_object_or_404(ChannelConnection.objects.all(), pk=connection_id)


@require_GET
@require_capability(Capability.CHANNELS_MANAGE)
def channel_list(request, org_slug):
    connections = ChannelConnection.objects.annotate(
        waiting=Count(
            "inbound_events",
            filter=Q(inbound_events__status__in=[InboundEventStatus.RECEIVED, InboundEventStatus.RETRYING]),
        ),
        dead=Count("inbound_events", filter=Q(inbound_events__status=InboundEventStatus.DEAD)),
    ).order_by("platform", "display_name")
    connectors = all_connectors()
    return render(
        request,
        "channels_integrations/channel_list.html",
        {
            "connections": list(connections),
            "oauth_platforms": {c.platform for c in connectors if c.connects_with_oauth},
            "form_platforms": {c.platform for c in connectors if c.connect_form},
            # OAuth flows first (they bring several accounts at once), then forms.
            "connect_options": sorted(
                (c for c in connectors if c.connect_label), key=lambda c: (not c.connects_with_oauth, c.platform)
            ),
        },
    )


@require_http_methods(["GET", "POST"])
@require_capability(Capability.CHANNELS_MANAGE)
def channel_detail(request, org_slug, connection_id):
    connection = _connection(connection_id)
    from guardian.shortcuts import get_groups_with_perms, get_users_with_perms

    rename = RenameForm(
        request.POST if request.POST.get("form") == "rename" else None,
        initial={"display_name": connection.display_name},
    )
    users = User.objects.filter(pk__in=Membership.objects.values("user_id")).order_by("name", "email")
    access = AccessForm(
        request.POST if request.POST.get("form") == "access" else None,
        users=users,
        teams=Team.objects.order_by("name"),
        initial={
            "users": list(
                get_users_with_perms(connection, only_with_perms_in=["view_channelconnection"], with_group_users=False)
            ),
            "teams": list(Team.objects.filter(group__in=get_groups_with_perms(connection))),
        },
    )
    status = 200
    if request.method == "POST":
        try:
            if request.POST.get("form") == "rename" and rename.is_valid():
                services.connection_rename(
                    connection=connection, display_name=rename.cleaned_data["display_name"], **actor_kwargs(request)
                )
                messages.success(request, _("Channel renamed."))
                return redirect("org:channel_detail", org_slug=org_slug, connection_id=connection.pk)
            if request.POST.get("form") == "access" and access.is_valid():
                account_services.connection_access_set(
                    connection=connection,
                    users=list(access.cleaned_data["users"]),
                    teams=list(access.cleaned_data["teams"]),
                    **actor_kwargs(request),
                )
                messages.success(request, _("Access saved."))
                return redirect("org:channel_detail", org_slug=org_slug, connection_id=connection.pk)
        except DomainError as exc:
            messages.error(request, exc.message)
        status = 400
    events = list(
        InboundEvent.objects.filter(connection=connection, status__in=OPEN_EVENTS)
        .prefetch_related("attempt_log")
        .order_by("-received_at")[:50]
    )
    for event in events:
        event.preview = bytes(event.payload)[:4000].decode("utf-8", "replace")
    recent = list(InboundEvent.objects.filter(connection=connection).defer("payload").order_by("-received_at")[:20])
    connector = connector_for(connection.platform) if has_connector(connection.platform) else None
    webhook_url = ""
    if connector and connector.receives_webhooks and not connector.app_level_webhook:
        webhook_url = f"{settings.SITE_URL}/webhooks/{connection.platform}/{connection.uuid}/"
    rejected, rejected_at = rejections_of(connection.pk)
    return render(
        request,
        "channels_integrations/channel_detail.html",
        {
            "connection": connection,
            "account_facts": _account_facts(connector, connection),
            "rejected": rejected,
            "rejected_at": datetime.fromtimestamp(rejected_at, tz=UTC) if rejected_at else None,
            "rename": rename,
            "access": access,
            "events": events,
            "recent": recent,
            "webhook_url": webhook_url,
            "polls": connector_for(connection.platform).polls,
        },
        status=status,
    )


def _account_facts(connector, connection) -> list[tuple[str, str]]:
    """What the platform reports about the account (LINE: the monthly message quota). A platform that cannot answer
    now leaves the facts out rather than failing the page; connectors cache their answers briefly."""
    if connector is None or connection.status == ConnectionStatus.DISCONNECTED:
        return []
    try:
        return connector.account_facts(connection)
    except ConnectorError as exc:
        logger.info("no account facts for connection %s: %s", connection.pk, exc.message or exc)
        return []


@require_POST
@require_capability(Capability.CHANNELS_MANAGE)
def channel_status(request, org_slug, connection_id):
    connection = _connection(connection_id)
    if request.POST.get("status") == ConnectionStatus.DISCONNECTED:
        asked = unconfirmed(
            request,
            question=_("Disconnect %(name)s?") % {"name": connection.display_name},
            detail=_("Its stored credentials are deleted; its tickets stay. Connect the account again to resume."),
            action=_("Disconnect"),
            cancel_url=reverse("org:channels", args=[org_slug]),
        )
        if asked:
            return asked
    try:
        services.connection_set_status(
            connection=connection, status=request.POST.get("status", ""), **actor_kwargs(request)
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("%(name)s: %(status)s.")
            % {"name": connection.display_name, "status": ConnectionStatus(request.POST["status"]).label},
        )
    return redirect("org:channels", org_slug=org_slug)


@require_POST
@require_capability(Capability.CHANNELS_MANAGE)
def channel_poll_now(request, org_slug, connection_id):
    connection = _connection(connection_id)
    try:
        when = services.connection_poll_now(organization=request.organization, connection=connection)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if when is None:
            messages.success(request, _("Checking %(name)s now.") % {"name": connection.display_name})
        else:
            messages.info(
                request,
                _("%(name)s will be checked at %(time)s: the server asked to wait.")
                % {"name": connection.display_name, "time": date_format(localtime(when), "SHORT_DATETIME_FORMAT")},
            )
    return redirect("org:channel_detail", org_slug=org_slug, connection_id=connection.pk)


@require_POST
@require_capability(Capability.CHANNELS_MANAGE)
def channel_event_replay(request, org_slug, connection_id, event_id):
    connection = _connection(connection_id)
    event = get_object_or_404(InboundEvent.objects.filter(connection=connection), pk=event_id)
    try:
        services.event_replay(event=event, **actor_kwargs(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The event was queued again."))
    return redirect("org:channel_detail", org_slug=org_slug, connection_id=connection.pk)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.CHANNELS_MANAGE)
def channel_connect_form(request, org_slug, platform):
    """Connect an account with its connector's form (`Connector.connect_form`); what must be copied now (an inbound
    token) is shown once on the page that answers the POST."""
    if not has_connector(platform) or not connector_for(platform).connect_form:
        raise Http404
    connector = connector_for(platform)
    form_class = import_string(connector.connect_form)
    form = form_class(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        try:
            connection = services.connection_connect(choice=form.account_choice(), **actor_kwargs(request))
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            context = {"connection": connection, "form": form, "shown_once": form.shown_once(connection)}
            return render(request, "channels_integrations/connect_done.html", context)
    return render(
        request,
        "channels_integrations/connect_form.html",
        {"form": form, "connector": connector},
        status=400 if form.errors else 200,
    )


# --- OAuth ------------------------------------------------------------------------------------------------------


def _redirect_uri(platform: str) -> str:
    return f"{settings.SITE_URL}/oauth/{platform}/callback/"


@require_GET
@require_capability(Capability.CHANNELS_MANAGE)
def channel_connect(request, org_slug):
    """Start a platform's OAuth flow. A link, not a form: the browser then follows the redirect to the platform's
    dialog, which a form submission may not do under the Content-Security-Policy's `form-action 'self'`. Starting a
    flow changes nothing; the `state` kept in the session protects the callback."""
    platform = request.GET.get("platform", "")
    if not has_connector(platform) or not connector_for(platform).connects_with_oauth:
        return HttpResponseBadRequest(_("Choose a channel to connect."))
    oauth = connector_for(platform).oauth_settings()
    session = OAuth2Session(
        oauth.client_id, redirect_uri=_redirect_uri(platform), scope=oauth.scope_separator.join(oauth.scopes)
    )
    extra = dict(oauth.extra_authorization_params)
    pending = {"org": org_slug, "platform": platform}
    if oauth.pkce:
        pending["code_verifier"] = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]: RFC 7636 §4.1
        extra |= {"code_challenge": pkce_challenge(pending["code_verifier"]), "code_challenge_method": "S256"}
    url, state = session.authorization_url(oauth.authorization_url, **extra)
    request.session[OAUTH_SESSION_KEY] = {"state": state, **pending}
    return redirect(url)


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 §4.2, S256: BASE64URL(SHA256(ASCII(code_verifier))) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@login_required
@require_GET
def oauth_callback(request, platform):
    """The platform sends the admin back here (one registered redirect URI per platform, for every organization):
    the state in the session says which organization asked."""
    pending = request.session.pop(OAUTH_SESSION_KEY, None)
    if (
        not pending
        or pending.get("platform") != platform
        or not secrets.compare_digest(str(pending.get("state", "")), request.GET.get("state", ""))
    ):
        logger.warning("oauth callback with an unknown state for %s from user %s", platform, request.user.pk)
        return HttpResponseBadRequest(
            _(
                "This sign-in link has expired or was not started here. "
                "Start connecting again from the Channels settings."
            )
        )
    organization = Organization.objects.filter(slug=pending["org"]).first()
    if organization is None:
        raise Http404
    with organization_scope(organization):
        membership = Membership.objects.select_related("role").filter(user=request.user).first()
        if membership is None or not membership.has(Capability.CHANNELS_MANAGE):
            raise Http404
        back = reverse("org:channels", kwargs={"org_slug": organization.slug})
        if request.GET.get("error"):
            logger.info(
                "oauth for %s declined: %s", platform, request.GET.get("error_description", request.GET["error"])
            )
            messages.error(
                request,
                _("The platform did not grant access: %(reason)s")
                % {"reason": request.GET.get("error_description") or request.GET["error"]},
            )
            return redirect(back)
        connector = connector_for(platform)
        oauth = connector.oauth_settings()
        session = OAuth2Session(oauth.client_id, redirect_uri=_redirect_uri(platform), state=pending["state"])
        try:
            pkce = {"code_verifier": pending["code_verifier"]} if oauth.pkce else {}
            token = session.fetch_token(
                oauth.token_url,
                client_secret=oauth.client_secret,
                authorization_response=f"{settings.SITE_URL}{request.get_full_path()}",
                # Without the client id in the body, requests-oauthlib sends the credentials as HTTP Basic.
                include_client_id=not oauth.client_auth_basic,
                **pkce,
            )
            choices = connector.oauth_accounts(dict(token))
        except Exception as exc:  # ConnectorError, and oauthlib's and requests' own error classes
            logger.warning("oauth token exchange for %s failed: %s", platform, exc)
            messages.error(
                request, _("Connecting failed: %(error)s") % {"error": getattr(exc, "message", "") or str(exc)}
            )
            return redirect(back)
        request.session[CHOICES_SESSION_KEY] = {
            "org": organization.slug,
            "choices": crypto.encrypt_json(
                {
                    "items": [
                        {
                            "platform": c.platform,
                            "id": c.external_account_id,
                            "name": c.display_name,
                            "credentials": c.credentials,
                            "expires": c.token_expires_at.isoformat() if c.token_expires_at else None,
                            "config": c.config,
                        }
                        for c in choices
                    ]
                }
            ),
        }
        return redirect("org:channel_choose", org_slug=organization.slug)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.CHANNELS_MANAGE)
def channel_choose(request, org_slug):
    from datetime import datetime

    stored = request.session.get(CHOICES_SESSION_KEY)
    if not stored or stored.get("org") != org_slug:
        return redirect("org:channels", org_slug=org_slug)
    items = crypto.decrypt_json(stored["choices"])["items"]
    connected = set(
        ChannelConnection.objects.exclude(status=ConnectionStatus.DISCONNECTED).values_list(
            "platform", "external_account_id"
        )
    )
    if request.method == "POST":
        chosen = set(request.POST.getlist("account"))
        added = 0
        for item in items:
            if f"{item['platform']}:{item['id']}" not in chosen:
                continue
            choice = AccountChoice(
                platform=item["platform"],
                external_account_id=item["id"],
                display_name=item["name"],
                credentials=item["credentials"],
                token_expires_at=datetime.fromisoformat(item["expires"]) if item["expires"] else None,
                config=item.get("config") or {},  # e.g. how the account's events arrive (X: webhook or polling)
            )
            try:
                services.connection_connect(choice=choice, **actor_kwargs(request))
                added += 1
            except DomainError as exc:
                messages.error(request, exc.message)
        request.session.pop(CHOICES_SESSION_KEY, None)
        if added:
            messages.success(
                request, ngettext("%(n)d channel connected.", "%(n)d channels connected.", added) % {"n": added}
            )
        return redirect("org:channels", org_slug=org_slug)
    for item in items:
        item["key"] = f"{item['platform']}:{item['id']}"
        item["connected"] = (item["platform"], item["id"]) in connected
    return render(request, "channels_integrations/channel_choose.html", {"items": items})
