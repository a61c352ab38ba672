"""Posts' pages (composer, post, calendar, CSV import, crisis statements), added to approvals/org_urls.py."""

from django.urls import path

from approvals.views import calendar, post_import, posts

urlpatterns = [
    path("posts/", posts.post_list, name="post_list"),
    path("posts/new/", posts.post_new, name="post_new"),
    path("posts/check/", posts.post_check, name="post_check"),
    path("posts/calendar/", calendar.post_calendar, name="post_calendar"),
    path("posts/calendar/feed/", calendar.post_calendar_feed, name="post_calendar_feed"),
    path("posts/import/", post_import.import_upload, name="post_import"),
    path("posts/import/<str:import_id>/", post_import.import_status, name="post_import_status"),
    path("posts/import/<str:import_id>/confirm/", post_import.import_confirm, name="post_import_confirm"),
    path("posts/crisis/", posts.crisis_templates, name="crisis_templates"),
    path("posts/crisis/<int:crisis_id>/approve/", posts.crisis_template_approve, name="crisis_template_approve"),
    path("posts/crisis/<int:crisis_id>/publish/", posts.crisis_template_publish, name="crisis_template_publish"),
    path("posts/<int:post_id>/", posts.post_detail, name="post_detail"),
    path("posts/<int:post_id>/edit/", posts.post_edit, name="post_edit"),
    path("posts/<int:post_id>/submit/", posts.post_submit, name="post_submit"),
    path("posts/<int:post_id>/decide/", posts.post_decide, name="post_decide"),
    path("posts/<int:post_id>/comments/", posts.post_comment, name="post_comment"),
    path("posts/<int:post_id>/reschedule/", calendar.post_reschedule, name="post_reschedule"),
]
