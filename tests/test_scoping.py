"""The one scoping mechanism fails closed: tenant queries without an active organization raise."""

import pytest
from django.core import mail
from django_scopes import ScopeError, scope

from accounts.models import AuditEntry, Invitation, Membership, Role, Team
from channels_integrations.models import ChannelConnection

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [Membership, Role, Team, Invitation, AuditEntry, ChannelConnection])
def test_queries_without_a_scope_raise(model, tenant_a):
    with pytest.raises(ScopeError):
        list(model.objects.all())
    with pytest.raises(ScopeError):
        model.objects.count()


def test_every_tenant_model_is_scoped():
    # Any model with an `organization` foreign key must use the scoped manager.
    from django.apps import apps

    unscoped = []
    for model in apps.get_models():
        if any(f.name == "organization" for f in model._meta.fields):
            if not hasattr(model._default_manager, "with_scopes_disabled"):
                unscoped.append(model._meta.label)
    assert unscoped == []


def test_a_scope_shows_only_its_organization(tenant_a, tenant_b):
    with scope(organization=tenant_a.organization):
        assert {m.organization_id for m in Membership.objects.all()} == {tenant_a.organization.pk}


def test_tenant_task_runs_inside_the_organization_scope(tenant_a, django_capture_on_commit_callbacks):
    from accounts import services

    # The callbacks run when the outer block exits, after the caller's scope has closed.
    with django_capture_on_commit_callbacks(execute=True), tenant_a.scope():
        owner = Membership.objects.get(user=tenant_a.users["owner"])
        services.invitation_create(
            organization=tenant_a.organization,
            actor=owner.user,
            actor_membership=owner,
            email="new@example.com",
            role=Role.objects.get(key="agent"),
        )
    # The task ran (eagerly, after commit) inside the scope and rendered the invitation email.
    assert [m.to for m in mail.outbox] == [["new@example.com"]]
    assert "/accounts/invitations/" in mail.outbox[0].body


def test_tenant_task_refuses_to_run_without_an_organization(tenant_a):
    from accounts.tasks import send_invitation_email

    with pytest.raises(TypeError, match="organization_id"):
        send_invitation_email.apply(kwargs={"invitation_id": 1, "token": "x"}).get()
