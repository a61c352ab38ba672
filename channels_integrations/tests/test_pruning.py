"""Tables that only operators read do not grow without bound: processed raw events and attempt logs older than their
retention are deleted by beat tasks, in batches; what still needs a person (received, retrying, dead) stays."""

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django_scopes import scopes_disabled

from channels_integrations import tasks
from channels_integrations.models import InboundEvent, InboundEventStatus
from channels_integrations.tests.test_webhooks import page
from core import tasks as core_tasks
from core.models import Attempt, AttemptOutcome

pytestmark = pytest.mark.django_db


def _event(tenant, connection, key, status, days_old):
    with tenant.scope():
        event = InboundEvent.objects.create(
            organization=tenant.organization, connection=connection, event_key=key, payload=b"{}", status=status
        )
        # received_at is auto_now_add: age it afterwards
        InboundEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(days=days_old))
        Attempt.objects.create(
            organization=tenant.organization,
            subject_type=ContentType.objects.get_for_model(InboundEvent),
            subject_id=event.pk,
            number=1,
            outcome=AttemptOutcome.RETRYING,
            started_at=timezone.now() - timedelta(days=days_old),
        )
    return event


def test_processed_events_past_retention_go_with_their_attempts_and_the_rest_stays(tenant_a, tenant_b, settings):
    settings.INBOUND_EVENT_RETENTION_DAYS = 30
    settings.ATTEMPT_RETENTION_DAYS = 365  # attempts are pruned here only with their event
    a, b = page(tenant_a), page(tenant_b, page_id="2000000002")
    old_processed = [_event(tenant_a, a, f"p{n}", InboundEventStatus.PROCESSED, 40) for n in range(3)]
    old_processed.append(_event(tenant_b, b, "pb", InboundEventStatus.PROCESSED, 31))
    kept = [
        _event(tenant_a, a, "recent", InboundEventStatus.PROCESSED, 29),
        _event(tenant_a, a, "dead", InboundEventStatus.DEAD, 60),
        _event(tenant_a, a, "retrying", InboundEventStatus.RETRYING, 60),
        _event(tenant_b, b, "received", InboundEventStatus.RECEIVED, 60),
    ]

    assert tasks.prune_events() == 4
    assert core_tasks.prune_attempts() == 0

    with scopes_disabled():
        assert set(InboundEvent.objects.values_list("pk", flat=True)) == {e.pk for e in kept}
        assert set(Attempt.objects.values_list("subject_id", flat=True)) == {e.pk for e in kept}
    assert tasks.prune_events() == 0  # nothing left to do, nothing else touched


def test_events_are_deleted_in_batches_until_none_is_left(tenant_a):
    from channels_integrations import services

    connection = page(tenant_a)
    for n in range(7):
        _event(tenant_a, connection, f"e{n}", InboundEventStatus.PROCESSED, 100)
    assert services.events_prune(before=timezone.now() - timedelta(days=1), batch=3) == 7
    with scopes_disabled():
        assert not InboundEvent.objects.exists()
        assert not Attempt.objects.exists()


def test_attempts_past_their_retention_are_pruned_whatever_their_subject(tenant_a, settings):
    settings.ATTEMPT_RETENTION_DAYS = 90
    connection = page(tenant_a)
    old = _event(tenant_a, connection, "old", InboundEventStatus.DEAD, 91)
    recent = _event(tenant_a, connection, "recent", InboundEventStatus.DEAD, 89)
    assert core_tasks.prune_attempts() == 1
    with scopes_disabled():
        assert list(Attempt.objects.values_list("subject_id", flat=True)) == [recent.pk]
        # the dead letter itself stays, with its last error, for a person to replay
        assert InboundEvent.objects.filter(pk=old.pk).exists()
