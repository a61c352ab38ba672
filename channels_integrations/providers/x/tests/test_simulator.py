"""The X connector against the simulator's API over loopback: connecting through the OAuth dialog with PKCE, refresh
with rotating tokens, polling (since_id, pagination, rate-limit pauses), Account Activity webhooks into tickets (a
mention, a DM with an image, a delete, a redelivery), replies through the real send task (public reply and DM, each
delivered once) and X's errors."""

import json
import re
import time
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client
from django.utils import translation
from django_scopes import scopes_disabled

from channels_integrations import services
from channels_integrations.connector import (
    AccountChoice,
    AuthFailed,
    OutboundMessage,
    RateLimited,
    SendRejected,
)
from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent
from channels_integrations.providers.x import simulator as sim_x
from channels_integrations.providers.x.connector import XConnector
from channels_integrations.providers.x.simulator import ACCOUNT_ID

CUSTOMER = "2000000000000000001"


@pytest.fixture
def x(simulator, settings):
    settings.X_API_URL = simulator.base_url
    settings.X_AUTHORIZE_URL = f"{simulator.base_url}/i/oauth2/authorize"
    settings.X_CLIENT_ID = sim_x.CLIENT_ID
    settings.X_CLIENT_SECRET = sim_x.CLIENT_SECRET
    settings.X_CONSUMER_SECRET = sim_x.CONSUMER_SECRET
    settings.X_WEBHOOK_ID = ""
    part = simulator.parts["x"]
    part.async_echoes = False  # the test thread delivers them: part.flush_echoes()
    client = Client()
    part.http_get = lambda url: _Answer(client.get(urlsplit(url).path, parse_qs(urlsplit(url).query)))
    return part


class _Answer:
    """A Django test response seen as a requests response (the simulator's CRC call)."""

    def __init__(self, response):
        self.status_code = response.status_code
        self._response = response

    def json(self):
        return self._response.json()


def connect(tenant, x, *, mode: str = "polling", expires_in: int = 7200) -> ChannelConnection:
    token = x.grant_token(expires_in=expires_in)
    choice = AccountChoice(
        platform="x",
        external_account_id=ACCOUNT_ID,
        display_name="@tsunagu_demo",
        credentials={"access_token": token["access_token"], "refresh_token": token["refresh_token"]},
        token_expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        config={"mode": mode},
    )
    with tenant.scope():
        return services.connection_connect(organization=tenant.organization, actor=tenant.users["owner"], choice=choice)


def poll(tenant, connection) -> int:
    with tenant.scope():
        ChannelConnection.objects.filter(pk=connection.pk).update(next_poll_at=None)
        return services.connection_poll(organization=tenant.organization, connection_id=connection.pk)


# --- connecting and refreshing ----------------------------------------------------------------------------------


def test_an_account_is_connected_through_the_oauth_dialog_with_pkce(tenant_a, login, x):
    client = login(tenant_a.users["owner"])
    started = client.get(f"/{tenant_a.slug}/settings/channels/connect/", {"platform": "x"})
    assert started.status_code == 302
    location = started["Location"]
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(f"{x.sim.base_url}/i/oauth2/authorize?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["scope"] == ["tweet.read tweet.write users.read dm.read dm.write offline.access media.write"]
    dialog = requests.get(location, timeout=10)
    href = unescape(re.search(r'id="continue" href="([^"]+)"', dialog.text).group(1))
    callback = client.get(f"{urlsplit(href).path}?{urlsplit(href).query}")
    assert callback["Location"] == f"/{tenant_a.slug}/settings/channels/choose/"
    assert client.post(callback["Location"], {"account": [f"x:{ACCOUNT_ID}"]}).status_code == 302
    with tenant_a.scope():
        connection = ChannelConnection.objects.get(platform="x")
    assert connection.display_name == "@tsunagu_demo" and connection.status == ConnectionStatus.ACTIVE
    assert connection.config["mode"] == "polling"  # no Account Activity webhook registered (X_WEBHOOK_ID)
    assert connection.credentials["refresh_token"] in x.refresh  # offline.access granted a refresh token
    assert timedelta(minutes=110) < connection.token_expires_at - datetime.now(UTC) <= timedelta(hours=2)


def test_the_token_exchange_refuses_a_verifier_that_does_not_match_the_challenge(x):
    challenge = sim_x.s256("the-right-verifier-" + "v" * 30)
    dialog = requests.get(
        f"{x.sim.base_url}/i/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": sim_x.CLIENT_ID,
            "redirect_uri": "https://app.example/cb",
            "scope": "tweet.read offline.access",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        timeout=10,
    )
    code = parse_qs(urlsplit(unescape(re.search(r'id="continue" href="([^"]+)"', dialog.text).group(1))).query)
    answer = requests.post(
        f"{x.sim.base_url}/2/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code["code"][0],
            "redirect_uri": "https://app.example/cb",
            "code_verifier": "a-wrong-verifier-" + "w" * 30,
        },
        auth=(sim_x.CLIENT_ID, sim_x.CLIENT_SECRET),
        timeout=10,
    )
    assert answer.status_code == 400 and "code verifier" in answer.json()["error_description"]


