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
    from tickets.services.ingest import message_ingest
    from tickets.tests.factories import connection, inbound

    conn = connection(tenant)
    with scope(organization=tenant.organization):
        message, _created = message_ingest(
            organization=tenant.organization,
            connection=conn,
            inbound=inbound(f"Secret ticket {tenant.slug}", thread=f"iso-{timezone.now().timestamp()}"),
        )
        return message.ticket_id


OBJECT_MAKERS["ticket_id"] = _ticket


def _contact(tenant):
    from tickets.services.ingest import message_ingest
    from tickets.tests.factories import connection, inbound

    conn = connection(tenant)
    stamp = timezone.now().timestamp()
    with scope(organization=tenant.organization):
        message, _created = message_ingest(
            organization=tenant.organization,
            connection=conn,
            inbound=inbound(
                f"Secret contact ticket {tenant.slug}",
                thread=f"iso-contact-{stamp}",
                author=f"iso-contact-{stamp}",
                name=f"Secret contact {tenant.slug}",
            ),
        )
        return message.ticket.contact_id


def _tag(tenant):
    from tickets.tags import tag_create

    with scope(organization=tenant.organization):
        return tag_create(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            name=f"Secret tag {tenant.slug} {timezone.now().timestamp()}",
        ).pk


def _canned(tenant):
    from tickets.canned import canned_response_create

    with scope(organization=tenant.organization):
        return canned_response_create(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            actor_membership=tenant.memberships["owner"],
            title=f"Secret canned {tenant.slug}",
            shortcut=f"secret-{int(timezone.now().timestamp() * 1e6)}",
            variants=[{"language": "ja", "body": f"Secret canned body {tenant.slug} {{{{contact.name}}}}"}],
            shared=True,
        ).pk


def _saved_view(tenant):
    from tickets.saved_views import saved_view_create

    with scope(organization=tenant.organization):
        return saved_view_create(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            actor_membership=tenant.memberships["owner"],
            name=f"Secret view {tenant.slug}",
            filters={"status": ["open"]},
            shared=True,
        ).pk


OBJECT_MAKERS["contact_id"] = _contact
OBJECT_MAKERS["tag_id"] = _tag
OBJECT_MAKERS["canned_id"] = _canned
OBJECT_MAKERS["view_id"] = _saved_view


def _message(tenant):
    """A customer message in a ticket of its own."""
    from tickets.models import Message

    ticket_id = _ticket(tenant)
    with scope(organization=tenant.organization):
        return Message.objects.filter(ticket_id=ticket_id).values_list("pk", flat=True).first()


OBJECT_MAKERS["message_id"] = _message


def _attachment(tenant):
    """A stored image on a customer message in a ticket of its own (the file lands in MEDIA_ROOT)."""
    from django.core.files.base import ContentFile

    from tickets.models import Attachment, Message

    message_id = _message(tenant)
    with scope(organization=tenant.organization):
        attachment = Attachment(
            organization=tenant.organization,
            message=Message.objects.get(pk=message_id),
            filename=f"secret-{tenant.slug}.png",
            content_type="image/png",
            size=11,
        )
        # ASCII bytes: the isolation test reads every GET response as UTF-8 text to look for B's names.
        attachment.file.save("secret.png", ContentFile(b"image bytes"), save=True)
        return attachment.pk


OBJECT_MAKERS["attachment_id"] = _attachment


def _connection(tenant):
    from channels_integrations.models import ChannelConnection

    with scope(organization=tenant.organization):
        return ChannelConnection.objects.create(
            organization=tenant.organization,
            platform="facebook",
            display_name=f"Secret page {tenant.slug}",
            external_account_id=f"secret-{tenant.slug}-{timezone.now().timestamp()}",
        ).pk


def _event(tenant):
    from channels_integrations.models import ChannelConnection, InboundEvent

    with scope(organization=tenant.organization):
        connection = ChannelConnection.objects.get(pk=_connection(tenant))
        return InboundEvent.objects.create(
            organization=tenant.organization,
            connection=connection,
            event_key=f"secret-{timezone.now().timestamp()}",
            payload=b'{"secret": "event"}',
            status="dead",
        ).pk


