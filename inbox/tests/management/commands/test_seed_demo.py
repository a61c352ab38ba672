"""The demo seed is complete and idempotent: one user per role, teams, channel grants, sample conversations."""

import pytest
from django.core.management import call_command
from django_scopes import scope, scopes_disabled

from accounts.models import Membership, Organization
from channels_integrations.permissions import connections_visible_to
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db


def _counts():
    with scopes_disabled():
        return (Membership.objects.count(), Ticket.objects.count(), Message.objects.count())


def test_seed_demo_twice_gives_the_same_data():
    call_command("seed_demo")
    first = _counts()
    call_command("seed_demo")
    assert _counts() == first
    demo = Organization.objects.get(slug="demo")
    with scope(organization=demo):
        roles = set(Membership.objects.values_list("role__key", flat=True))
        assert roles == {"owner", "admin", "manager", "agent", "editor", "approver", "analyst"}
        assert Ticket.objects.count() == 10 and Ticket.objects.filter(status="solved").count() == 1
        agent = Membership.objects.get(user__email="agent@demo.tsunagu.example")
        # The agent is in the support team: email and Facebook (Messenger), not Instagram.
        assert sorted(connections_visible_to(agent).values_list("platform", flat=True)) == ["email", "facebook"]
