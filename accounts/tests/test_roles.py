"""The permission matrix, role by role: every organization route and method, with the capability it needs."""

import json

import pytest
from django_scopes import scope

from accounts.roles import DEFAULT_MATRIX, Capability, RoleKey
from tests.tenant_objects import OBJECT_MAKERS, PLAIN_VALUES
from tests.urlwalk import org_routes

C = Capability
ANY = None  # any member

# (route name, method) -> capability required. Every organization route must be listed.
# API calls a token may not make (a token cannot create tokens): called signed in instead.
SESSION_ONLY = {("api:token-list", "POST")}

REQUIRED = {
    ("org:home", "GET"): ANY,
    ("org:settings", "GET"): C.ORG_MANAGE,
    ("org:settings", "POST"): C.ORG_MANAGE,
    ("org:members", "GET"): ANY,
    ("org:members", "POST"): C.MEMBERS_MANAGE,
    ("org:member_update", "POST"): C.MEMBERS_MANAGE,
    ("org:member_remove", "POST"): C.MEMBERS_MANAGE,
    ("org:invitation_revoke", "POST"): C.MEMBERS_MANAGE,
    ("org:teams", "GET"): ANY,
    ("org:teams", "POST"): C.MEMBERS_MANAGE,
    ("org:team_detail", "GET"): ANY,
    ("org:team_detail", "POST"): C.MEMBERS_MANAGE,
    ("org:team_delete", "POST"): C.MEMBERS_MANAGE,
    ("org:roles", "GET"): ANY,
    ("org:audit", "GET"): C.AUDIT_VIEW,
    ("org:audit_export", "GET"): C.AUDIT_VIEW,
    ("org:tokens", "GET"): ANY,
    ("org:tokens", "POST"): ANY,
    ("org:token_revoke", "POST"): ANY,
    ("org:inbox", "GET"): ANY,
    ("org:inbox_list", "GET"): ANY,
    ("org:inbox_views", "GET"): ANY,
    ("org:inbox_ticket", "GET"): ANY,
    ("org:ticket_conversation", "GET"): ANY,
    ("org:ticket_messages", "GET"): ANY,
    ("org:ticket_properties", "GET"): ANY,
    ("org:ticket_update", "POST"): C.TICKETS_WORK,
    ("org:ticket_note", "POST"): C.TICKETS_WORK,
    ("org:ticket_mentionable", "GET"): ANY,
    ("org:ticket_reply", "POST"): C.TICKETS_WORK,
    ("org:ticket_call_log", "POST"): C.TICKETS_WORK,
    ("org:inbox_bulk", "POST"): C.TICKETS_WORK,
    ("org:new_conversation", "GET"): C.TICKETS_WORK,
    ("org:ticket_snooze", "POST"): C.TICKETS_WORK,
    ("org:ticket_merge", "POST"): C.TICKETS_WORK,
    ("org:contact_edit", "POST"): C.TICKETS_WORK,
    ("org:message_split", "POST"): C.TICKETS_WORK,
    ("org:attachment", "GET"): ANY,  # a member who may see the ticket
    ("org:notifications", "GET"): ANY,
    ("org:notifications_read", "POST"): ANY,
    ("org:notification_settings", "GET"): ANY,
    ("org:notification_settings", "POST"): ANY,
    ("org:canned_list", "GET"): ANY,
    ("org:canned_list", "POST"): C.TICKETS_WORK,
    ("org:canned_edit", "GET"): ANY,
    ("org:canned_edit", "POST"): C.RULES_MANAGE,
    ("org:canned_delete", "POST"): C.RULES_MANAGE,
    ("org:retention_settings", "GET"): C.ORG_MANAGE,
    ("org:retention_settings", "POST"): C.ORG_MANAGE,
    ("org:contact_privacy", "GET"): C.DATA_EXPORT,  # of a contact the member can see
    ("org:contact_privacy_export", "POST"): C.DATA_EXPORT,
    ("org:contact_privacy_erase", "POST"): C.ORG_MANAGE,
    ("org:privacy_export_download", "GET"): C.DATA_EXPORT,  # the requester's own export
    ("org:channels", "GET"): C.CHANNELS_MANAGE,
    ("org:channel_connect_form", "GET"): C.CHANNELS_MANAGE,
    ("org:channel_connect_form", "POST"): C.CHANNELS_MANAGE,
    ("org:channel_choose", "GET"): C.CHANNELS_MANAGE,
    ("org:channel_choose", "POST"): C.CHANNELS_MANAGE,
    ("org:channel_connect", "GET"): C.CHANNELS_MANAGE,
    ("org:channel_detail", "GET"): C.CHANNELS_MANAGE,
    ("org:channel_detail", "POST"): C.CHANNELS_MANAGE,
    ("org:channel_status", "POST"): C.CHANNELS_MANAGE,
    ("org:channel_poll_now", "POST"): C.CHANNELS_MANAGE,
    ("org:channel_event_replay", "POST"): C.CHANNELS_MANAGE,
    ("org:availability", "POST"): C.TICKETS_WORK,
    ("org:rules_list", "GET"): C.RULES_MANAGE,
    ("org:rules_new", "GET"): C.RULES_MANAGE,
    ("org:rules_new", "POST"): C.RULES_MANAGE,
    ("org:rules_edit", "GET"): C.RULES_MANAGE,
    ("org:rules_edit", "POST"): C.RULES_MANAGE,
    ("org:rules_toggle", "POST"): C.RULES_MANAGE,
    ("org:rules_move", "POST"): C.RULES_MANAGE,
    ("org:rules_delete", "GET"): C.RULES_MANAGE,
    ("org:rules_delete", "POST"): C.RULES_MANAGE,
    ("org:rules_webhooks", "GET"): C.RULES_MANAGE,
    ("org:rules_webhook_secret", "POST"): C.RULES_MANAGE,
    ("org:rules_automation", "GET"): C.RULES_MANAGE,
    ("org:rules_automation", "POST"): C.RULES_MANAGE,
    # SLA targets and business hours are readable by every member (agents work to them); changing them is not.
    ("org:sla_settings", "GET"): ANY,
    ("org:sla_calendar_create", "GET"): C.RULES_MANAGE,
    ("org:sla_calendar_create", "POST"): C.RULES_MANAGE,
    ("org:sla_calendar_edit", "GET"): ANY,
    ("org:sla_calendar_edit", "POST"): C.RULES_MANAGE,
    ("org:sla_calendar_delete", "POST"): C.RULES_MANAGE,
    ("org:sla_closure_add", "POST"): C.RULES_MANAGE,
    ("org:sla_closure_delete", "POST"): C.RULES_MANAGE,
    ("org:sla_policy_create", "GET"): C.RULES_MANAGE,
    ("org:sla_policy_create", "POST"): C.RULES_MANAGE,
    ("org:sla_policy_edit", "GET"): ANY,
    ("org:sla_policy_edit", "POST"): C.RULES_MANAGE,
    ("org:sla_policy_delete", "POST"): C.RULES_MANAGE,
    ("api:role-list", "GET"): ANY,
    ("api:member-list", "GET"): ANY,
    ("api:member-detail", "GET"): ANY,
    ("api:member-detail", "PATCH"): C.MEMBERS_MANAGE,
    ("api:member-detail", "DELETE"): C.MEMBERS_MANAGE,
    ("api:team-list", "GET"): ANY,
    ("api:team-list", "POST"): C.MEMBERS_MANAGE,
    ("api:team-detail", "GET"): ANY,
    ("api:team-detail", "PATCH"): C.MEMBERS_MANAGE,
    ("api:team-detail", "DELETE"): C.MEMBERS_MANAGE,
    ("api:invitation-list", "GET"): C.MEMBERS_MANAGE,
    ("api:invitation-list", "POST"): C.MEMBERS_MANAGE,
    ("api:invitation-detail", "GET"): C.MEMBERS_MANAGE,
    ("api:invitation-detail", "DELETE"): C.MEMBERS_MANAGE,
    ("api:audit-list", "GET"): C.AUDIT_VIEW,
    ("api:token-list", "GET"): ANY,
    ("api:token-list", "POST"): ANY,
    ("api:token-detail", "GET"): ANY,
    ("api:token-detail", "DELETE"): ANY,
    ("api:ticket-list", "GET"): ANY,
    ("api:ticket-detail", "GET"): ANY,
    ("api:ticket-detail", "PATCH"): C.TICKETS_WORK,
    ("api:ticket-bulk", "POST"): C.TICKETS_WORK,
    ("api:ticket-messages", "GET"): ANY,
    ("api:intake-status", "GET"): ANY,
    ("api:ticket-list", "POST"): C.TICKETS_WORK,
    ("api:ticket-messages", "POST"): C.TICKETS_WORK,
    ("api:ticket-notes", "POST"): C.TICKETS_WORK,
    ("api:ticket-replies", "POST"): C.TICKETS_WORK,
    ("api:contact-list", "GET"): ANY,
    ("api:contact-detail", "GET"): ANY,
    ("api:contact-detail", "PATCH"): C.TICKETS_WORK,
    ("api:contact-export", "POST"): C.DATA_EXPORT,
    ("api:contact-erase", "POST"): C.ORG_MANAGE,
    ("api:privacy-export-detail", "GET"): C.DATA_EXPORT,
    ("api:privacy-export-download", "GET"): C.DATA_EXPORT,
    ("api:privacy-retention", "GET"): C.ORG_MANAGE,
    ("api:privacy-retention", "PUT"): C.ORG_MANAGE,
    ("api:tag-list", "GET"): ANY,
    ("api:tag-list", "POST"): C.TICKETS_WORK,
    ("api:tag-detail", "PATCH"): C.RULES_MANAGE,
    ("api:tag-detail", "DELETE"): C.RULES_MANAGE,
    ("api:canned-list", "GET"): ANY,
    ("api:canned-list", "POST"): C.TICKETS_WORK,  # a personal one; a shared one needs RULES_MANAGE
    ("api:canned-detail", "GET"): ANY,
    ("api:canned-detail", "PATCH"): C.RULES_MANAGE,  # the maker's canned response is shared
    ("api:canned-detail", "DELETE"): C.RULES_MANAGE,
    ("api:canned-render", "GET"): ANY,
    ("api:saved-view-list", "GET"): ANY,
    ("api:saved-view-list", "POST"): ANY,  # a personal one; a shared one needs RULES_MANAGE
    ("api:saved-view-detail", "PATCH"): C.RULES_MANAGE,  # the maker's view is shared
    ("api:saved-view-detail", "DELETE"): C.RULES_MANAGE,
    ("api:contact-list", "POST"): C.TICKETS_WORK,
    ("api:contact-identities", "GET"): ANY,
    ("api:contact-identities", "POST"): C.TICKETS_WORK,
    ("api:contact-identity-detail", "DELETE"): C.TICKETS_WORK,
    ("api:contact-merge", "POST"): C.TICKETS_WORK,
    ("api:contact-merges", "GET"): ANY,
    ("api:contact-merge-undo", "POST"): C.TICKETS_WORK,
    ("api:contact-suggestion-list", "GET"): ANY,
    ("api:contact-suggestion-merge", "POST"): C.TICKETS_WORK,
    ("api:contact-suggestion-dismiss", "POST"): C.TICKETS_WORK,
    ("api:contact-attribute-list", "GET"): ANY,
    ("api:contact-attribute-list", "POST"): C.ORG_MANAGE,
    ("api:contact-attribute-detail", "GET"): ANY,
    ("api:contact-attribute-detail", "PATCH"): C.ORG_MANAGE,
    ("api:contact-attribute-detail", "DELETE"): C.ORG_MANAGE,
    ("api:contact-settings", "GET"): ANY,
    ("api:contact-settings", "PATCH"): C.ORG_MANAGE,
    ("api:contact-webhook-list", "GET"): C.ORG_MANAGE,
    ("api:contact-webhook-list", "POST"): C.ORG_MANAGE,
    ("api:contact-webhook-detail", "GET"): C.ORG_MANAGE,
    ("api:contact-webhook-detail", "PATCH"): C.ORG_MANAGE,
    ("api:contact-webhook-detail", "DELETE"): C.ORG_MANAGE,
    ("api:contact-webhook-deliveries", "GET"): C.ORG_MANAGE,
    ("org:analytics_overview", "GET"): C.ANALYTICS_VIEW,
    ("org:analytics_channels", "GET"): C.ANALYTICS_VIEW,
    ("org:analytics_team", "GET"): C.ANALYTICS_VIEW,
    ("org:analytics_sla", "GET"): C.ANALYTICS_VIEW,
    ("org:analytics_sentiment", "GET"): C.ANALYTICS_VIEW,
    ("org:analytics_drilldown", "GET"): C.ANALYTICS_VIEW,
    ("org:csat_dashboard", "GET"): C.ANALYTICS_VIEW,
    ("org:csat_settings", "GET"): C.ANALYTICS_MANAGE,
    ("org:csat_settings", "POST"): C.ANALYTICS_MANAGE,
    ("org:reports_live", "GET"): C.ANALYTICS_VIEW,
    ("org:reports_live_panel", "GET"): C.ANALYTICS_VIEW,
    ("org:reports_export", "GET"): C.DATA_EXPORT,  # and analytics.view, which every role with data.export has
    ("org:reports_schedules", "GET"): C.ANALYTICS_VIEW,
    ("org:reports_schedule_create", "GET"): C.ANALYTICS_MANAGE,
    ("org:reports_schedule_create", "POST"): C.ANALYTICS_MANAGE,
    ("org:reports_schedule_edit", "GET"): C.ANALYTICS_MANAGE,
    ("org:reports_schedule_edit", "POST"): C.ANALYTICS_MANAGE,
    ("org:reports_schedule_delete", "POST"): C.ANALYTICS_MANAGE,
    ("org:listening_stream", "GET"): C.ANALYTICS_VIEW,
    ("org:listening_stream_new", "GET"): C.ANALYTICS_VIEW,
    ("org:listening_mention_ticket", "POST"): C.TICKETS_WORK,  # on a mention of a channel the member may see
    ("org:listening_share", "GET"): C.ANALYTICS_VIEW,
    ("org:listening_monitors", "GET"): C.ANALYTICS_VIEW,
    ("org:listening_monitor_new", "GET"): C.ANALYTICS_MANAGE,
    ("org:listening_monitor_new", "POST"): C.ANALYTICS_MANAGE,
    ("org:listening_monitor_edit", "GET"): C.ANALYTICS_MANAGE,
    ("org:listening_monitor_edit", "POST"): C.ANALYTICS_MANAGE,
    ("org:contacts", "GET"): ANY,  # the contacts of the channels the member sees
    ("org:contacts_bulk_tag", "POST"): C.TICKETS_WORK,
    ("org:contacts_export", "GET"): C.DATA_EXPORT,
    ("org:contacts_import", "GET"): C.TICKETS_VIEW_ALL,  # and tickets.work: a file may touch any contact
    ("org:contacts_import", "POST"): C.TICKETS_VIEW_ALL,
    ("org:contact_segment_create", "POST"): C.TICKETS_WORK,  # a personal one; a shared one needs RULES_MANAGE
    ("org:contact_segment_delete", "POST"): C.RULES_MANAGE,  # the maker's segment is shared
    ("org:contact_profile", "GET"): ANY,
    ("org:contact_profile", "POST"): C.TICKETS_WORK,
    ("org:contact_timeline", "GET"): ANY,
    ("org:contact_panel", "GET"): ANY,
    ("org:contact_suggestion_merge", "POST"): C.TICKETS_WORK,
    ("org:contact_suggestion_dismiss", "POST"): C.TICKETS_WORK,
    ("org:contact_merge_undo", "POST"): C.TICKETS_WORK,
    ("org:contact_attributes", "GET"): C.ORG_MANAGE,
    ("org:contact_attributes", "POST"): C.ORG_MANAGE,
    ("org:contact_attribute_edit", "GET"): C.ORG_MANAGE,
    ("org:contact_attribute_edit", "POST"): C.ORG_MANAGE,
    ("org:contact_attribute_delete", "POST"): C.ORG_MANAGE,
    ("org:asset_file", "GET"): ANY,  # a member who may see the asset
    ("org:asset_thumbnail", "GET"): ANY,
    ("org:asset_upload", "POST"): C.ASSETS_MANAGE,  # or an upload grant on a collection
    ("org:asset_upload_resource", "POST"): C.ASSETS_MANAGE,
    ("api:asset-list", "GET"): ANY,  # what the member may see
    ("api:asset-list", "POST"): C.ASSETS_MANAGE,  # or an upload grant on a collection
    ("api:asset-detail", "GET"): ANY,
    ("api:asset-detail", "PATCH"): C.ASSETS_MANAGE,
    ("api:asset-detail", "DELETE"): C.ASSETS_MANAGE,
    ("api:asset-versions", "GET"): ANY,
    ("api:asset-versions", "POST"): C.ASSETS_MANAGE,
    ("api:asset-usages", "GET"): ANY,
    ("api:asset-approve", "POST"): C.ASSETS_APPROVE,
    ("api:asset-archive", "POST"): C.ASSETS_MANAGE,
    ("api:asset-version-detail", "GET"): ANY,
    ("api:asset-version-restore", "POST"): C.ASSETS_MANAGE,
    ("org:asset_library", "GET"): ANY,  # every member uses the library (agents see what they may use)
    ("org:asset_uploaded", "GET"): ANY,  # the member's own finished uploads
    ("org:asset_bulk_tag", "POST"): C.ASSETS_MANAGE,  # or an upload grant on a collection
    ("org:asset_new_text", "GET"): C.ASSETS_MANAGE,
    ("org:asset_new_text", "POST"): C.ASSETS_MANAGE,
    ("org:asset_picker", "GET"): ANY,
    ("org:asset_collections", "GET"): C.ASSETS_MANAGE,
    ("org:asset_collections", "POST"): C.ASSETS_MANAGE,
    ("org:asset_collection", "GET"): C.ASSETS_MANAGE,
    ("org:asset_collection", "POST"): C.ASSETS_MANAGE,
    ("org:asset_collection_rights", "POST"): C.ORG_MANAGE,
    ("org:asset_collection_delete", "POST"): C.ASSETS_MANAGE,
    ("org:asset_detail", "GET"): ANY,
    ("org:asset_detail", "POST"): C.ASSETS_MANAGE,
    ("org:asset_version", "GET"): ANY,
    ("org:asset_version_new", "POST"): C.ASSETS_MANAGE,
    ("org:asset_version_restore", "POST"): C.ASSETS_MANAGE,
    ("org:asset_compare", "GET"): ANY,
    ("org:asset_approve", "POST"): C.ASSETS_APPROVE,
    ("org:asset_archive", "POST"): C.ASSETS_MANAGE,  # approvers approve; archiving is organizing the library
    ("org:asset_unarchive", "POST"): C.ASSETS_MANAGE,
    ("org:asset_delete", "POST"): C.ASSETS_MANAGE,
    # Approvals: the queue and a request (its approvers, author and administrators see it), a held reply's actions
    # (the services decide who may), the workflow settings (a policy, like rules).
    ("org:approval_queue", "GET"): ANY,
    ("org:approval_request", "GET"): ANY,  # the maker's step names every role
    ("org:approval_request", "POST"): ANY,
    ("org:reply_approve", "POST"): ANY,
    ("org:reply_return", "POST"): ANY,
    ("org:reply_edit", "POST"): ANY,
    ("org:reply_send", "POST"): ANY,
    ("org:approval_workflows", "GET"): C.RULES_MANAGE,
    ("org:approval_workflow_create", "GET"): C.RULES_MANAGE,
    ("org:approval_workflow_create", "POST"): C.RULES_MANAGE,
    ("org:approval_workflow_edit", "GET"): C.RULES_MANAGE,
    ("org:approval_workflow_edit", "POST"): C.RULES_MANAGE,
    ("org:approval_workflow_delete", "POST"): C.RULES_MANAGE,
    ("org:approval_step_create", "GET"): C.RULES_MANAGE,
    ("org:approval_step_create", "POST"): C.RULES_MANAGE,
    ("org:approval_step_edit", "GET"): C.RULES_MANAGE,
    ("org:approval_step_edit", "POST"): C.RULES_MANAGE,
    ("org:approval_step_delete", "POST"): C.RULES_MANAGE,
    # Posts (issue 20): writers (posts.create) and reviewers (posts.approve) both see posts, the calendar, comments;
    # only writers compose, import and move them; a crisis statement is approved by a reviewer.
    ("org:post_list", "GET"): (C.POSTS_CREATE, C.POSTS_APPROVE),
    ("org:post_new", "GET"): C.POSTS_CREATE,
    ("org:post_new", "POST"): C.POSTS_CREATE,
    ("org:post_check", "POST"): C.POSTS_CREATE,
    ("org:post_calendar", "GET"): (C.POSTS_CREATE, C.POSTS_APPROVE),
    ("org:post_calendar_feed", "GET"): (C.POSTS_CREATE, C.POSTS_APPROVE),
    ("org:post_import", "GET"): C.POSTS_CREATE,
    ("org:post_import", "POST"): C.POSTS_CREATE,
    ("org:post_import_status", "GET"): C.POSTS_CREATE,
    ("org:post_import_confirm", "POST"): C.POSTS_CREATE,
    ("org:crisis_templates", "GET"): (C.POSTS_CREATE, C.POSTS_APPROVE),
    ("org:crisis_templates", "POST"): (C.POSTS_CREATE, C.POSTS_APPROVE),
    ("org:crisis_template_approve", "POST"): C.POSTS_APPROVE,
    ("org:crisis_template_publish", "POST"): (C.POSTS_CREATE, C.POSTS_APPROVE),  # the statement names the roles
    ("org:post_detail", "GET"): (C.POSTS_CREATE, C.POSTS_APPROVE),
    ("org:post_edit", "GET"): C.POSTS_CREATE,
    ("org:post_edit", "POST"): C.POSTS_CREATE,
    ("org:post_submit", "POST"): C.POSTS_CREATE,
    ("org:post_decide", "POST"): (C.POSTS_CREATE, C.POSTS_APPROVE),  # the workflow's step names the approvers
    ("org:post_comment", "POST"): (C.POSTS_CREATE, C.POSTS_APPROVE),
    ("org:post_reschedule", "POST"): C.POSTS_CREATE,
}
ROUTES = {r.name: r for r in org_routes()}
CASES = [(role.value, name, method) for (name, method) in REQUIRED for role in RoleKey]


