"""Shared fixtures: two organizations (A and B) with one member per role each, clients and API tokens."""

from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.db.backends.postgresql.operations import DatabaseOperations
from django.test import Client
from django_scopes import scope, scopes_disabled
from rest_framework.test import APIClient

from accounts import services
from accounts.models import Membership, Role, User
from accounts.roles import RoleKey
from channels_integrations.simulator.core import Simulator

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session", autouse=True)
def _flush_past_the_audit_log():
    """Transactional tests empty every table with TRUNCATE, which the audit log's trigger refuses. The test role is a
    superuser: its flush runs with session_replication_role = replica (triggers off), which only a superuser may set."""
    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        return original(self, ["SET LOCAL session_replication_role = replica", *sql_list])

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty test Redis database (login throttles, presence, caches)."""
    cache.clear()
    yield


def make_user(email: str, name: str = "") -> User:
    return User.objects.create_user(email, PASSWORD, name=name or email.split("@")[0])


def make_org(slug: str, owner: User | None = None):
    owner = owner or make_user(f"owner@{slug}.test", f"Owner {slug}")
    return services.organization_create(name=f"Org {slug.upper()}", slug=slug, owner=owner)


def add_member(organization, user: User, role_key: str) -> Membership:
    with scope(organization=organization):
        role = Role.objects.get(key=role_key)
        return Membership.objects.create(organization=organization, user=user, role=role)


class Tenant:
    """One organization with one member per role: `tenant.users["agent"]`, `tenant.memberships["agent"]`."""

    def __init__(self, slug: str):
        self.organization = make_org(slug)
        self.slug = slug
        with scopes_disabled():
            owner_membership = Membership.objects.get(organization=self.organization)
        self.users = {RoleKey.OWNER.value: owner_membership.user}
        self.memberships = {RoleKey.OWNER.value: owner_membership}
        for key in RoleKey:
            if key == RoleKey.OWNER:
                continue
            user = make_user(f"{key.value}@{slug}.test", f"{key.label} {slug}")
            self.users[key.value] = user
            self.memberships[key.value] = add_member(self.organization, user, key.value)

    def scope(self):
        return scope(organization=self.organization)


@pytest.fixture
def tenant_a(db):
    return Tenant("org-a")


@pytest.fixture
def tenant_b(db):
    return Tenant("org-b")


@pytest.fixture
def login(client):
    """login(user) -> the Django test client signed in as that user."""

    def _login(user):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return _login


@pytest.fixture
def api_client_for():
    """api_client_for(tenant, role) -> an APIClient authenticated with that member's API token."""

    def _make(tenant: Tenant, role: str = "owner"):
        with tenant.scope():
            _token, key = services.api_token_create(
                organization=tenant.organization, actor=tenant.users[role], name="test"
            )
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return api

    return _make


# --- the platform simulator ---------------------------------------------------------------------------------------
# Started in-process on a loopback port; the product's platform base URLs point at it. Its webhooks reach Django
# through the test client (same thread, same test transaction), so tests drive customers through the parts' Python
# methods (simulator.parts["meta"]...) in the test's own thread.

META_APP_SECRET = "test_app_secret"
META_VERIFY_TOKEN = "test_verify_token"
META_APP_ID = "1234567890"


@pytest.fixture
def simulator(settings):
    settings.META_APP_SECRET = META_APP_SECRET
    settings.META_VERIFY_TOKEN = META_VERIFY_TOKEN
    settings.META_APP_ID = META_APP_ID
    sim = Simulator(
        webhook_base="http://testserver",
        meta_app_secret=META_APP_SECRET,
        meta_app_id=META_APP_ID,
        meta_verify_token=META_VERIFY_TOKEN,
    ).start()
    settings.META_GRAPH_URL = sim.base_url
    settings.META_DIALOG_URL = sim.base_url
    settings.INSTAGRAM_GRAPH_URL = sim.base_url
    client = Client()

    def transport(url: str, body: bytes, headers: dict[str, str]) -> int:
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        content_type = headers.get("Content-Type", "application/json")
        return client.post(urlsplit(url).path, data=body, content_type=content_type, headers=extra).status_code

    sim.transport = transport
    sim.parts["meta"].async_receipts = False  # the test thread delivers them: simulator.parts["meta"].flush_receipts()
    yield sim
    sim.stop()