def test_refresh_stores_the_rotated_refresh_token_and_a_spent_one_needs_reauthorization(tenant_a, x):
    connection = connect(tenant_a, x, expires_in=30 * 60)  # within the refresh margin
    first_refresh = connection.credentials["refresh_token"]
    with tenant_a.scope():
        assert services.connection_refresh_credentials(organization=tenant_a.organization, connection_id=connection.pk)
        connection.refresh_from_db()
    rotated = connection.credentials["refresh_token"]
    assert rotated != first_refresh and first_refresh in x.used_refresh and rotated in x.refresh
    assert connection.token_expires_at > datetime.now(UTC) + timedelta(minutes=110)
    # The new access token works; a token far from expiry is left alone
    assert XConnector().author_profiles(connection, [ACCOUNT_ID])[ACCOUNT_ID].handle == "tsunagu_demo"
    with tenant_a.scope():
        assert not services.connection_refresh_credentials(
            organization=tenant_a.organization, connection_id=connection.pk
        )
        # A refresh token spent elsewhere (or revoked) cannot be used: the connection says so, never silently
        creds = {**connection.credentials, "refresh_token": first_refresh}
        connection.set_credentials(creds)
        connection.token_expires_at = datetime.now(UTC) + timedelta(minutes=5)
        connection.save()
        assert not services.connection_refresh_credentials(
            organization=tenant_a.organization, connection_id=connection.pk
        )
        connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_REAUTH and "invalid" in connection.last_error


# --- polling ----------------------------------------------------------------------------------------------------


def test_polling_follows_since_id_and_pages_and_stores_each_item_once(tenant_a, x, django_capture_on_commit_callbacks):
    from tickets.models import Message

    connection = connect(tenant_a, x)
    first = x.mention(text="最初の投稿です")
    with django_capture_on_commit_callbacks(execute=True):
        assert poll(tenant_a, connection) == 1
    connection.refresh_from_db()
    assert connection.poll_cursor["mentions"] == {"since_id": first["id"]}
    # Five new mentions and three DMs arrive; pages hold two items
    x.page_size_cap = 2
    mentions = [x.mention(text=f"質問 {n}", author_id=f"20000000000000001{n}") for n in range(5)]
    dms = [x.dm(text=f"DM {n}") for n in range(3)]
    stored = 0
    for _round in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            stored += poll(tenant_a, connection)
        connection.refresh_from_db()
    assert stored == 8
    assert connection.poll_cursor["mentions"] == {"since_id": mentions[-1]["id"]}
    assert connection.poll_cursor["dm"] == {"last": dms[-1]["id"]}
    mention_calls = [c["params"] for c in x.calls if c["path"].endswith("/mentions")]
    assert all(c["since_id"] == [first["id"]] for c in mention_calls[1:4]) and "pagination_token" in mention_calls[2]
    with django_capture_on_commit_callbacks(execute=True):
        assert poll(tenant_a, connection) == 0
    with tenant_a.scope():
        assert InboundEvent.objects.filter(connection=connection).count() == 9
        assert (
            Message.objects.filter(kind="mention").count() == 6 and Message.objects.filter(kind="direct").count() == 3
        )
        hanako = Message.objects.filter(kind="direct").first().ticket.contact
    assert hanako.name == "山田 花子"


