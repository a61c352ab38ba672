"""The availability switch in the page header: members who work tickets say whether they take automatic
assignments; switching back to available assigns what waits in their teams' queues."""

import pytest

from accounts import services as account_services
from accounts.models import Availability, Membership, Team
from tickets.models import Ticket
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _url(tenant) -> str:
    return f"/{tenant.slug}/inbox/availability/"


def _availability(tenant, role: str) -> str:
    with tenant.scope():
        return Membership.objects.get(user=tenant.users[role]).availability


def test_the_header_shows_the_current_state_and_the_switch_changes_it(tenant_a, login):
    client = login(tenant_a.users["agent"])
    page = client.get(f"/{tenant_a.slug}/inbox/").content.decode()
    assert 'data-availability="available"' in page and 'value="away"' in page

    response = client.post(_url(tenant_a), {"availability": "away", "next": f"/{tenant_a.slug}/settings/teams/"})

    assert response.status_code == 302 and response.url == f"/{tenant_a.slug}/settings/teams/"
    assert _availability(tenant_a, "agent") == Availability.AWAY
    page = client.get(response.url).content.decode()
    assert 'data-availability="away"' in page and 'value="available"' in page


def test_htmx_gets_the_switch_back_and_unsafe_next_urls_are_ignored(tenant_a, login):
    client = login(tenant_a.users["agent"])
    partial = client.post(_url(tenant_a), {"availability": "away"}, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert partial.content.decode().lstrip().startswith('<form id="availability"')
    assert 'data-availability="away"' in partial.content.decode()

    response = client.post(_url(tenant_a), {"availability": "available", "next": "https://evil.example/"})
    assert response.status_code == 302 and response.url == f"/{tenant_a.slug}/inbox/"
    assert _availability(tenant_a, "agent") == Availability.AVAILABLE


def test_the_page_is_translated(tenant_a, login):
    owner = tenant_a.users["owner"]
    for language, expected in (("en", "Set away"), ("ja", 'lang="ja"')):
        owner.language = language
        owner.save(update_fields=["language"])
        assert expected in login(owner).get(f"/{tenant_a.slug}/settings/teams/").content.decode()


def test_bad_values_are_400_and_members_who_do_not_work_tickets_have_no_switch(tenant_a, login):
    client = login(tenant_a.users["agent"])
    assert client.post(_url(tenant_a), {"availability": "asleep"}).status_code == 400
    assert client.get(_url(tenant_a)).status_code == 405
    editor = login(tenant_a.users["editor"])
    assert 'id="availability"' not in editor.get(f"/{tenant_a.slug}/settings/teams/").content.decode()
    assert editor.post(_url(tenant_a), {"availability": "away"}).status_code == 403
    assert _availability(tenant_a, "editor") == Availability.AVAILABLE


def test_switching_to_available_assigns_the_waiting_tickets(tenant_a, login, django_capture_on_commit_callbacks):
    agent = tenant_a.users["agent"]
    conn = connection(tenant_a)
    with tenant_a.scope():
        team = account_services.team_create(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], name="Support", members=[agent]
        )
        Team.objects.filter(pk=team.pk).update(assignment_strategy="least_open", require_online=False)
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=conn, teams=[team]
        )
        Membership.objects.filter(user=agent).update(availability=Availability.AWAY)
        message, _ = message_ingest(organization=tenant_a.organization, connection=conn, inbound=inbound("?"))
        Ticket.objects.filter(pk=message.ticket_id).update(team=team)
    client = login(agent)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url(tenant_a), {"availability": "available"})

    with tenant_a.scope():
        assert Ticket.objects.get(pk=message.ticket_id).assignee_id == agent.pk
