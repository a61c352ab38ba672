"""Pages under /<org-slug>/ provided by the accounts app (included by config.urls in the `org` namespace)."""

from django.urls import path

from accounts.views import audit, org

urlpatterns = [
    path("settings/", org.org_settings, name="settings"),
    path("settings/members/", org.members, name="members"),
    path("settings/members/<int:membership_id>/role/", org.member_update, name="member_update"),
    path("settings/members/<int:membership_id>/remove/", org.member_remove, name="member_remove"),
    path("settings/invitations/<int:invitation_id>/revoke/", org.invitation_revoke, name="invitation_revoke"),
    path("settings/teams/", org.teams, name="teams"),
    path("settings/teams/<int:team_id>/delete/", org.team_delete, name="team_delete"),
    path("settings/roles/", org.roles, name="roles"),
    path("settings/audit/", audit.audit_log, name="audit"),
    path("settings/audit/export.csv", audit.audit_export, name="audit_export"),
    path("settings/tokens/", org.tokens, name="tokens"),
    path("settings/tokens/<int:token_id>/revoke/", org.token_revoke, name="token_revoke"),
]
