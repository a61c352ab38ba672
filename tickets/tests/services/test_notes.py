"""Notes mention colleagues by id, whatever script their names are in; only colleagues who may see the ticket's
channel can be mentioned; the composer's list finds them by any part of the name; the note marks them."""

import pytest

from accounts import services as account_services
from conftest import add_member, make_user
from core.errors import DomainError
from core.models import Notification
from tickets.services.ingest import message_ingest
from tickets.services.notes import mentionable_members, note_add
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(tenant_a):
    conn = connection(tenant_a, "email")
    takahashi = make_user("takahashi@org-a.test", "高橋 誠")
    add_member(tenant_a.organization, takahashi, "agent")
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=conn, users=[takahashi]
        )
        message, _created = message_ingest(organization=tenant_a.organization, connection=conn, inbound=inbound("荷物"))
    return message.ticket, takahashi


def test_a_colleague_picked_by_id_is_mentioned_and_notified(tenant_a, ticket):
    ticket, takahashi = ticket
    with tenant_a.scope():
        note = note_add(
            organization=tenant_a.organization,
            actor=tenant_a.users["manager"],
            ticket=ticket,
            text="@高橋 誠さん、確認をお願いします",
            mention_ids=[takahashi.pk],
        )
        assert list(note.mentions.all()) == [takahashi]
        assert Notification.objects.filter(user=takahashi, kind="mentioned").count() == 1


def test_someone_who_cannot_see_the_channel_cannot_be_mentioned(tenant_a, ticket):
    ticket, _takahashi = ticket
    stranger = tenant_a.users["agent"]  # an agent without a grant on this channel
    with tenant_a.scope(), pytest.raises(DomainError) as refused:
        note_add(
            organization=tenant_a.organization,
            actor=tenant_a.users["manager"],
            ticket=ticket,
            text="@agent",
            mention_ids=[stranger.pk],
        )
    assert refused.value.field == "mentions"
    with tenant_a.scope():
        assert not Notification.objects.filter(user=stranger).exists()


def test_an_address_still_mentions_for_api_clients_and_rules(tenant_a, ticket):
    ticket, takahashi = ticket
    with tenant_a.scope():
        note = note_add(organization=tenant_a.organization, actor=None, ticket=ticket, text="@takahashi 至急")
        assert list(note.mentions.all()) == [takahashi]


@pytest.mark.parametrize("query", ["高橋", "誠", "taka", ""])
def test_the_composer_finds_colleagues_by_any_part_of_the_name(tenant_a, ticket, query):
    ticket, takahashi = ticket
    with tenant_a.scope():
        found = mentionable_members(ticket, query=query)
    assert takahashi in found
    assert tenant_a.users["agent"] not in found  # no grant on this channel


def test_the_workspace_marks_the_mention_and_lists_only_who_may_see(tenant_a, ticket, login):
    ticket, takahashi = ticket
    client = login(tenant_a.users["manager"])
    base = f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}"
    listed = client.get(f"{base}/mentionable/", {"q": "高橋"}).json()["results"]
    assert listed == [{"id": takahashi.pk, "name": "高橋 誠", "email": "takahashi@org-a.test"}]
    answer = client.post(f"{base}/note/", {"text": "@高橋 誠 <b>確認</b>", "mentions": [takahashi.pk]})
    assert answer.status_code == 200
    body = answer.content.decode()
    assert '<mark class="mention">@高橋 誠</mark>' in body and "&lt;b&gt;確認&lt;/b&gt;" in body
    assert client.post(f"{base}/note/", {"text": "x", "mentions": ["abc"]}).status_code == 400
