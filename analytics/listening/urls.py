"""Pages under /<org-slug>/ for listening (included by analytics.org_urls)."""

from django.urls import path

from analytics.listening import views

urlpatterns = [
    path("analytics/listening/", views.listening_stream, name="listening_stream"),
    path("analytics/listening/new/", views.listening_stream_new, name="listening_stream_new"),
    path(
        "analytics/listening/mentions/<int:mention_id>/ticket/",
        views.listening_mention_ticket,
        name="listening_mention_ticket",
    ),
    path("analytics/listening/share-of-voice/", views.listening_share, name="listening_share"),
    path("analytics/listening/monitors/", views.listening_monitors, name="listening_monitors"),
    path("analytics/listening/monitors/new/", views.listening_monitor_edit, name="listening_monitor_new"),
    path("analytics/listening/monitors/<int:monitor_id>/", views.listening_monitor_edit, name="listening_monitor_edit"),
]
