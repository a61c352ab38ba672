"""The audit log page and its CSV export: readable columns, labelled details, filters, export, permissions, tenancy
and query budgets."""

import csv
import io
import itertools
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django.utils.translation import gettext

from accounts import services
from accounts.models import AuditAction, AuditEntry, Role
from accounts.roles import RoleKey

pytestmark = pytest.mark.django_db

A = AuditAction
_serial = itertools.count()


@pytest.fixture
def tenant(tenant_a):
    tenant_a.organization.default_language = "en"  # Asia/Tokyo stays the zone
    tenant_a.organization.save()
    return tenant_a


def _url(tenant, export=False) -> str:
    return f"/{tenant.slug}/settings/audit/" + ("export.csv" if export else "")


def _page(client, tenant, **params) -> str:
    response = client.get(_url(tenant), params)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _export(client, tenant, **params) -> list[list[str]]:
    response = client.get(_url(tenant, export=True), params)
    assert response.status_code == 200, response.status_code
    assert response.streaming and not response.is_async
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def _entry(tenant, action, *, actor=None, at=None, name="", changes=None) -> AuditEntry:
    with tenant.scope():
        return AuditEntry.objects.create(
            organization=tenant.organization,
            actor=actor,
            actor_email=getattr(actor, "email", ""),
            action=action,
            object_type="accounts.team" if name else "",
            object_id="999999" if name else "",  # a team that no longer exists: its stored name is shown
            object_repr=name,
            changes=changes or {},
            **({"created_at": at} if at else {}),
        )


def _team(tenant, name, actor="owner", members=()):
    with tenant.scope():
        return services.team_create(
            organization=tenant.organization, actor=tenant.users[actor], name=name, members=list(members)
        )


def test_columns_read_as_names_labels_links_and_labelled_fields(tenant, login):
    owner = tenant.users["owner"]
    with tenant.scope():
        services.organization_update(organization=tenant.organization, actor=owner, name="Renamed A")
    night = _team(tenant, "Night", members=[tenant.users["agent"], tenant.users["analyst"]])
    gone = _team(tenant, "Gone")
    with tenant.scope():
        services.team_delete(organization=tenant.organization, actor=owner, team=gone)
    _entry(tenant, A.CHANNEL_NEEDS_REAUTH, changes={"error": "token expired"})

    page = _page(login(owner), tenant)

    for raw in ("{'", "{&#x27;", "['", "[&#x27;", "None", "True", "False"):
        assert raw not in page, raw
    assert '<dl class="audit-details">' in page
    assert "<dt>Name</dt><dd>" in page and "Org ORG-A</span>" in page and "Renamed A</span>" in page
    assert f"<dt>Members</dt><dd>{tenant.users['agent'].email}, {tenant.users['analyst'].email}</dd>" in page
    assert "<dt>Error</dt><dd>token expired</dd>" in page
    assert "<td>Team created</td>" in page and "<td>team.created</td>" not in page  # the label, not the code
    assert owner.name in page and "System" in page
    assert f'href="/{tenant.slug}/settings/teams/{night.pk}/">Night</a>' in page  # still there: linked
    assert ">Gone</a>" not in page and "Gone" in page  # deleted: its stored name, no link


def test_filters_by_actor_and_action_and_offers_only_this_organizations_members(tenant, tenant_b, login):
    _team(tenant, "Night", actor="owner")
    _team(tenant, "Day", actor="admin")
    _entry(tenant, A.CHANNEL_NEEDS_REAUTH, name="Robot work")
    client = login(tenant.users["owner"])

    page = _page(client, tenant, actor=tenant.users["admin"].pk)
    assert "Day" in page and "Night" not in page and "Robot work" not in page
    page = _page(client, tenant, actor="system")
    assert "Robot work" in page and "Day" not in page and "Night" not in page
    page = _page(client, tenant, action="team.created")
    assert "Day" in page and "Night" in page and "Robot work" not in page
    page = _page(client, tenant, action="member.invited")
    assert "Day" not in page and "Night" not in page

    assert f'<option value="{tenant.users["agent"].pk}">' in page
    assert "org-b.test" not in page
    outsider = tenant_b.users["owner"].pk
    page = _page(client, tenant, actor=outsider)
    assert "Select a valid choice" in page
    assert client.get(_url(tenant, export=True), {"actor": outsider}).status_code == 400


