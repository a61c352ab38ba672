from django.urls import path

from accounts.api import views

org_urlpatterns = [
    path("roles/", views.RoleListView.as_view(), name="role-list"),
    path("members/", views.MemberListView.as_view(), name="member-list"),
    path("members/<int:membership_id>/", views.MemberDetailView.as_view(), name="member-detail"),
    path("teams/", views.TeamListView.as_view(), name="team-list"),
    path("teams/<int:team_id>/", views.TeamDetailView.as_view(), name="team-detail"),
    path("invitations/", views.InvitationListView.as_view(), name="invitation-list"),
    path("invitations/<int:invitation_id>/", views.InvitationDetailView.as_view(), name="invitation-detail"),
    path("audit-log/", views.AuditLogView.as_view(), name="audit-list"),
    path("tokens/", views.TokenListView.as_view(), name="token-list"),
    path("tokens/<int:token_id>/", views.TokenDetailView.as_view(), name="token-detail"),
]
