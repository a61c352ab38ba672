"""Every per-process cache is bounded by a size setting, so a process's memory does not grow with the number of
organizations it serves (issue 22, item 8). The intake's own memories (resolved webhook accounts, woken
connections) are tested in channels_integrations/tests/test_intake_memory.py."""

import pytest

from automation import setup_cache
from automation.setup_cache import cached_setup, kept_bytes, size_of
from core.batch_reads import batch_reads

pytestmark = pytest.mark.django_db


def test_the_automation_setups_kept_are_bounded_by_their_setting_least_recently_used_first(
    tenant_a, tenant_b, settings
):
    settings.AUTOMATION_SETUP_CACHE_ENTRIES = 3
    setup_cache.forget_all()
    loads = []

    def kept(tenant, key):
        with tenant.scope(), batch_reads():
            return cached_setup(tenant.organization.pk, key, lambda: loads.append(key) or key)

    for key in ("a", "b", "c"):
        kept(tenant_a, key)
    kept(tenant_a, "a")  # used again: the least recently used is now "b"
    kept(tenant_b, "d")  # a fourth entry drops "b"
    assert len(setup_cache._kept) == 3
    assert {key for _org, key in setup_cache._kept} == {"a", "c", "d"}
    kept(tenant_a, "c")
    kept(tenant_a, "b")  # dropped: loaded again
    assert loads == ["a", "b", "c", "d", "b"]
    assert len(setup_cache._kept) == 3

    for n in range(50):  # many organizations' worth of entries: still three
        kept(tenant_b, f"x{n}")
    assert len(setup_cache._kept) == 3
    setup_cache.forget_all()


ENTRY = 30_000  # bytes each setup below holds


def test_the_automation_setups_kept_are_bounded_in_bytes_whatever_their_number(settings):
    """Entries differ a thousandfold in size (2 KB of rules for a bare organization, over 1 MB for 200 rules): the
    cache holds at most AUTOMATION_SETUP_CACHE_MB of them, however few entries that is."""
    settings.AUTOMATION_SETUP_CACHE_ENTRIES = 2000
    settings.AUTOMATION_SETUP_CACHE_MB = 0.1  # room for three entries of ENTRY bytes, not four
    budget = 0.1 * 2**20
    setup_cache.forget_all()
    # One entry per organization: the fingerprint query answers for any id, so N+1 organizations need no rows.
    organizations = [10_000_000 + n for n in range(20)]
    for organization_id in organizations:
        with batch_reads():
            value = cached_setup(organization_id, "ruleset", lambda: bytes(ENTRY))
        assert len(value) == ENTRY
        assert kept_bytes() <= budget
    assert [org for org, _key in setup_cache._kept] == organizations[-3:]  # the most recently used
    assert kept_bytes() == sum(size for _fingerprint, _value, size in setup_cache._kept.values())
    assert 3 * ENTRY <= kept_bytes() <= 3 * ENTRY + 1000

    with batch_reads():  # larger than the whole budget: returned, never kept
        assert len(cached_setup(organizations[0], "huge", lambda: bytes(int(budget) + 1))) == int(budget) + 1
    assert (organizations[0], "huge") not in setup_cache._kept
    assert kept_bytes() <= budget
    setup_cache.forget_all()
    assert kept_bytes() == 0


def test_an_entry_is_measured_with_what_its_functions_hold_but_not_their_module():
    held = bytes(100_000)

    def predicate():  # a compiled rule's condition closes over its data
        return held

    assert size_of(predicate) >= 100_000
    assert size_of([predicate, predicate, held]) < 100_000 + 5_000  # counted once
    assert size_of(lambda: None) < 5_000  # not the module, its globals or the code


def test_a_compiled_rule_set_is_measured_by_its_rules(tenant_a):
    from automation.rules import engine
    from automation.tests.rules.test_engine import rule

    with tenant_a.scope():
        empty = size_of(engine._ruleset(tenant_a.organization))
    for n in range(20):
        keywords = [f"キーワード{n}-{k}" for k in range(20)]
        rule(
            tenant_a,
            f"r{n}",
            {"all": [{"field": "message.text", "op": "contains_any", "value": keywords}]},
            [{"type": "add_tags", "tags": [f"t{n}"]}],
        )
    with tenant_a.scope():
        assert size_of(engine._ruleset(tenant_a.organization)) > empty + 20 * 1_000


def test_the_process_wide_function_caches_have_a_size():
    from channels_integrations import asgi
    from tickets import search

    for cached_function in (asgi._resolve, asgi._webhook_resolver, search._nouns):
        assert cached_function.cache_info().maxsize is not None
