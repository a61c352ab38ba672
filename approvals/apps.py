from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = _("Approvals")

    def ready(self) -> None:
        from approvals import approval_tasks, notifications  # noqa: F401  (approval_tasks: Celery registers them)
        from approvals.services import replies
        from tickets.reply_gate import register as register_reply_gate

        notifications.register()
        replies.register()
        register_reply_gate(replies.ApprovalReplyGate())

        # Publishing (P3): the failure notification; approvals.tasks is found by Celery's autodiscovery.
        from approvals.services import publishing

        publishing.register()

        # A contact's erasure reaches held replies' first drafts and approvers' comments (tickets.privacy_hooks).
        from approvals import privacy

        privacy.register()
