"""The automation setup kept across ingest batches (automation.setup_cache.cached_setup): reused while nothing changed,
loaded again after any change, however it was made, and never shared between organizations."""

from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from automation.models import AutoResponse, AutoResponseKind, Rule
from automation.rules import engine
from automation.setup_cache import cached_setup, setup_fingerprint
from automation.tests.rules.test_engine import ALWAYS, rule, run, ticket_with
from core.batch_reads import batch_reads
from tickets.models import CannedResponse, CannedResponseVariant


class Loads:
    """A loader that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def _batch(tenant, loads: Loads, key="probe"):
    with tenant.scope(), batch_reads():
        first = cached_setup(tenant.organization.pk, key, loads)
        assert cached_setup(tenant.organization.pk, key, loads) == first  # once per batch in any case
        return first


def test_kept_across_batches_while_nothing_changes(tenant_a):
    loads = Loads()
    assert _batch(tenant_a, loads) == 1
    with CaptureQueriesContext(db_connection) as queries:
        assert _batch(tenant_a, loads) == 1
    assert loads.calls == 1
    assert len(queries) == 1  # the fingerprint, nothing else


def test_any_change_to_the_setup_loads_it_again(tenant_a):
    loads = Loads()
    _batch(tenant_a, loads)
    created = rule(tenant_a, "r", ALWAYS, [{"type": "add_tags", "tags": ["x"]}])
    assert _batch(tenant_a, loads) == 2
    with tenant_a.scope():
        # A bulk update writes neither updated_at nor signals: the row's new version still shows.
        Rule.objects.filter(pk=created.pk).update(name="renamed")
    assert _batch(tenant_a, loads) == 3
    with tenant_a.scope():
        canned = CannedResponse.objects.create(organization=tenant_a.organization, title="ack", shortcut="ack")
        variant = CannedResponseVariant.objects.create(
            organization=tenant_a.organization, response=canned, language="ja", body="承りました。"
        )
        conn = ticket_with(tenant_a)[0].connection
    assert _batch(tenant_a, loads) == 3  # no auto-response uses it yet; a connection, contact and ticket are not setup
    with tenant_a.scope():
        AutoResponse.objects.create(
            organization=tenant_a.organization, connection=conn, kind=AutoResponseKind.FIRST_CONTACT, response=canned
        )
    assert _batch(tenant_a, loads) == 4
    with tenant_a.scope():
        CannedResponseVariant.objects.filter(pk=variant.pk).update(body="承りました！")
    assert _batch(tenant_a, loads) == 5
    with tenant_a.scope():
        Rule.objects.filter(pk=created.pk).delete()
    assert _batch(tenant_a, loads) == 6
    assert _batch(tenant_a, loads) == 6


def test_other_canned_responses_leave_the_setup_alone(tenant_a):
    loads = Loads()
    _batch(tenant_a, loads)
    with tenant_a.scope():
        CannedResponse.objects.create(organization=tenant_a.organization, title="faq", shortcut="faq")
    assert _batch(tenant_a, loads) == 1


def test_a_rule_edited_within_the_same_transaction_is_seen(tenant_a):
    # Tests run in one transaction, as does a management command: a row updated by the transaction that created it
    # keeps its xmin, so the fingerprint must tell the versions apart by more than that.
    ticket, message = ticket_with(tenant_a)
    created = rule(tenant_a, "first", ALWAYS, [{"type": "add_tags", "tags": ["x"]}])
    assert [r.rule_name for r in run(tenant_a, ticket, message)] == ["first"]
    with tenant_a.scope():
        Rule.objects.filter(pk=created.pk).update(name="second")
    assert [r.rule_name for r in run(tenant_a, ticket, message)] == ["second"]


def test_organizations_have_their_own_fingerprints_and_setups(tenant_a, tenant_b):
    with tenant_a.scope():
        a_before = setup_fingerprint(tenant_a.organization.pk)
    with tenant_b.scope():
        b_before = setup_fingerprint(tenant_b.organization.pk)
    rule(tenant_b, "b only", ALWAYS, [{"type": "add_tags", "tags": ["b"]}])
    with tenant_a.scope():
        assert setup_fingerprint(tenant_a.organization.pk) == a_before
        assert engine.ruleset(tenant_a.organization).rules("message_received") == []
    with tenant_b.scope():
        assert setup_fingerprint(tenant_b.organization.pk) != b_before
        assert [r.name for r in engine.ruleset(tenant_b.organization).rules("message_received")] == ["b only"]