def test_a_rate_limited_endpoint_waits_for_its_reset_while_the_other_goes_on(tenant_a, x):
    connection = connect(tenant_a, x)
    x.mention(text="429 のテスト")
    x.dm(text="DM は届く")
    x.force("mentions", 429)
    assert poll(tenant_a, connection) == 1  # the DM
    connection.refresh_from_db()
    paused_until = connection.poll_cursor["paused"]["mentions"]
    assert paused_until > time.time() + 60 and "mentions" not in connection.poll_cursor
    with translation.override("en"):
        facts = dict(XConnector().account_facts(connection))
    assert "Rate limit reached" in str(facts["Mentions"]) and "Direct messages" not in facts
    # While paused, the mentions endpoint is not called at all
    calls = len([c for c in x.calls if c["path"].endswith("/mentions")])
    poll(tenant_a, connection)
    assert len([c for c in x.calls if c["path"].endswith("/mentions")]) == calls
    # Both windows spent: the connection waits for the earlier reset
    x.used["dm_events"] = [time.time(), sim_x.LIMITS["dm_events"]]
    assert poll(tenant_a, connection) == 0
    with tenant_a.scope():
        connection.refresh_from_db()
    assert connection.next_poll_at > datetime.now(UTC) + timedelta(minutes=5)


def test_remaining_zero_pauses_before_x_has_to_answer_429(tenant_a, x):
    connection = connect(tenant_a, x)
    x.used["dm_events"] = [time.time(), sim_x.LIMITS["dm_events"] - 1]  # the next call spends the window
    poll(tenant_a, connection)
    connection.refresh_from_db()
    assert connection.poll_cursor["paused"]["dm"] > time.time() + 60
    statuses_before = len([c for c in x.calls if c["path"] == "/2/dm_events"])
    poll(tenant_a, connection)
    assert len([c for c in x.calls if c["path"] == "/2/dm_events"]) == statuses_before


def test_a_webhook_mode_account_is_never_polled(tenant_a, x, subscribed):
    connection = subscribed
    x.mention(text="push only")
    assert XConnector().poll(connection, {}).events == []
    assert not [c for c in x.calls if c["path"].endswith("/mentions")]


# --- Account Activity webhooks ----------------------------------------------------------------------------------


@pytest.fixture
def subscribed(tenant_a, x, settings):
    settings.X_WEBHOOK_ID = sim_x.WEBHOOK_ID
    connection = connect(tenant_a, x, mode="webhook")
    assert ACCOUNT_ID in x.subscriptions  # on_connect subscribed the account
    assert x.register_webhook()  # X's CRC call, answered by /webhooks/x/
    return connection


def test_mentions_dms_with_images_and_deletes_arrive_by_webhook(
    tenant_a, x, subscribed, django_capture_on_commit_callbacks
):
    from tickets.models import Attachment, Message

    with django_capture_on_commit_callbacks(execute=True):
        tweet = x.mention(text="返品について教えてください")
        x.dm(text="写真を送ります", image=sim_x.PIXEL)
    with tenant_a.scope():
        mention = Message.objects.get(kind="mention")
        dm = Message.objects.get(kind="direct")
        assert mention.platform_message_id == tweet["id"] and mention.is_public
        assert mention.ticket.external_thread_key == f"mentions:{CUSTOMER}"
        attachment = Attachment.objects.get(message=dm)
        assert attachment.file.read() == sim_x.PIXEL and attachment.content_type == "image/png"
    assert [c["path"] for c in x.calls if c["path"].startswith("/dm_media/")]  # fetched with the account's token
    # The same POST delivered again is stored once
    event = {"user_has_blocked": False, "tweet_create_events": [x._v1_tweet(tweet["id"], CUSTOMER, tweet["text"])]}
    with django_capture_on_commit_callbacks(execute=True):
        assert x._push(ACCOUNT_ID, event) == 200
    with tenant_a.scope():
        assert Message.objects.filter(kind="mention").count() == 1
        assert InboundEvent.objects.filter(event_key=tweet["id"]).count() == 1
    # The customer deletes the post
    with django_capture_on_commit_callbacks(execute=True):
        x.delete(tweet["id"])
    with tenant_a.scope():
        mention.refresh_from_db()
        assert mention.deleted_at is not None


# --- replies through the send task ------------------------------------------------------------------------------


