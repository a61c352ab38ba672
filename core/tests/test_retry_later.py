"""Long waits on the retry schedule are taken in hops shorter than the broker's visibility timeout: Redis would
otherwise deliver the held countdown message again every hour and the task would run several times at once."""

import time

import pytest
from celery import current_app

from automation.models import WebhookCallState
from automation.rules import tasks as rule_tasks
from automation.tests.rules.test_engine import _call_for, receiver, ticket_with  # noqa: F401 (fixture)
from core.retry import SCHEDULE, hop_seconds, retry_later
from core.tasks import retry_hop

HOUR = 3600


class Queued:
    """Records what would go to the broker instead of sending it (the tests run no broker)."""

    def __init__(self):
        self.calls = []

    def for_task(self, task):
        def apply_async(*, kwargs, countdown=None, **options):
            self.calls.append((task.name, kwargs, countdown, options))

        return apply_async


@pytest.fixture
def queued(monkeypatch):
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False  # as in production, where a countdown is held by the broker
    recorder = Queued()
    for task in (rule_tasks.deliver_webhook, retry_hop):
        monkeypatch.setattr(task, "apply_async", recorder.for_task(task))
    yield recorder
    current_app.conf.task_always_eager = eager


def test_the_hop_is_shorter_than_the_visibility_timeout(settings):
    assert hop_seconds() * 2 <= settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert max(SCHEDULE) > hop_seconds()  # what makes hops necessary


def test_a_short_wait_is_one_countdown(queued):
    retry_later(rule_tasks.deliver_webhook, kwargs={"call_id": 1}, delay=30, queue="outbound")
    assert queued.calls == [("automation.deliver_webhook", {"call_id": 1}, 30, {"queue": "outbound"})]


def test_a_long_wait_is_taken_in_hops_and_ends_with_the_task(queued):
    hop = hop_seconds()
    before = time.time()
    retry_later(rule_tasks.deliver_webhook, kwargs={"call_id": 1}, delay=4 * HOUR, queue="outbound")
    [(name, kwargs, countdown, _)] = queued.calls
    assert (name, countdown) == ("core.retry_hop", hop)
    assert kwargs["task"] == "automation.deliver_webhook" and kwargs["kwargs"] == {"call_id": 1}
    assert before + 4 * HOUR <= kwargs["due"] <= time.time() + 4 * HOUR
    assert kwargs["options"] == {"queue": "outbound"}

    # Each hop waits one more hop while the time is far…
    retry_hop.run(**{**kwargs, "due": time.time() + 2 * hop + 5})
    assert queued.calls[-1][0] == "core.retry_hop" and queued.calls[-1][2] == hop
    # …and queues the task itself, on its queue, once it is near.
    retry_hop.run(**{**kwargs, "due": time.time() + 100})
    name, task_kwargs, countdown, options = queued.calls[-1]
    assert (name, task_kwargs, options) == ("automation.deliver_webhook", {"call_id": 1}, {"queue": "outbound"})
    assert 95 <= countdown <= 100
    # A hop that ran late queues the task at once.
    retry_hop.run(**{**kwargs, "due": time.time() - 10})
    assert queued.calls[-1][2] == 0
    assert all(countdown <= hop for _, _, countdown, _ in queued.calls)


def test_a_failing_webhook_never_holds_a_countdown_past_the_timeout(tenant_a, receiver, queued):  # noqa: F811
    """The fifth attempt of a rule's webhook fails: the sixth is four hours later, queued as a hop."""
    ticket, message = ticket_with(tenant_a)
    endpoint = receiver(500)
    call = _call_for(tenant_a, ticket, message, endpoint.url)
    with tenant_a.scope():
        call.attempts = 4
        call.save(update_fields=["attempts"])
    queued.calls.clear()
    assert rule_tasks.deliver_webhook(organization_id=tenant_a.organization.pk, call_id=call.pk) == "retrying"
    call.refresh_from_db()
    assert (call.state, call.attempts) == (WebhookCallState.PENDING, 5)
    [(name, kwargs, countdown, _)] = queued.calls
    assert (name, countdown) == ("core.retry_hop", hop_seconds())
    assert kwargs["task"] == "automation.deliver_webhook"
    assert kwargs["due"] - time.time() == pytest.approx(SCHEDULE[4], abs=60)
