"""Schemathesis against the live OpenAPI schema (issue 15): the real ASGI server on the test database, a real API
token of an organization's owner, real HTTP. Every operation of /api/schema/ gets a bounded, derandomized run of
generated requests (valid and invalid ones); every response must be no 5xx, carry a documented status code and
content type, and match its documented schema.

Path ids are drawn half the time from objects seeded in the organization (one of each kind the routes name, from
tests/tenant_objects.py, plus a canned response an automatic reply uses), so detail routes reach real objects and not
only 404s; `org_slug` is always the seeded organization's.

The run's own credentials are the one thing it may not touch: revoking the token it authenticates with (DELETE
tokens/<its id>/), or removing or changing its own membership (which revokes the member's tokens), would turn every
later request into a 401/404 and end the run without it noticing. Those cases are skipped (and counted), not the
operations: the same routes still run on every other id, including other tokens of the same user.
"""

import time
from collections import Counter

import pytest
import requests
from django_scopes import scope
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis import openapi as schemathesis_openapi
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import services
from tests.e2e.asgi_server import AsgiServer
from tests.tenant_objects import OBJECT_MAKERS

# Examples per operation and generation mode. 2 modes x ~40 operations x 12 is about 1,000 requests: well under a
# minute on 2 cores, and the same requests every run (derandomized).
MAX_EXAMPLES = 12
SEEDED_PER_KIND = 2
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

pytestmark = pytest.mark.django_db(transaction=True)
# The ids the API's paths name (the schema's operations; a new one simply gets only generated ids until added here).
API_PATH_IDS = [
    "membership_id",
    "team_id",
    "invitation_id",
    "token_id",
    "ticket_id",
    "contact_id",
    "tag_id",
    "canned_id",
    "view_id",
    "connection_id",  # for the automatic reply below
    "identity_id",
    "merge_id",
    "suggestion_id",
    "attribute_id",
    "subscription_id",
    "asset_id",
    "version_id",
]


def _seed(tenant) -> dict[str, list[int]]:
    """A few objects of every kind a path parameter names, and a canned response an automatic reply uses."""
    from automation.models import AutoResponse
    from channels_integrations.models import ChannelConnection
    from tickets.models import CannedResponse, ContactIdentity

    ids = {name: [OBJECT_MAKERS[name](tenant) for _ in range(SEEDED_PER_KIND)] for name in API_PATH_IDS}
    with scope(organization=tenant.organization):
        # The factories' default platform, "line", is no registered connector; the schema rightly lists only those.
        ChannelConnection.objects.filter(platform="line").update(platform="email")
        ContactIdentity.objects.filter(platform="line").update(platform="email")
        AutoResponse.objects.create(
            organization=tenant.organization,
            connection=ChannelConnection.objects.get(pk=ids["connection_id"][0]),
            kind="first_contact",
            response=CannedResponse.objects.get(pk=ids["canned_id"][0]),
        )
    return ids


@pytest.fixture
def live_api(tenant_a):
    seeded = _seed(tenant_a)
    with tenant_a.scope():
        token, key = services.api_token_create(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], name="schemathesis"
        )
    server = AsgiServer()
    yield server, key, token.pk, tenant_a.memberships["owner"].pk, seeded, tenant_a.slug
    server.stop()


def _touches_own_credentials(case, token_id: int, membership_id: int) -> bool:
    params = case.path_parameters or {}
    if case.method.upper() == "DELETE" and params.get("token_id") == token_id:
        return True
    return case.method.upper() in {"DELETE", "PATCH", "PUT"} and params.get("membership_id") == membership_id


class Run:
    """The requests made and the distinct findings (operation, check, detail) of one run."""

    def __init__(self, server, session, slug: str, seeded: dict[str, list[int]], token_id: int, membership_id: int):
        self.server, self.session, self.slug, self.seeded = server, session, slug, seeded
        self.token_id, self.membership_id = token_id, membership_id
        self.requests: Counter[str] = Counter()
        self.skipped = 0
        self.failing: Counter[tuple[str, ...]] = Counter()
        self.failures: dict[tuple[str, ...], str] = {}

    def fuzz(self, operation, mode: GenerationMode) -> None:
        label = f"{operation.method.upper()} {operation.path}"
        id_params = [p.name for p in operation.path_parameters if p.name in self.seeded]
        seeded_ids = st.fixed_dictionaries(
            {name: st.one_of(st.none(), st.sampled_from(self.seeded[name])) for name in id_params}
        )

        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode), ids=seeded_ids)
        def run(case, ids):
            if case.path_parameters is not None and "org_slug" in case.path_parameters:
                case.path_parameters["org_slug"] = self.slug
            for name, value in ids.items():
                if value is not None:
                    case.path_parameters[name] = value
            if _touches_own_credentials(case, self.token_id, self.membership_id):
                self.skipped += 1
                return
            self.requests[label] += 1
            try:
                case.call_and_validate(base_url=self.server.url, session=self.session, checks=CHECKS)
            except (Exception, FailureGroup) as exc:  # collect every distinct finding, not only the first
                for failure in exc.exceptions if isinstance(exc, FailureGroup) else [exc]:
                    title = getattr(failure, "title", type(failure).__name__)
                    detail = getattr(failure, "message", str(failure)).splitlines()[:2]
                    key = (label, title, *detail)
                    self.failing[key] += 1
                    self.failures.setdefault(key, f"{label}: {exc}")

        try:
            run()
        except Unsatisfiable:  # nothing to negate (an operation with no parameters and no body)
            assert mode == GenerationMode.NEGATIVE, label


def test_every_operation_conforms_to_the_schema(live_api):
    server, key, token_id, membership_id, seeded, slug = live_api
    headers = {"Authorization": f"Token {key}"}
    schema = schemathesis_openapi.from_url(f"{server.url}/api/schema/", headers=headers)
    session = requests.Session()
    session.headers.update(headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    run = Run(server, session, slug, seeded, token_id, membership_id)
    started = time.monotonic()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run.fuzz(operation, mode)
    print(
        f"\nschemathesis: {len(operations)} operations, {sum(run.requests.values())} requests "
        f"({run.skipped} skipped: the run's own token or membership) in {time.monotonic() - started:.1f}s"
    )
    assert len(operations) > 30
    summary = "\n".join(f"({run.failing[key]}x) " + " | ".join(key) for key in run.failures)
    assert not run.failures, f"{len(run.failures)} distinct findings:\n{summary}\n\n" + "\n\n".join(
        text[:3000] for text in run.failures.values()
    )
