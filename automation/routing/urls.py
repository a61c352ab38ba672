"""URLs of routing's pages (included by automation.org_urls in the `org` namespace)."""

from django.urls import path

from automation.routing import views

urlpatterns = [
    path("settings/teams/<int:team_id>/", views.team_detail, name="team_detail"),
]
