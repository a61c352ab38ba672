"""CSV import of posts in Celery: checking a large file and creating its posts take a while, so the page polls the
progress kept in the import's state (approvals/services/post_import.py). Imported by ApprovalsConfig.ready
(approvals/tasks.py belongs to publishing)."""

import logging
import time

from celery import shared_task

from accounts.models import User
from approvals.services import post_import
from core.errors import DomainError
from core.task_base import TenantTask

logger = logging.getLogger("tsunagu.approvals.import")


@shared_task(base=TenantTask, name="approvals.post_import_check", acks_late=True)
def post_import_check(*, organization, import_id: str, user_id: int) -> None:
    """Check the stored file; the preview is the result (nothing is created)."""
    state = post_import.state_get(organization, import_id, User(pk=user_id))
    if state is None or state.get("phase") != "checking":
        return  # already done (a second delivery) or expired
    actor = User.objects.get(pk=user_id)
    started = time.monotonic()

    def progress(done, total):
        post_import.state_update(organization, import_id, done=done, total=total)

    try:
        result = post_import.import_check(organization=organization, actor=actor, data=state["data"], progress=progress)
    except DomainError as exc:
        post_import.state_update(organization, import_id, phase="error", error=str(exc.message), data=b"")
        return
    logger.info("post import %s checked %d rows in %.1fs", import_id, len(result["rows"]), time.monotonic() - started)
    post_import.state_update(
        organization,
        import_id,
        phase="preview",
        result=result,
        data=b"",
        done=len(result["rows"]),
        total=len(result["rows"]),
    )


@shared_task(base=TenantTask, name="approvals.post_import_create", acks_late=True)
def post_import_create(*, organization, import_id: str, user_id: int) -> None:
    """Create the valid rows' posts, each submitted to the approval flow."""
    state = post_import.state_get(organization, import_id, User(pk=user_id))
    if state is None or state.get("phase") != "creating":
        return
    actor = User.objects.get(pk=user_id)

    def progress(done, total):
        post_import.state_update(organization, import_id, done=done, total=total)

    created = post_import.import_create(
        organization=organization, actor=actor, rows=state["result"]["rows"], progress=progress
    )
    post_import.state_update(organization, import_id, phase="done", created=len(created), done=len(created))