def test_public_reply_and_dm_are_each_delivered_once_through_the_send_task(
    tenant_a, x, subscribed, django_capture_on_commit_callbacks
):
    from tickets.models import DeliveryState, Message, Ticket
    from tickets.services import replies

    with django_capture_on_commit_callbacks(execute=True):
        tweet = x.mention(text="配送状況を知りたいです")
        x.dm(text="注文番号は 1234 です")
    with tenant_a.scope():
        mention_ticket = Ticket.objects.get(external_thread_key=f"mentions:{CUSTOMER}")
        dm_ticket = Ticket.objects.get(external_thread_key=f"dm:{CUSTOMER}")
        with django_capture_on_commit_callbacks(execute=True):
            public = replies.message_reply(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                ticket=mention_ticket,
                text="ご連絡ありがとうございます。DM でご案内します。",
                public=True,
            )
        with django_capture_on_commit_callbacks(execute=True):
            private = replies.message_reply(
                organization=tenant_a.organization, actor=tenant_a.users["owner"], ticket=dm_ticket, text="確認します"
            )
        with django_capture_on_commit_callbacks(execute=True):
            assert x.flush_echoes() == 2
        public.refresh_from_db()
        private.refresh_from_db()
        assert public.delivery_state == DeliveryState.SENT and private.delivery_state == DeliveryState.SENT
        # X's echoes of both (the account's own events) matched the stored replies: nothing new
        assert Message.objects.filter(direction="outbound").count() == 2
    assert [(s["kind"], s.get("in_reply_to") or s.get("to")) for s in x.sent] == [
        ("reply", tweet["id"]),
        ("dm", CUSTOMER),
    ]
    assert public.platform_message_id == x.sent[0]["id"] and private.platform_message_id == x.sent[1]["id"]


def out(text: str, *, public: bool, reply_to: str = "") -> OutboundMessage:
    return OutboundMessage(
        text=text,
        recipient_id=CUSTOMER,
        thread_key=f"mentions:{CUSTOMER}" if public else f"dm:{CUSTOMER}",
        kind="comment" if public else "direct",
        is_public=public,
        reply_to_platform_id=reply_to,
    )


def test_xs_errors_become_the_connector_errors_with_clear_sentences(tenant_a, x):
    connection = connect(tenant_a, x)
    tweet = x.mention(text="質問があります")
    connector = XConnector()
    x.force("tweets", 429)
    with pytest.raises(RateLimited) as limited:
        connector.send(connection, out("a", public=True, reply_to=tweet["id"]))
    assert 800 < limited.value.retry_after <= 900  # until the window's reset
    assert connector.send(connection, out("同じ文面", public=True, reply_to=tweet["id"])).platform_message_id
    with pytest.raises(SendRejected) as duplicate:
        connector.send(connection, out("同じ文面", public=True, reply_to=tweet["id"]))
    assert "identical" in duplicate.value.message and duplicate.value.code == "403"
    x.dm_closed.add(CUSTOMER)
    with pytest.raises(SendRejected) as closed:
        connector.send(connection, out("DM です", public=False))
    assert "does not accept messages" in closed.value.message
    x.force("dm_send", 401)
    with pytest.raises(AuthFailed) as expired:
        connector.send(connection, out("DM です", public=False))
    assert "connect the account again" in expired.value.message
    with pytest.raises(SendRejected):  # never a standalone post
        connector.send(connection, out("独り言", public=True))
    assert [s["kind"] for s in x.sent] == ["reply"]


def test_an_expired_token_fails_the_reply_and_flags_the_channel(tenant_a, x, django_capture_on_commit_callbacks):
    from tickets.models import DeliveryState, Ticket
    from tickets.services import replies

    connection = connect(tenant_a, x)
    x.dm(text="こんにちは")
    with django_capture_on_commit_callbacks(execute=True):
        poll(tenant_a, connection)
    x.revoke(connection.credentials["access_token"])
    with tenant_a.scope():
        with django_capture_on_commit_callbacks(execute=True):
            reply = replies.message_reply(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                ticket=Ticket.objects.get(),
                text="はい",
            )
        reply.refresh_from_db()
        connection.refresh_from_db()
    assert reply.delivery_state == DeliveryState.FAILED and "connect" in reply.delivery_error
    assert connection.status == ConnectionStatus.NEEDS_REAUTH
    assert x.sent == []


def test_the_demo_connection_polls_the_simulators_account(
    db, x, settings, tmp_path, django_capture_on_commit_callbacks
):
    from django.conf import settings as configured
    from django.core.management import call_command

    from conftest import make_org, make_user

    for name in dir(configured):  # the demo connects every platform: all of them talk to the simulator
        if name.endswith(("_API_URL", "_API_DATA_URL")) and name != "X_API_URL":
            setattr(settings, name, x.sim.base_url)

    owner = make_user("owner@demo.tsunagu.example")
    demo = make_org("demo", owner)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"base_url": x.sim.base_url}))
    call_command("connect_demo_channels", simulator_state=str(state))
    with scopes_disabled():
        connection = ChannelConnection.objects.get(organization=demo, platform="x")
    assert connection.config["mode"] == "polling" and connection.display_name == "@tsunagu_demo"
    x.mention(text="デモです")
    with scopes_disabled(), django_capture_on_commit_callbacks(execute=True):
        assert services.connection_poll(organization=demo, connection_id=connection.pk) == 1


