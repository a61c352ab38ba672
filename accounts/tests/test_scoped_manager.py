"""The tenant-scoped manager keeps each scope's filter once built (core/scoped_manager.py): what a query returns and
its SQL stay exactly what django-scopes gives, whichever organizations come and go, and what it keeps is bounded."""

import pytest
from django_scopes import ScopeError, scope, scopes_disabled

from accounts.models import Role
from core import scoped_manager

pytestmark = pytest.mark.django_db


def _keys(organization):
    with scope(organization=organization):
        return set(Role.objects.values_list("organization_id", flat=True))


def test_each_organization_sees_only_its_rows_however_scopes_alternate(tenant_a, tenant_b):
    a, b = tenant_a.organization, tenant_b.organization
    for _ in range(3):
        assert _keys(a) == {a.pk}
        assert _keys(b) == {b.pk}
    with scope(organization=b.pk):  # an id, as well as an instance
        assert set(Role.objects.values_list("organization_id", flat=True)) == {b.pk}


def test_the_sql_is_django_scopes_own(tenant_a):
    with scope(organization=tenant_a.organization):
        ours = str(Role.objects.filter(key="agent").query)
        theirs = str(Role._base_manager.filter(organization=tenant_a.organization).filter(key="agent").query)
    assert ours == theirs


def test_a_query_built_on_the_kept_filter_does_not_change_it(tenant_a):
    with scope(organization=tenant_a.organization):
        everything = Role.objects.count()
        assert Role.objects.filter(key="no-such-role").count() == 0
        assert Role.objects.exclude(key="agent").count() < everything
        assert Role.objects.count() == everything


def test_no_scope_disabled_scopes_and_lists_are_django_scopes_paths(tenant_a, tenant_b):
    with pytest.raises(ScopeError):
        Role.objects.count()
    with scopes_disabled():
        assert {tenant_a.organization.pk, tenant_b.organization.pk} <= set(
            Role.objects.values_list("organization_id", flat=True)
        )
    with scope(organization=[tenant_a.organization, tenant_b.organization]):
        assert set(Role.objects.values_list("organization_id", flat=True)) == {
            tenant_a.organization.pk,
            tenant_b.organization.pk,
        }


def test_what_a_manager_keeps_is_bounded(tenant_a):
    for organization_id in range(10_000, 10_000 + scoped_manager.SCOPE_QUERIES + 50):
        with scope(organization=organization_id):
            Role.objects.all()
    assert len(Role.objects._scope_queries) == scoped_manager.SCOPE_QUERIES
