from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = _("Approvals")

    def ready(self) -> None:
        # approval_tasks, tasks_import: imported so that Celery registers their tasks.
        from approvals import approval_tasks, notifications, post_notifications, tasks_import  # noqa: F401
        from approvals.services import posts, replies
        from tickets.reply_gate import register as register_reply_gate

        notifications.register()
        post_notifications.register()
        posts.register()
        replies.register()
        register_reply_gate(replies.ApprovalReplyGate())

        # Publishing (P3): the failure notification; approvals.tasks is found by Celery's autodiscovery.
        from approvals.services import publishing

        publishing.register()

        # A contact's erasure reaches held replies' first drafts and approvers' comments (tickets.privacy_hooks).
        from approvals import privacy

        privacy.register()