def test_the_reply_box_counts_a_mention_reply_the_way_x_counts(
    tenant_a, x, login, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    from tickets.models import Ticket

    connection = connect(tenant_a, x)
    x.mention(text="在庫はありますか")
    x.dm(text="DM です")
    with django_capture_on_commit_callbacks(execute=True):
        poll(tenant_a, connection)
    with tenant_a.scope():
        mention = Ticket.objects.get(external_thread_key=f"mentions:{CUSTOMER}")
        dm = Ticket.objects.get(external_thread_key=f"dm:{CUSTOMER}")
    client = login(tenant_a.users["owner"])
    with django_assert_max_num_queries(40):
        page = client.get(f"/{tenant_a.slug}/inbox/tickets/{mention.pk}/conversation/").content.decode()
    textarea = re.search(r'<textarea id="reply-text"[^>]*>', page).group(0)
    # No browser maxlength (it counts UTF-16 units): inbox.js counts the X way, the server checks on send
    assert 'data-length-rule="x-weighted"' in textarea and 'data-max-length="280"' in textarea
    assert "maxlength" not in textarea
    assert 'name="public"' in page  # public reply or DM, chosen in the box
    page = client.get(f"/{tenant_a.slug}/inbox/tickets/{dm.pk}/conversation/").content.decode()
    textarea = re.search(r'<textarea id="reply-text"[^>]*>', page).group(0)
    assert 'maxlength="10000"' in textarea and "data-length-rule" not in textarea
    assert 'name="public"' not in page


def test_a_revoked_token_found_by_the_poller_flags_the_channel(tenant_a, x):
    connection = connect(tenant_a, x)
    x.force("mentions", 401)
    assert poll(tenant_a, connection) == 0
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_REAUTH


def test_a_customer_known_only_by_id_is_named_from_the_users_lookup(
    tenant_a, x, subscribed, django_capture_on_commit_callbacks
):
    from tickets.models import Contact

    x.customer("2000000000000000077", "佐藤 一郎", "ichiro_s")
    event = {
        "type": "message_create",
        "id": "1800000000000000001",
        "created_timestamp": str(int(time.time() * 1000)),
        "message_create": {
            "target": {"recipient_id": ACCOUNT_ID},
            "sender_id": "2000000000000000077",
            "message_data": {"text": "名前のない DM"},
        },
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert x._push(ACCOUNT_ID, {"direct_message_events": [event]}) == 200  # no "users" map
    with tenant_a.scope():
        contact = Contact.objects.get(identities__external_id="2000000000000000077")
    assert contact.name == "佐藤 一郎"
    assert [c for c in x.calls if c["path"] in ("/2/users", "/2/users/2000000000000000077")]


def test_the_operator_page_drives_a_customer_and_the_errors(x):
    base = x.sim.base_url
    page = requests.get(f"{base}/_sim/", timeout=10).text
    assert 'action="/_sim/x/mention"' in page and 'action="/_sim/x/dm"' in page and 'action="/_sim/x/fail"' in page
    assert 'action="/_sim/x/webhook"' in page
    # Registering the webhook runs X's CRC against /webhooks/x/ (answered through Django here)
    assert requests.post(f"{base}/_sim/x/webhook", data={}, timeout=10).json() == {"valid": True}
    requests.post(f"{base}/_sim/x/mention", data={"text": "助けてください", "name": "Operator"}, timeout=10)
    assert x.tweets[-1]["text"].endswith("助けてください") and x.tweets[-1]["text"].startswith("@tsunagu_demo")
    answer = requests.post(
        f"{base}/_sim/x/dm", data={"text": "写真"}, files={"image": ("a.png", sim_x.PIXEL, "image/png")}, timeout=10
    )
    assert answer.json()["attachments"]["media_keys"] and list(x.media.values())[-1] == ("image/png", sim_x.PIXEL)
    requests.post(f"{base}/_sim/x/delete", data={}, timeout=10)
    assert x.tweets[-1]["deleted"]
    requests.post(f"{base}/_sim/x/fail", data={"endpoint": "tweets", "status": "401"}, timeout=10)
    assert x.fail_next["tweets"][0] == 401