OBJECT_MAKERS["connection_id"] = _connection
OBJECT_MAKERS["event_id"] = _event


def _sla_calendar(tenant):
    from automation.models.sla import default_schedule
    from automation.sla.services import calendar_save

    with scope(organization=tenant.organization):
        return calendar_save(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            actor_membership=tenant.memberships["owner"],
            name=f"Secret calendar {tenant.slug} {timezone.now().timestamp()}",
            schedule=default_schedule(),
        ).pk


def _sla_closure(tenant):
    from datetime import timedelta

    from automation.models import BusinessCalendar
    from automation.sla.services import closure_add

    calendar_id = _sla_calendar(tenant)
    with scope(organization=tenant.organization):
        return closure_add(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            actor_membership=tenant.memberships["owner"],
            calendar=BusinessCalendar.objects.get(pk=calendar_id),
            name=f"Secret closure {tenant.slug}",
            starts_at=timezone.now(),
            ends_at=timezone.now() + timedelta(days=1),
        ).pk


def _sla_policy(tenant):
    from automation.sla.services import policy_save
    from channels_integrations.models import ChannelConnection

    connection_id = _connection(tenant)  # a channel of its own: one policy per priority and channel
    with scope(organization=tenant.organization):
        # Every member of the tenant may see the channel, and so its policy (the SLA pages hide the others').
        services.connection_access_set(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            connection=ChannelConnection.objects.get(pk=connection_id),
            users=list(tenant.users.values()),
        )
        return policy_save(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            actor_membership=tenant.memberships["owner"],
            name=f"Secret policy {tenant.slug} {timezone.now().timestamp()}",
            priority="urgent",
            connection=ChannelConnection.objects.get(pk=connection_id),
            first_response_minutes=30,
        ).pk


def _rule(tenant):
    from automation.rules.services import rule_create

    with scope(organization=tenant.organization):
        return rule_create(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            name=f"Secret rule {tenant.slug}",
            trigger="message_received",
            conditions={"all": []},
            actions=[{"type": "set_priority", "priority": "high"}],
        ).pk


OBJECT_MAKERS["calendar_id"] = _sla_calendar
OBJECT_MAKERS["closure_id"] = _sla_closure
OBJECT_MAKERS["policy_id"] = _sla_policy
OBJECT_MAKERS["rule_id"] = _rule


def _listening_monitor(tenant):
    from analytics.listening.services import monitor_save

    with scope(organization=tenant.organization):
        return monitor_save(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            name=f"Secret monitor {tenant.slug} {timezone.now().timestamp()}",
            kind="brand",
            terms=["ツナグ"],
            excluded_terms=[],
            platforms=[],
            active=True,
        ).pk


def _listening_mention(tenant):
    from analytics.listening.models import Monitor
    from analytics.listening.tests.factories import mention
    from channels_integrations.models import ChannelConnection

    monitor_id = _listening_monitor(tenant)
    made = mention(tenant, [], text=f"Secret mention {tenant.slug}")
    with scope(organization=tenant.organization):
        # Every member of the tenant may see the mention's channel (the stream follows channel grants).
        services.connection_access_set(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            connection=ChannelConnection.objects.get(pk=made.connection_id),
            users=list(tenant.users.values()),
        )
        made.monitors.add(
            Monitor.objects.get(pk=monitor_id),
            through_defaults={"organization": tenant.organization, "posted_at": made.posted_at},
        )
    return made.pk


OBJECT_MAKERS["monitor_id"] = _listening_monitor
OBJECT_MAKERS["mention_id"] = _listening_mention


# Keywords that name no tenant object but a fixed value (the platform of a connect form): the same in every
# organization, so there is nothing of B's to reach through them.
PLAIN_VALUES = {"platform": "email"}


