"""Which channel connections — and so which tickets, contacts and identities — a member may see: every one with
`tickets.view_all`, else those granted to them or to one of their teams (django-guardian, through
accounts.permissions.objects_granted). The one helper pages, API, search, notifications, exports and real time use."""

from django.db import connection
from django.db.models import QuerySet
from guardian.models import UserObjectPermission

from accounts.models import Membership
from accounts.permissions import VIEW_CONNECTION, objects_granted
from accounts.roles import Capability
from channels_integrations.models import ChannelConnection


def connections_visible_to(membership: Membership) -> QuerySet:
    """Channel connections whose tickets the member may see: all of them with `tickets.view_all`, else the
    ones granted to them or their teams."""
    connections = ChannelConnection.objects.filter(organization=membership.organization_id)
    if membership.has(Capability.TICKETS_VIEW_ALL):
        return connections
    return objects_granted(membership, VIEW_CONNECTION, connections)


def granted_sql(user_id: str) -> str:
    """An SQL condition: the user in column `user_id` was granted the connection `%(grant_connection)s`, directly or
    through one of their teams (what `objects_granted` answers, without tickets.view_all). Its named parameters come
    from `granted_params`. `members_who_see_connection` runs it alone; routing puts it inside its decision's
    statement. The one place this rule is written in SQL."""
    return f"""(EXISTS (
            SELECT 1 FROM guardian_userobjectpermission up
            JOIN auth_permission p ON p.id = up.permission_id JOIN django_content_type ct ON ct.id = p.content_type_id
            WHERE up.user_id = {user_id} AND up.object_pk = %(grant_connection)s
              AND ct.app_label = %(grant_app)s AND p.codename = %(grant_codename)s)
        OR EXISTS (
            SELECT 1 FROM accounts_user_groups ug
            JOIN guardian_groupobjectpermission gp ON gp.group_id = ug.group_id
            JOIN auth_permission p ON p.id = gp.permission_id JOIN django_content_type ct ON ct.id = p.content_type_id
            WHERE ug.user_id = {user_id} AND gp.object_pk = %(grant_connection)s
              AND ct.app_label = %(grant_app)s AND p.codename = %(grant_codename)s))"""


def granted_params(connection_id: int) -> dict:
    app_label, codename = VIEW_CONNECTION.split(".")
    return {"grant_connection": str(connection_id), "grant_app": app_label, "grant_codename": codename}


def members_who_see_connection(connection_id: int, memberships: list[Membership]) -> set[int]:
    """The user ids among `memberships` who may see the connection's tickets — the same answer as
    `connections_visible_to` for each of them (tickets.view_all, or a grant to them or to one of their teams), in one
    statement for all of them. Plain SQL: the ORM took ~30 times longer to build the query than PostgreSQL to
    answer it."""
    allowed = {m.user_id for m in memberships if m.has(Capability.TICKETS_VIEW_ALL)}
    others = [m.user_id for m in memberships if m.user_id not in allowed]
    if not others:
        return allowed
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT u.id FROM unnest(%(users)s::bigint[]) AS u(id) WHERE {granted_sql('u.id')}",
            {"users": others, **granted_params(connection_id)},
        )
        return allowed | {row[0] for row in cursor.fetchall()}


def connection_grants_revoke(organization, user) -> None:
    """A member leaves the organization: the channel access granted to them there goes (accounts.hooks)."""
    connection_ids = [
        str(pk) for pk in ChannelConnection.objects.filter(organization=organization).values_list("pk", flat=True)
    ]
    UserObjectPermission.objects.filter(
        user=user, content_type__app_label="channels_integrations", object_pk__in=connection_ids
    ).delete()
