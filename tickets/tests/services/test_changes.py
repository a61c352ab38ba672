"""Assigning a ticket: only to a member who may see its channel (issue 15, finding 7)."""

import pytest

from accounts import services as account_services
from conftest import add_member, make_user
from core.errors import DomainError
from core.models import Notification
from tickets.models import Tag, Ticket, TicketEvent, TicketEventKind
from tickets.services import changes
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(tenant_a):
    line = connection(tenant_a, "line", "LINE 公式")
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            connection=line,
            users=[tenant_a.users["agent"]],
        )
        message, _created = message_ingest(
            organization=tenant_a.organization, connection=line, inbound=inbound("解約したい", name="秘密 顧客")
        )
        return Ticket.objects.get(pk=message.ticket_id)


def test_a_member_without_access_to_the_channel_cannot_be_assigned(tenant_a, ticket):
    outsider = make_user("outsider@org-a.test", "部外 者")
    add_member(tenant_a.organization, outsider, "agent")
    with tenant_a.scope():
        with pytest.raises(DomainError) as refused:
            changes.ticket_update(
                organization=tenant_a.organization, actor=tenant_a.users["owner"], ticket=ticket, assignee=outsider
            )
        assert refused.value.field == "assignee"
        ticket.refresh_from_db()
        assert ticket.assignee_id is None
        # ...and so is never told the customer's name in a notification.
        assert not Notification.objects.filter(user=outsider).exists()


def test_a_member_with_access_is_assigned(tenant_a, ticket):
    with tenant_a.scope():
        changes.ticket_update(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            ticket=ticket,
            assignee=tenant_a.users["agent"],
        )
        ticket.refresh_from_db()
        assert ticket.assignee_id == tenant_a.users["agent"].pk


def test_the_inbox_and_the_api_refuse_with_a_field_error(tenant_a, ticket, login, api_client_for):
    outsider = make_user("outsider@org-a.test", "部外 者")
    add_member(tenant_a.organization, outsider, "agent")
    client = login(tenant_a.users["owner"])
    page = client.get(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/").content.decode()
    assert "部外 者" not in page[page.index('id="prop-assignee"') :][:3000]  # not offered
    response = client.post(
        f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/update/", {"assignee": str(outsider.pk)}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code in (400, 409, 422)
    api = api_client_for(tenant_a)
    response = api.patch(f"/api/v1/orgs/{tenant_a.slug}/tickets/{ticket.pk}/", {"assignee": outsider.pk}, format="json")
    assert response.status_code == 400
    assert "assignee" in response.json()["error"]["fields"]
    with tenant_a.scope():
        ticket.refresh_from_db()
        assert ticket.assignee_id is None


def test_tags_cost_the_same_however_many_the_ticket_has(tenant_a, ticket, django_assert_max_num_queries):
    """Adding a tag reads the ticket's tags once and looks up only the new one (not every tag the ticket already
    has); a removed tag goes, an unknown one is created, and each change is recorded once."""
    owner = tenant_a.users["owner"]
    names = [f"t{n}" for n in range(8)]

    def update(tags):
        changes.ticket_update(
            organization=tenant_a.organization, actor=owner, ticket=ticket, tags=tags, run_rules=False
        )

    with tenant_a.scope():
        update(names)
        Tag.objects.create(organization=tenant_a.organization, name="既存")
        # savepoint, the ticket's lock, its tags, the new tag's lookup, the through row, the event, release
        with django_assert_max_num_queries(7):
            update([*names, "既存"])
        # and a tag removed (one delete), one nobody used yet (inserted, then read)
        with django_assert_max_num_queries(10):
            update([*names[1:], "既存", "新規"])
        assert sorted(ticket.tags.values_list("name", flat=True)) == sorted([*names[1:], "既存", "新規"])
        assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEventKind.TAGS).count() == 3