def _report_schedule(tenant):
    from analytics.reports.models import ReportSchedule
    from analytics.reports.services import schedule_save

    with scope(organization=tenant.organization):
        return schedule_save(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            schedule=ReportSchedule(
                name=f"Secret report {tenant.slug} {timezone.now().timestamp()}", page="overview", weekday=0, hour=9
            ),
            recipients=[tenant.users["owner"]],
        ).pk


OBJECT_MAKERS["schedule_id"] = _report_schedule


def _asset_version(tenant):
    """A stored file asset with a thumbnail (ASCII bytes both: the isolation test reads GET responses as text)."""
    from django.core.files.base import ContentFile
    from django.core.files.uploadedfile import SimpleUploadedFile

    from assets.services import asset_create

    with scope(organization=tenant.organization):
        asset = asset_create(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            title=f"Secret asset {tenant.slug}",
            file=SimpleUploadedFile("secret.txt", b"plain asset bytes"),
        )
        version = asset.current_version
        version.thumbnail.save("thumb.png", ContentFile(b"thumbnail bytes"), save=True)
        return version.pk


def _asset_upload(tenant, user=None):
    """A resumable upload in progress (only its uploader may address it)."""
    from assets.models import AssetUpload

    with scope(organization=tenant.organization):
        return AssetUpload.objects.create(
            organization=tenant.organization, created_by=user or tenant.users["owner"], length=10
        ).pk


OBJECT_MAKERS["version_id"] = _asset_version
OBJECT_MAKERS["upload_id"] = _asset_upload


def _asset(tenant):
    from assets.services import asset_create

    with scope(organization=tenant.organization):
        return asset_create(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            kind="snippet",
            title=f"Secret snippet {tenant.slug}",
            text="Secret pre-approved copy",
        ).pk


def _asset_collection(tenant):
    from assets.services import collection_create

    with scope(organization=tenant.organization):
        return collection_create(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            name=f"Secret collection {tenant.slug} {timezone.now().timestamp()}",
        ).pk


OBJECT_MAKERS["asset_id"] = _asset
OBJECT_MAKERS["collection_id"] = _asset_collection


def _contact_export(tenant, user=None):
    from tickets.models import ContactExport

    contact_id = OBJECT_MAKERS["contact_id"](tenant)
    with scope(organization=tenant.organization):
        return ContactExport.objects.create(
            organization=tenant.organization, contact_id=contact_id, requested_by=user or tenant.users["owner"]
        ).pk


OBJECT_MAKERS["export_id"] = _contact_export


# --- contacts (issue 21): objects addressed through their own contact(s), each with a ticket ---------------------


def _two_contacts(tenant):
    return OBJECT_MAKERS["contact_id"](tenant), OBJECT_MAKERS["contact_id"](tenant)


def _contact_identity(tenant):
    from tickets.models import ContactIdentity

    contact_id = OBJECT_MAKERS["contact_id"](tenant)
    with scope(organization=tenant.organization):
        return ContactIdentity.objects.get(contact_id=contact_id).pk


def _contact_merge(tenant):
    from tickets.models import Contact
    from tickets.services.contact_merge import contact_merge

    first, second = _two_contacts(tenant)
    with scope(organization=tenant.organization):
        return contact_merge(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            survivor=Contact.objects.get(pk=first),
            merged=Contact.objects.get(pk=second),
        ).pk


def _contact_suggestion(tenant):
    from tickets.models import Contact
    from tickets.services.contact_matching import suggestion_record

    first, second = _two_contacts(tenant)
    with scope(organization=tenant.organization):
        return suggestion_record(
            organization=tenant.organization,
            contact=Contact.objects.get(pk=first),
            other=Contact.objects.get(pk=second),
            reasons=["email"],
            score=1.0,
        ).pk


def _contact_attribute(tenant):
    from tickets.services.contacts import contact_attribute_define

    with scope(organization=tenant.organization):
        return contact_attribute_define(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            key=f"secret_{int(timezone.now().timestamp() * 1e6)}",
            label=f"Secret field {tenant.slug}",
        ).pk


