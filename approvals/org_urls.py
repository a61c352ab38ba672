"""Pages under /<org-slug>/ provided by the approvals app. Included by config.urls in the `org` namespace."""

from django.urls import path

from approvals.post_urls import urlpatterns as post_urlpatterns
from approvals.views import queue, replies, workflows

urlpatterns: list = [
    # The approval queue and one request (the notification's link).
    path("approvals/", queue.approval_queue, name="approval_queue"),
    path("approvals/requests/<int:request_id>/", queue.approval_request, name="approval_request"),
    # A held reply's actions, from its bubble in the conversation.
    path("approvals/replies/<int:message_id>/approve/", replies.reply_approve, name="reply_approve"),
    path("approvals/replies/<int:message_id>/return/", replies.reply_return, name="reply_return"),
    path("approvals/replies/<int:message_id>/edit/", replies.reply_edit, name="reply_edit"),
    path("approvals/replies/<int:message_id>/send/", replies.reply_send, name="reply_send"),
    # Settings → Approval workflows.
    path("settings/approvals/", workflows.workflow_list, name="approval_workflows"),
    path("settings/approvals/new/", workflows.workflow_create, name="approval_workflow_create"),
    path("settings/approvals/<int:workflow_id>/", workflows.workflow_edit, name="approval_workflow_edit"),
    path("settings/approvals/<int:workflow_id>/delete/", workflows.workflow_delete, name="approval_workflow_delete"),
    path("settings/approvals/<int:workflow_id>/steps/new/", workflows.step_create, name="approval_step_create"),
    path("settings/approvals/steps/<int:step_id>/", workflows.step_edit, name="approval_step_edit"),
    path("settings/approvals/steps/<int:step_id>/delete/", workflows.step_delete, name="approval_step_delete"),
]
urlpatterns += post_urlpatterns
