"""`manage.py analytics_rebuild` and the beat task, on real rows."""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django_scopes import scopes_disabled

from analytics import tasks
from analytics.models import DailyRollup, TicketFact
from analytics.tests.builders import event, inbound, jst, reply, ticket
from tickets.tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def _history(tenant):
    line = factories.connection(tenant, "line")
    with tenant.scope():
        t = ticket(tenant.organization, line, jst("2026-11-16 10:00"))
        event(t, jst("2026-11-16 10:00"), "created")
        inbound(t, jst("2026-11-16 10:00"))
        reply(t, jst("2026-11-16 10:05"), tenant.users["agent"])
    return t


def test_the_task_consumes_on_the_analytics_queue(tenant_a):
    _history(tenant_a)
    assert settings.CELERY_BEAT_SCHEDULE["analytics-consume"]["options"] == {"queue": "analytics"}
    # Eager in tests: the result is there at once (`.get()` would refuse if an earlier test left a task context).
    assert tasks.consume.delay().result == 0  # the first run only moves the horizon
    assert tasks.consume.delay().result == 3  # created, reply, first response


def test_rebuild_restores_lost_facts_and_rollups_of_one_organization(tenant_a, tenant_b):
    _history(tenant_a)
    _history(tenant_b)
    out = StringIO()
    call_command("analytics_rebuild", organization="org-a", stdout=out)
    assert out.getvalue().strip() == "org-a: 3 facts"
    with scopes_disabled():
        assert TicketFact.objects.filter(organization=tenant_a.organization).count() == 3
        assert not TicketFact.objects.filter(organization=tenant_b.organization).exists()
        assert sorted(DailyRollup.objects.values_list("kind", "count", "duration_sum")) == [
            ("created", 1, 0),
            ("first_response", 1, 300),
            ("reply", 1, 300),
        ]
    # Running it again changes nothing.
    call_command("analytics_rebuild", organization="org-a", stdout=StringIO())
    with scopes_disabled():
        assert TicketFact.objects.count() == 3 and DailyRollup.objects.count() == 3


def test_rebuild_of_an_unknown_organization_fails():
    with pytest.raises(CommandError):
        call_command("analytics_rebuild", organization="nobody", stdout=StringIO())
