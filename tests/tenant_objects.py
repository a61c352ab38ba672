"""How to make, inside a given tenant, the object a URL keyword argument names.

The tenant-isolation test fills every `<...:xxx_id>` of every organization route from here. A route whose keyword is
missing here makes that test fail with a message naming it: register a maker below, the test itself stays as is.
"""

from django.utils import timezone
from django_scopes import scope

from accounts import services
from accounts.models import Membership, Role


def _membership(tenant):
    return tenant.memberships["agent"].pk


def _team(tenant):
    with scope(organization=tenant.organization):
        return services.team_create(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            name=f"Secret team {tenant.slug} {timezone.now().timestamp()}",
            members=[tenant.users["agent"]],
        ).pk


def _invitation(tenant):
    with scope(organization=tenant.organization):
        owner = Membership.objects.get(user=tenant.users["owner"])
        invitation, _token = services.invitation_create(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            actor_membership=owner,
            email=f"invitee-{timezone.now().timestamp()}@{tenant.slug}.test",
            role=Role.objects.get(key="agent"),
        )
        return invitation.pk


def _token(tenant):
    with scope(organization=tenant.organization):
        token, _key = services.api_token_create(
            organization=tenant.organization, actor=tenant.users["owner"], name="iso"
        )
        return token.pk


OBJECT_MAKERS = {
    "membership_id": _membership,
    "team_id": _team,
    "invitation_id": _invitation,
    "token_id": _token,
}


def _ticket(tenant):
    from tickets import services as ticket_services
    from tickets.tests.factories import connection, inbound

    conn = connection(tenant)
    with scope(organization=tenant.organization):
        message, _created = ticket_services.message_ingest(
            organization=tenant.organization,
            connection=conn,
            inbound=inbound(f"Secret ticket {tenant.slug}", thread=f"iso-{timezone.now().timestamp()}"),
        )
        return message.ticket_id


OBJECT_MAKERS["ticket_id"] = _ticket