def test_every_organization_route_is_in_the_matrix():
    listed = {name for name, _method in REQUIRED}
    assert listed == set(ROUTES), set(ROUTES) ^ listed


def test_matrix_shape():
    # Owners can do everything; only owners manage owners; agents work tickets but manage nothing.
    assert DEFAULT_MATRIX[RoleKey.OWNER] == frozenset(Capability)
    assert C.OWNERS_MANAGE not in DEFAULT_MATRIX[RoleKey.ADMIN]
    assert DEFAULT_MATRIX[RoleKey.AGENT] == {C.TICKETS_WORK}
    assert C.POSTS_APPROVE in DEFAULT_MATRIX[RoleKey.APPROVER] and C.POSTS_APPROVE not in DEFAULT_MATRIX[RoleKey.EDITOR]
    assert C.ANALYTICS_VIEW in DEFAULT_MATRIX[RoleKey.ANALYST] and C.TICKETS_WORK not in DEFAULT_MATRIX[RoleKey.ANALYST]


def _body(name: str, tenant) -> dict:
    if name in {"org:members", "api:invitation-list"}:
        return {"email": "new.person@example.com", "role": "agent"}
    if name in {"org:member_update", "api:member-detail"}:
        with scope(organization=tenant.organization):
            from accounts.models import Role

            return {"role": Role.objects.get(key="editor").pk if name.startswith("org:") else "editor"}
    if name in {"org:teams", "org:team_detail", "api:team-list", "api:team-detail"}:
        return {"name": "Night shift", "description": "", "members": []}
    if name == "org:settings":
        return {"name": "Renamed", "timezone": "Asia/Tokyo", "default_language": "ja"}
    if name == "org:availability":
        return {"availability": "away"}
    if name == "api:ticket-detail":
        return {"status": "open", "priority": "high", "tags": ["vip"]}
    if name == "api:ticket-bulk":
        return {"ids": [999999], "status": "pending"}
    if name == "org:channel_connect":
        return {"platform": "facebook"}
    if name == "org:channel_status":
        return {"status": "paused"}
    if name in {"api:ticket-notes", "api:ticket-replies"}:
        return {"text": "Checked the order."}
    if name in {"api:canned-list", "api:canned-detail"}:
        variants = [{"language": "ja", "body": "ありがとうございます"}]
        return {"title": "Thanks", "shortcut": "thanks", "variants": variants}
    if name in {"api:saved-view-list", "api:saved-view-detail"}:
        return {"name": "Open LINE", "filters": {"status": ["open"], "platform": "line"}}
    return {"name": "token"}


