"""Invitations end to end, owner rules, team membership and channel visibility through object permissions."""

import re

import pytest
from django.core import mail
from django_scopes import scope

from accounts import services
from accounts.models import Membership, Role
from channels_integrations.models import ChannelConnection
from channels_integrations.permissions import connections_visible_to
from core.errors import Conflict, DomainError, NotAllowed

pytestmark = pytest.mark.django_db


def test_invitation_link_creates_the_account_and_membership(tenant_a, client, django_capture_on_commit_callbacks):
    owner = tenant_a.memberships["owner"]
    with django_capture_on_commit_callbacks(execute=True), tenant_a.scope():
        team = services.team_create(organization=tenant_a.organization, actor=owner.user, name="Support")
        services.invitation_create(
            organization=tenant_a.organization,
            actor=owner.user,
            actor_membership=owner,
            email="Hana@Example.com",
            role=Role.objects.get(key="agent"),
            teams=[team],
        )
    link = re.search(r"(/accounts/invitations/[\w-]+/)", mail.outbox[0].body).group(1)
    response = client.post(link, {"name": "Hana", "password1": "short", "password2": "short"})
    assert response.status_code == 400  # password policy applies
    response = client.post(
        link, {"name": "Hana", "password1": "plum blossom season", "password2": "plum blossom season"}
    )
    assert response.status_code == 302 and response["Location"] == f"/{tenant_a.slug}/"
    with tenant_a.scope():
        membership = Membership.objects.select_related("user", "role").get(user__email="hana@example.com")
        assert membership.role.key == "agent"
        assert list(team.group.user_set.values_list("email", flat=True)) == ["hana@example.com"]
    assert client.get(link).status_code == 404  # single use


def test_only_owners_touch_the_owner_role_and_one_owner_always_remains(tenant_a):
    org, admin, owner = tenant_a.organization, tenant_a.memberships["admin"], tenant_a.memberships["owner"]
    with tenant_a.scope():
        owner_role = Role.objects.get(key="owner")
        with pytest.raises(NotAllowed):
            services.member_change_role(
                organization=org,
                actor=admin.user,
                actor_membership=admin,
                membership=tenant_a.memberships["agent"],
                role=owner_role,
            )
        with pytest.raises(Conflict):
            services.member_remove(organization=org, actor=owner.user, actor_membership=owner, membership=owner)
        services.member_change_role(
            organization=org, actor=owner.user, actor_membership=owner, membership=admin, role=owner_role
        )
        services.member_remove(
            organization=org, actor=admin.user, actor_membership=Membership.objects.get(pk=admin.pk), membership=owner
        )
        assert not Membership.objects.filter(user=owner.user).exists()


def test_team_members_must_belong_to_the_organization(tenant_a, tenant_b):
    with tenant_a.scope(), pytest.raises(DomainError):
        services.team_create(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            name="Mixed",
            members=[tenant_b.users["agent"]],
        )


def _connection(tenant, name):
    with tenant.scope():
        return ChannelConnection.objects.create(
            organization=tenant.organization, platform="line", display_name=name, external_account_id=name
        )


def test_agents_see_only_channels_granted_to_them_or_their_team(tenant_a, tenant_b):
    org = tenant_a.organization
    owner = tenant_a.users["owner"]
    direct, via_team, hidden = (_connection(tenant_a, n) for n in ("direct", "team", "hidden"))
    other_org = _connection(tenant_b, "other")
    with tenant_a.scope():
        team = services.team_create(organization=org, actor=owner, name="LINE team", members=[tenant_a.users["agent"]])
        services.connection_access_set(
            organization=org, actor=owner, connection=direct, users=[tenant_a.users["agent"]]
        )
        services.connection_access_set(organization=org, actor=owner, connection=via_team, teams=[team])
        agent_sees = set(connections_visible_to(tenant_a.memberships["agent"]).values_list("display_name", flat=True))
        manager_sees = set(
            connections_visible_to(tenant_a.memberships["manager"]).values_list("display_name", flat=True)
        )
        editor_sees = set(connections_visible_to(tenant_a.memberships["editor"]).values_list("display_name", flat=True))
    assert agent_sees == {"direct", "team"}
    assert manager_sees == {"direct", "team", "hidden"}
    assert editor_sees == set()
    # A grant in B never widens anything in A.
    with scope(organization=tenant_b.organization):
        services.connection_access_set(
            organization=tenant_b.organization,
            actor=tenant_b.users["owner"],
            connection=other_org,
            users=[tenant_b.users["agent"]],
        )
        assert set(connections_visible_to(tenant_b.memberships["agent"]).values_list("display_name", flat=True)) == {
            "other"
        }
    # Leaving the team, or the organization, takes the access away.
    with tenant_a.scope():
        services.team_update(organization=org, actor=owner, team=team, members=[])
        assert set(connections_visible_to(tenant_a.memberships["agent"]).values_list("display_name", flat=True)) == {
            "direct"
        }
        services.member_remove(
            organization=org,
            actor=owner,
            actor_membership=tenant_a.memberships["owner"],
            membership=tenant_a.memberships["agent"],
        )
        from guardian.models import UserObjectPermission

        assert not UserObjectPermission.objects.filter(user=tenant_a.users["agent"]).exists()


def test_a_person_in_two_organizations_switches_between_them(tenant_a, tenant_b, login):
    from conftest import add_member

    person = tenant_a.users["agent"]
    add_member(tenant_b.organization, person, "manager")
    client = login(person)
    page = client.get(f"/{tenant_b.slug}/").content.decode()
    assert tenant_a.organization.name in page and tenant_b.organization.name in page  # the switcher lists both
    assert client.get("/").headers["Location"] == f"/{tenant_b.slug}/"  # "/" returns to the last one
    client.get(f"/{tenant_a.slug}/")
    assert client.get("/").headers["Location"] == f"/{tenant_a.slug}/"


def test_members_who_see_a_connection_agrees_with_each_members_visible_connections(tenant_a):
    """The one-statement reverse lookup routing uses gives the same answer as `connections_visible_to` per member:
    view-all roles, direct grants, team grants, and nobody else."""
    from accounts import services as account_services
    from accounts.models import Membership
    from channels_integrations.permissions import connections_visible_to, members_who_see_connection
    from conftest import add_member, make_user
    from tickets.tests.factories import connection

    shared, other = connection(tenant_a), connection(tenant_a)
    direct, teamed, nobody = (make_user(f"{n}@org-a.test") for n in ("direct", "teamed", "nobody"))
    for user in (direct, teamed, nobody):
        add_member(tenant_a.organization, user, "agent")
    with tenant_a.scope():
        team = account_services.team_create(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], name="Night", members=[teamed]
        )
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=shared, users=[direct]
        )
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=other, teams=[team]
        )
        members = list(Membership.objects.select_related("role"))
        for conn in (shared, other):
            expected = {m.user_id for m in members if connections_visible_to(m).filter(pk=conn.pk).exists()}
            assert members_who_see_connection(conn.pk, members) == expected
        assert direct.pk in members_who_see_connection(shared.pk, members)
        assert teamed.pk not in members_who_see_connection(shared.pk, members)
        assert teamed.pk in members_who_see_connection(other.pk, members)
        assert nobody.pk not in members_who_see_connection(other.pk, members)