def _webhook_subscription(tenant):
    from tickets.services.contact_webhooks import webhook_subscription_create

    with scope(organization=tenant.organization):
        return webhook_subscription_create(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            url=f"https://{tenant.slug}.example.com/secret-hook",
            events=["contact.created"],
        )[0].pk


OBJECT_MAKERS["identity_id"] = _contact_identity
OBJECT_MAKERS["merge_id"] = _contact_merge
OBJECT_MAKERS["suggestion_id"] = _contact_suggestion
OBJECT_MAKERS["attribute_id"] = _contact_attribute
OBJECT_MAKERS["subscription_id"] = _webhook_subscription


# --- contacts screens (inbox/contacts) ---------------------------------------------------------------------------


def _contact_segment(tenant):
    """A shared contact segment (shared: only members who manage rules delete it)."""
    from inbox.contacts.models import ContactSegment

    with scope(organization=tenant.organization):
        return ContactSegment.objects.create(
            organization=tenant.organization, name=f"Secret segment {tenant.slug}", filters={"vip": "1"}
        ).pk


OBJECT_MAKERS["segment_id"] = _contact_segment


def _approval_workflow(tenant):
    """A reply workflow whose one step names every role (so any member may open its requests)."""
    from accounts.roles import RoleKey
    from approvals.services.workflows import workflow_create, workflow_step_save

    with scope(organization=tenant.organization):
        workflow = workflow_create(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            name=f"Secret workflow {tenant.slug} {timezone.now().timestamp()}",
            kind="reply",
        )
        workflow_step_save(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            workflow=workflow,
            name=f"Secret step {tenant.slug}",
            roles=list(RoleKey.values),
        )
        return workflow.pk


def _approval_step(tenant):
    from approvals.models import WorkflowStep

    workflow_id = _approval_workflow(tenant)
    with scope(organization=tenant.organization):
        return WorkflowStep.objects.filter(workflow_id=workflow_id).values_list("pk", flat=True).first()


def _approval_request(tenant):
    """A pending approval request of a (stand-in) subject, submitted by the owner, approvable by every role."""
    from approvals.models import Workflow
    from approvals.services.engine import SubjectFacts, approval_submit

    workflow_id = _approval_workflow(tenant)
    subject_id = _team(tenant)
    with scope(organization=tenant.organization):
        from accounts.models import Team

        return approval_submit(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            subject=Team.objects.get(pk=subject_id),
            subject_version=1,
            facts=SubjectFacts(kind="reply", text=f"Secret approval {tenant.slug}"),
            workflow=Workflow.objects.get(pk=workflow_id),
        ).pk


OBJECT_MAKERS["workflow_id"] = _approval_workflow
OBJECT_MAKERS["step_id"] = _approval_step
OBJECT_MAKERS["request_id"] = _approval_request


def _post(tenant):
    from approvals.services.posts import post_save

    with scope(organization=tenant.organization):
        return post_save(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            title=f"Secret post {tenant.slug}",
            text=f"Secret launch {tenant.slug}",
        ).pk


def _crisis_template(tenant):
    from approvals.models import CrisisTemplate

    with scope(organization=tenant.organization):
        return CrisisTemplate.objects.create(
            organization=tenant.organization,
            name=f"Secret statement {tenant.slug}",
            text=f"Secret apology {tenant.slug}",
            created_by=tenant.users["owner"],
            approved_by=tenant.users["owner"],
            approved_at=timezone.now(),
        ).pk


def _post_import(tenant, user=None):
    """A CSV import of posts is addressed by whoever uploaded it (like an upload)."""
    from approvals.services.post_import import import_start

    with scope(organization=tenant.organization):
        return import_start(
            organization=tenant.organization, actor=user or tenant.users["owner"], data=b"text,channels\nx,y\n"
        )


OBJECT_MAKERS["post_id"] = _post
OBJECT_MAKERS["crisis_id"] = _crisis_template
OBJECT_MAKERS["import_id"] = _post_import
