"""URLs of the sla settings pages (included by automation.org_urls)."""

from django.urls import path

from automation.sla import views

urlpatterns = [
    path("settings/sla/", views.sla_settings, name="sla_settings"),
    path("settings/sla/calendars/new/", views.sla_calendar_create, name="sla_calendar_create"),
    path("settings/sla/calendars/<int:calendar_id>/", views.sla_calendar_edit, name="sla_calendar_edit"),
    path("settings/sla/calendars/<int:calendar_id>/delete/", views.sla_calendar_delete, name="sla_calendar_delete"),
    path("settings/sla/calendars/<int:calendar_id>/closures/", views.sla_closure_add, name="sla_closure_add"),
    path("settings/sla/closures/<int:closure_id>/delete/", views.sla_closure_delete, name="sla_closure_delete"),
    path("settings/sla/policies/new/", views.sla_policy_create, name="sla_policy_create"),
    path("settings/sla/policies/<int:policy_id>/", views.sla_policy_edit, name="sla_policy_edit"),
    path("settings/sla/policies/<int:policy_id>/delete/", views.sla_policy_delete, name="sla_policy_delete"),
]