def _grant_ticket_channel(tenant, ticket_id, user):
    from accounts import services
    from tickets.models import Ticket

    with tenant.scope():
        connection = Ticket.objects.select_related("connection").get(pk=ticket_id).connection
        services.connection_access_set(
            organization=tenant.organization, actor=tenant.users["owner"], connection=connection, users=[user]
        )


def _ticket_of(kwarg, value, tenant):
    if kwarg == "ticket_id":
        return value
    from tickets.models import Ticket

    with tenant.scope():
        return Ticket.objects.filter(contact_id=value).values_list("pk", flat=True).first()


@pytest.mark.parametrize(("role", "name", "method"), CASES, ids=[f"{r}-{n}-{m}" for r, n, m in CASES])
def test_role_can_or_cannot(role, name, method, tenant_a, login, api_client_for):
    route = ROUTES[name]
    values = {"org_slug": tenant_a.slug}
    for kwarg in route.kwargs[1:]:
        # Tokens are personal: a member addresses their own.
        if kwarg == "token_id":
            with tenant_a.scope():
                from accounts import services

                values[kwarg] = services.api_token_create(
                    organization=tenant_a.organization, actor=tenant_a.users[role], name="t"
                )[0].pk
        elif kwarg == "export_id":
            # A contact's data export is downloaded by whoever asked for it.
            values[kwarg] = OBJECT_MAKERS[kwarg](tenant_a, tenant_a.users[role])
        elif kwarg in {"upload_id", "import_id"}:
            # A resumable upload is addressed by its own uploader.
            values[kwarg] = OBJECT_MAKERS[kwarg](tenant_a, tenant_a.users[role])
        elif kwarg in PLAIN_VALUES:
            values[kwarg] = PLAIN_VALUES[kwarg]
        else:
            values[kwarg] = OBJECT_MAKERS[kwarg](tenant_a)
        if kwarg in {"ticket_id", "contact_id"}:
            # Channel visibility is tested elsewhere: here the member may see the ticket's (contact's) channel.
            _grant_ticket_channel(tenant_a, _ticket_of(kwarg, values[kwarg], tenant_a), tenant_a.users[role])
    if values.keys() & {"identity_id", "merge_id", "suggestion_id"}:
        # A contact's identity, merge or duplicate suggestion is addressed through its own contact(s), whose channels
        # the member may see (a merge: its survivor, which holds both contacts' tickets until it is undone).
        from tickets.models import ContactDuplicateSuggestion, ContactIdentity, ContactMerge, Ticket

        with tenant_a.scope():
            if "identity_id" in values:
                contact_ids = [ContactIdentity.objects.get(pk=values["identity_id"]).contact_id]
            elif "merge_id" in values:
                contact_ids = [ContactMerge.objects.get(pk=values["merge_id"]).survivor_id]
            else:
                suggestion = ContactDuplicateSuggestion.objects.get(pk=values["suggestion_id"])
                contact_ids = [suggestion.contact_id, suggestion.other_id]
            ticket_ids = list(Ticket.objects.filter(contact_id__in=contact_ids).values_list("pk", flat=True))
        if "contact_id" in values:
            values["contact_id"] = contact_ids[0]
        for ticket_id in ticket_ids:
            _grant_ticket_channel(tenant_a, ticket_id, tenant_a.users[role])
    if "event_id" in values:
        # An event is addressed through its own connection.
        from channels_integrations.models import InboundEvent

        with tenant_a.scope():
            values["connection_id"] = InboundEvent.objects.get(pk=values["event_id"]).connection_id
    if name == "api:intake-status":
        # An intake status is a request the REST API stored as a raw event, seen by whoever sees its channel.
        from accounts import services
        from channels_integrations.models import InboundEvent
        from channels_integrations.providers.api.connector import API_EVENT_SOURCE

        with tenant_a.scope():
            InboundEvent.objects.filter(pk=values["event_id"]).update(source=API_EVENT_SOURCE)
            services.connection_access_set(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                connection=InboundEvent.objects.get(pk=values["event_id"]).connection,
                users=[tenant_a.users[role]],
            )
    if "message_id" in values:
        # A message is addressed through its own ticket.
        from tickets.models import Message

        with tenant_a.scope():
            values["ticket_id"] = Message.objects.get(pk=values["message_id"]).ticket_id
        _grant_ticket_channel(tenant_a, values["ticket_id"], tenant_a.users[role])
    if "attachment_id" in values:
        # An attachment is served to members who may see its ticket.
        from tickets.models import Attachment

        with tenant_a.scope():
            ticket_id = Attachment.objects.select_related("message").get(pk=values["attachment_id"]).message.ticket_id
        _grant_ticket_channel(tenant_a, ticket_id, tenant_a.users[role])
    url = route.url(**values)
    body = _body(name, tenant_a)
    if route.is_api and (name, method) in SESSION_ONLY:
        client = login(tenant_a.users[role])
        response = client.generic(method, url, json.dumps(body), content_type="application/json")
    elif route.is_api:
        client = api_client_for(tenant_a, role)
        response = client.generic(method, url, json.dumps(body), content_type="application/json")
    else:
        client = login(tenant_a.users[role])
        response = client.get(url) if method == "GET" else client.post(url, body)

    required = REQUIRED[(name, method)]
    if isinstance(required, tuple):  # any one of these capabilities
        allowed = bool(set(required) & DEFAULT_MATRIX[RoleKey(role)])
    else:
        allowed = required is None or required in DEFAULT_MATRIX[RoleKey(role)]
    if allowed:
        # A permitted request may still fail a business rule (409, 400) but is never refused as forbidden.
        assert response.status_code not in {403, 404, 405} and response.status_code < 500, (
            role,
            name,
            method,
            response.status_code,
            response.content[:300],
        )
    else:
        assert response.status_code == 403, (role, name, method, response.status_code)