def test_dates_are_days_in_the_viewers_zone_both_ends_included(tenant, login):
    _entry(tenant, A.TEAM_CREATED, name="Late evening", at=datetime(2024, 5, 1, 14, 30, tzinfo=UTC))  # 23:30 JST
    _entry(tenant, A.TEAM_CREATED, name="After midnight", at=datetime(2024, 5, 1, 15, 30, tzinfo=UTC))  # 00:30
    _entry(tenant, A.TEAM_CREATED, name="Next evening", at=datetime(2024, 5, 2, 14, 59, tzinfo=UTC))  # 23:59
    viewer = tenant.users["owner"]
    client = login(viewer)

    def shown(**params):
        page = _page(client, tenant, **params)
        return [n for n in ("Late evening", "After midnight", "Next evening") if n in page]

    assert shown(since="2024-05-02", until="2024-05-02") == ["After midnight", "Next evening"]
    assert shown(until="2024-05-01") == ["Late evening"]
    assert shown(since="2024-05-01", until="2024-05-01") == ["Late evening"]
    assert "2024-05-02 00:30:00" in _page(client, tenant)
    assert [row[5] for row in _export(client, tenant, since="2024-05-02")[1:]] == ["Next evening", "After midnight"]
    # A member with their own zone sees and filters in it.
    viewer.timezone = "UTC"
    viewer.save()
    assert shown(until="2024-05-01") == ["Late evening", "After midnight"]
    assert "2024-05-01 15:30:00" in _page(client, tenant)
    assert "The end date is before the start date." in _page(client, tenant, since="2024-05-02", until="2024-05-01")


def test_pagination_and_export_links_keep_the_filters(tenant, login):
    for i in range(51):
        _entry(tenant, A.TEAM_CREATED, name=f"Team {i}")
    _entry(tenant, A.TEAM_DELETED, name="Deleted one")
    client = login(tenant.users["owner"])

    page = _page(client, tenant, action="team.created")
    assert 'href="?action=team.created&amp;page=2"' in page
    assert f'href="/{tenant.slug}/settings/audit/export.csv?action=team.created"' in page
    assert '<select name="action"' in page and '<option value="team.created" selected>' in page
    second = _page(client, tenant, action="team.created", page=2)
    assert 'href="?action=team.created&amp;page=1"' in second and "Deleted one" not in second
    assert second.count("Team ") >= 1 and "Page 2 of 2" in second


def test_csv_export_is_escaped_filtered_and_translated(tenant, login):
    admin = tenant.users["admin"]
    admin.name = "-Mallory"
    admin.save()
    _team(tenant, '=HYPERLINK("http://evil.test","x")', actor="admin")
    _team(tenant, "@SUM(A1)", actor="owner")
    _entry(tenant, A.CHANNEL_NEEDS_REAUTH, name="+robot", changes={"error": "token expired"})
    client = login(tenant.users["owner"])

    rows = _export(client, tenant)
    assert rows[0] == [
        "When (Asia/Tokyo)",
        "Who",
        "Email address",
        "Action",
        "Object type",
        "Object",
        "Details",
        "IP address",
    ]
    by_object = {row[5]: row for row in rows[1:]}
    evil = by_object['\'=HYPERLINK("http://evil.test","x")']
    assert evil[1] == "'-Mallory" and evil[2] == admin.email and evil[3] == "Team created"
    assert "'@SUM(A1)" in by_object and "'+robot" in by_object
    assert by_object["'+robot"][1] == "System" and by_object["'+robot"][6] == "Error: token expired"
    for row in rows[1:]:
        assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row

    only_teams = _export(client, tenant, action="team.created", actor=admin.pk)
    assert [row[5] for row in only_teams[1:]] == [evil[5]]

    tenant.organization.default_language = "ja"
    tenant.organization.save()
    with translation.override("ja"):
        expected = gettext("IP address")
    assert expected != "IP address"  # the catalog has it: the header below is really translated
    assert _export(client, tenant)[0][-1] == expected


