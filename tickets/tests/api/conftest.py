"""What the REST API intake's tests share (test_intake.py: the synchronous answer; test_intake_async.py and
test_intake_asgi.py: `Prefer: respond-async`, through the full stack and the thin ASGI path): the API channel, the
request, the counts, an API key for tests whose requests run in other threads or processes."""

import json

import pytest

from accounts import services as account_services
from channels_integrations import services as channel_services
from tickets.api import intake
from tickets.tests.factories import connection

COMPLAINT = "注文した商品がまだ届いていません。至急確認してください。"


@pytest.fixture
def api_channel(tenant_a):
    return connection(tenant_a, "api", "Contact form")


@pytest.fixture(autouse=True)
def _no_remembered_callers():
    # The thin path's memory of callers is per process: a test starts without the previous tests' callers.
    intake.contexts_forget()
    yield
    intake.contexts_forget()


@pytest.fixture
def each_wake_queues(settings):
    """Every accepted request wakes its own ingest (no debounce window shared between requests of one test)."""
    settings.INGEST_WAKE_DEBOUNCE = 0
    channel_services._woken.clear()


def intake_url(tenant, path: str = "tickets/") -> str:
    return f"/api/v1/orgs/{tenant.slug}/{path}"


def intake_post(api, tenant, body, *, key: str | None = None, path: str = "tickets/", prefer: str | None = None):
    """POST `body` as JSON with the API client `api`; the messages asserted are the English ones."""
    headers = {"HTTP_ACCEPT_LANGUAGE": "en"}
    if prefer is not None:
        headers["HTTP_PREFER"] = prefer
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return api.post(intake_url(tenant, path), json.dumps(body), content_type="application/json", **headers)


def count(tenant, model, **filters) -> int:
    with tenant.scope():
        return model.objects.filter(**filters).count()


def api_key(tenant, role: str = "owner", name: str = "test client"):
    """(token, key) of a new API token of the member with `role`."""
    with tenant.scope():
        return account_services.api_token_create(organization=tenant.organization, actor=tenant.users[role], name=name)
