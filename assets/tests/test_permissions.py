"""Rights by role (capabilities) and by collection (grants to a role or a team), as the services enforce them and
as the library shows them (agents see what they may use)."""

import pytest

from accounts import services as account_services
from assets.permissions import AssetAccess
from assets.selectors import assets_visible, collections_visible
from assets.services import (
    asset_approve,
    asset_archive,
    asset_create,
    asset_delete,
    asset_versions_for_use,
    collection_create,
    collection_grants_set,
)
from assets.tests.factories import make_snippet
from core.errors import DomainError, NotAllowed

pytestmark = pytest.mark.django_db

# role -> (use, upload, approve, delete) outside restricted collections, from the default role matrix.
BY_ROLE = {
    "owner": (True, True, True, True),
    "admin": (True, True, True, True),
    "manager": (True, True, True, True),
    "editor": (True, True, False, True),
    "approver": (True, False, True, False),
    "agent": (True, False, False, False),
    "analyst": (True, False, False, False),
}


@pytest.mark.parametrize("role", BY_ROLE)
def test_rights_by_role(role, tenant_a):
    use, upload, approve, delete = BY_ROLE[role]
    org, actor = tenant_a.organization, tenant_a.users[role]
    with tenant_a.scope():
        rights = AssetAccess.for_user(org, actor).rights(None)
        assert (rights.use, rights.upload, rights.approve, rights.delete) == BY_ROLE[role]
    asset = make_snippet(tenant_a, requires_approval=True)

    def attempt(action) -> bool:
        with tenant_a.scope():
            try:
                action()
            except NotAllowed:
                return False
        return True

    assert (
        attempt(lambda: asset_create(organization=org, actor=actor, kind="snippet", title="New", text="Copy")) == upload
    )
    assert attempt(lambda: asset_approve(organization=org, actor=actor, asset=asset)) == approve
    with tenant_a.scope():
        # Usable by anyone once approved; not before.
        if approve:
            usable = asset_versions_for_use(organization=org, actor=actor, version_ids=[asset.current_version_id])
            assert usable == [asset.current_version]
        else:
            with pytest.raises(DomainError):
                asset_versions_for_use(organization=org, actor=actor, version_ids=[asset.current_version_id])
    assert attempt(lambda: asset_archive(organization=org, actor=actor, asset=asset)) == upload
    assert attempt(lambda: asset_delete(organization=org, actor=actor, asset=asset)) == delete


@pytest.fixture
def support_team(tenant_a):
    with tenant_a.scope():
        return account_services.team_create(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            name="Support",
            members=[tenant_a.users["agent"]],
        )


def test_rights_by_collection(tenant_a, support_team):
    org, owner = tenant_a.organization, tenant_a.users["owner"]
    agent, editor, approver = tenant_a.users["agent"], tenant_a.users["editor"], tenant_a.users["approver"]
    with tenant_a.scope():
        legal = collection_create(organization=org, actor=owner, name="Legal")
        contracts = collection_create(organization=org, actor=owner, name="Contracts", parent=legal)
        templates = collection_create(organization=org, actor=owner, name="Support templates")
        open_folder = collection_create(organization=org, actor=owner, name="Campaigns")
        # Legal: only editors may use and upload there, and nobody but admins approve.
        collection_grants_set(
            organization=org, actor=owner, collection=legal, grants=[{"role_key": "editor", "can_upload": True}]
        )
        # Support templates: the support team (agents included) may upload its own templates.
        collection_grants_set(
            organization=org,
            actor=owner,
            collection=templates,
            grants=[{"team": support_team, "can_upload": True}, {"role_key": "approver", "can_approve": True}],
        )
        # Only admins set rights.
        with pytest.raises(NotAllowed):
            collection_grants_set(organization=org, actor=editor, collection=legal, grants=[])

        access = {user: AssetAccess.for_user(org, user) for user in (agent, editor, approver)}
        # A sub-collection follows its parent's grants.
        assert access[editor].rights(contracts.pk).upload
        assert not access[agent].rights(contracts.pk).use
        assert access[agent].rights(templates.pk).upload and not access[agent].rights(templates.pk).approve
        assert not access[editor].rights(templates.pk).use  # restricted, and editors are not granted
        assert access[approver].rights(templates.pk).approve and access[approver].rights(templates.pk).use
        assert access[agent].rights(open_folder.pk).use and not access[agent].rights(open_folder.pk).upload

        # The services follow.
        template = asset_create(
            organization=org, actor=agent, kind="template", title="Refund reply", text="Hello", collection=templates
        )
        with pytest.raises(NotAllowed):
            asset_create(organization=org, actor=agent, kind="snippet", title="x", text="y", collection=legal)
        contract = asset_create(
            organization=org, actor=editor, kind="snippet", title="NDA clause", text="z", collection=contracts
        )
        with pytest.raises(NotAllowed):
            asset_approve(organization=org, actor=approver, asset=contract)  # approver has no grant in Legal
        asset_approve(organization=org, actor=approver, asset=template)
        with pytest.raises(DomainError):
            asset_versions_for_use(organization=org, actor=agent, version_ids=[contract.current_version_id])

        # Agents see only what they may use; the library's collections likewise.
        visible = set(assets_visible(org, agent).values_list("title", flat=True))
        assert visible == {"Refund reply"}
        assert {c.name for c in collections_visible(org, agent)} == {"Support templates", "Campaigns"}
        assert {c.name for c in collections_visible(org, owner)} == {
            "Legal",
            "Contracts",
            "Support templates",
            "Campaigns",
        }


def test_agent_sees_only_usable_assets(tenant_a):
    make_snippet(tenant_a, title="Free to use")
    make_snippet(tenant_a, title="Needs approval", requires_approval=True)
    archived = make_snippet(tenant_a, title="Withdrawn")
    with tenant_a.scope():
        asset_archive(organization=tenant_a.organization, actor=tenant_a.users["owner"], asset=archived)
        agent_titles = set(
            assets_visible(tenant_a.organization, tenant_a.users["agent"]).values_list("title", flat=True)
        )
        editor_titles = set(
            assets_visible(tenant_a.organization, tenant_a.users["editor"]).values_list("title", flat=True)
        )
    assert agent_titles == {"Free to use"}
    assert editor_titles == {"Free to use", "Needs approval", "Withdrawn"}


def test_access_query_count_is_constant(tenant_a, support_team, django_assert_num_queries):
    org, owner = tenant_a.organization, tenant_a.users["owner"]
    with tenant_a.scope():
        for i in range(5):
            folder = collection_create(organization=org, actor=owner, name=f"Folder {i}")
            collection_grants_set(organization=org, actor=owner, collection=folder, grants=[{"team": support_team}])
        membership = tenant_a.memberships["agent"]
        with django_assert_num_queries(3):  # teams, collections, grants
            access = AssetAccess.for_member(membership)
        assert len(access.collection_ids("use")) == 5