def test_csv_export_streams_under_asgi(tenant, login):
    _team(tenant, "Night")
    _entry(tenant, A.CHANNEL_NEEDS_REAUTH, name="=robot")
    owner = tenant.users["owner"]
    sync_body = b"".join(login(owner).get(_url(tenant, export=True)).streaming_content)

    async def run():
        client = AsyncClient()
        await client.aforce_login(owner, backend="django.contrib.auth.backends.ModelBackend")
        response = await client.get(_url(tenant, export=True))
        chunks = [chunk async for chunk in response.streaming_content]
        return response, chunks

    response, chunks = async_to_sync(run)()
    assert response.status_code == 200 and response.is_async  # an async iterator: ASGI sends it as it comes
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="audit-log-{tenant.slug}-')
    assert b"".join(chunks) == sync_body and b"'=robot" in sync_body


@pytest.mark.parametrize("role", [r.value for r in RoleKey])
def test_only_members_who_may_read_the_audit_log_see_or_export_it(role, tenant, login):
    client = login(tenant.users[role])
    allowed = role in {RoleKey.OWNER, RoleKey.ADMIN}
    for url in (_url(tenant), _url(tenant, export=True)):
        assert client.get(url).status_code == (200 if allowed else 403), url


def test_another_organizations_entries_never_appear(tenant, tenant_b, login):
    _team(tenant, "Night")
    _team(tenant_b, "Secret B team", members=[tenant_b.users["agent"]])
    _entry(tenant_b, A.CHANNEL_NEEDS_REAUTH, name="B robot")
    markers = ["Secret B team", "B robot", "org-b.test", tenant_b.organization.name]
    client = login(tenant.users["owner"])

    page = _page(client, tenant)
    rows = _export(client, tenant)
    for params in ({}, {"action": "team.created"}, {"actor": "system"}):
        text = _page(client, tenant, **params) + repr(_export(client, tenant, **params))
        for marker in markers:
            assert marker not in text, (params, marker)
    with tenant.scope():
        assert len(rows) - 1 == AuditEntry.objects.count()
    assert "Night" in page
    # B's own export has B's entries only.
    b_rows = _export(login(tenant_b.users["owner"]), tenant_b)
    assert "Secret B team" in {row[5] for row in b_rows} and "Night" not in {row[5] for row in b_rows}


def _count(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_page_and_export_cost_the_same_queries_whatever_the_number_of_entries(tenant, login):
    owner = tenant.users["owner"]
    client = login(owner)
    client.get(_url(tenant))  # the first visit records it as the member's last organization (one write)
    editor = tenant.memberships["editor"]
    with tenant.scope():
        roles = [Role.objects.get(key="agent"), Role.objects.get(key="editor")]

    def grow(n):
        # Entries of every kind the page resolves: teams (existing and gone), members, the organization, none.
        for _ in range(n):
            i = next(_serial)
            _team(tenant, f"T{i}")
            _entry(tenant, A.CHANNEL_NEEDS_REAUTH, name=f"Gone {i}", changes={"error": "x"})
            with tenant.scope():
                services.member_change_role(
                    organization=tenant.organization,
                    actor=owner,
                    actor_membership=tenant.memberships["owner"],
                    membership=editor,
                    role=roles[i % 2],
                )
                services.organization_update(organization=tenant.organization, actor=owner, ticket_reopen_days=i + 1)

    def page():
        assert client.get(_url(tenant)).status_code == 200

    def export():
        response = client.get(_url(tenant, export=True))
        assert len(b"".join(response.streaming_content).splitlines()) > 1

    grow(2)
    small_page, small_export = _count(page), _count(export)
    grow(12)
    assert _count(page) == small_page
    assert _count(export) == small_export
    assert small_page <= 14 and small_export <= 8, (small_page, small_export)
