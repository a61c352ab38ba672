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


def members_who_see_connection(connection_id: int, memberships: list[Membership]) -> set[int]:
    """The user ids among `memberships` who may see the connection's tickets — the same answer as
    `connections_visible_to` for each of them (tickets.view_all, or a grant to them or to one of their teams), in one
    statement for all of them. Routing asks this for every candidate agent of every ticket, so it is plain SQL: the
    ORM took ~30 times longer to build the query than PostgreSQL to answer it."""
    allowed = {m.user_id for m in memberships if m.has(Capability.TICKETS_VIEW_ALL)}
    others = [m.user_id for m in memberships if m.user_id not in allowed]
    if not others:
        return allowed
    app_label, codename = VIEW_CONNECTION.split(".")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH perm AS (
                SELECT p.id FROM auth_permission p JOIN django_content_type ct ON ct.id = p.content_type_id
                WHERE ct.app_label = %s AND p.codename = %s
            )
            SELECT u.user_id FROM guardian_userobjectpermission u
            WHERE u.permission_id IN (SELECT id FROM perm) AND u.object_pk = %s AND u.user_id = ANY(%s)
            UNION
            SELECT ug.user_id FROM accounts_user_groups ug
            JOIN guardian_groupobjectpermission g ON g.group_id = ug.group_id
            WHERE g.permission_id IN (SELECT id FROM perm) AND g.object_pk = %s AND ug.user_id = ANY(%s)
            """,
            [app_label, codename, str(connection_id), others, str(connection_id), others],
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
