"""Every per-process cache is bounded by a size setting, so a process's memory does not grow with the number of
organizations it serves (issue 22, item 8). The intake's own memories (resolved webhook accounts, woken
connections) are tested in channels_integrations/tests/test_intake_memory.py."""

import pytest

from automation import setup_cache
from automation.setup_cache import cached_setup
from core.batch_reads import batch_reads

pytestmark = pytest.mark.django_db


def test_the_automation_setups_kept_are_bounded_by_their_setting_least_recently_used_first(
    tenant_a, tenant_b, settings
):
    settings.AUTOMATION_SETUP_CACHE_ENTRIES = 3
    setup_cache._kept.clear()
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
    setup_cache._kept.clear()


def test_the_process_wide_function_caches_have_a_size():
    from channels_integrations import asgi
    from tickets import search

    for cached_function in (asgi._resolve, asgi._webhook_resolver, search._nouns):
        assert cached_function.cache_info().maxsize is not None
