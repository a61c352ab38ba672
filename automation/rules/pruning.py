"""Pruning the rules' log (`RuleRun`): the runs on tickets solved or closed longer than RULE_RUN_RETENTION_DAYS go,
hourly, like the other logs only operators read (core.retry's attempts, raw platform events).

The time-based pass never misses them: it looks only at active tickets, and every change of status stamps
`status_changed_at` (tickets.services: changes, ingest, replies, held replies, merge), which the state a run keeps
includes. A ticket that is reopened is therefore in a state no run of its past ever kept, pruned or not."""

from django.db import connection, transaction

from automation.models import RuleRun
from tickets.models import DONE_STATUSES, Ticket

PRUNE_BATCH = 5000  # runs looked at per transaction


def rule_runs_prune(*, before, batch: int = PRUNE_BATCH) -> int:
    """Delete the runs created before `before` on tickets solved or closed (or merged) before `before`, every
    organization's (an operator task). The runs are walked in id order, `batch` per transaction each committed on
    its own (short locks; a stopped prune keeps what it did), and the walk stops at the first batch that reaches runs
    created since `before`: later ones are not due yet, and ids follow creation closely enough that a run left
    behind by a few seconds' disorder goes in the next prune. Returns how many runs were deleted."""
    deleted, after = 0, 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""WITH chunk AS (
                        SELECT id, ticket_id, created_at FROM {RuleRun._meta.db_table}
                        WHERE id > %(after)s ORDER BY id LIMIT %(batch)s
                    ), gone AS (
                        DELETE FROM {RuleRun._meta.db_table} AS run USING chunk, {Ticket._meta.db_table} AS ticket
                        WHERE run.id = chunk.id AND ticket.id = chunk.ticket_id AND chunk.created_at < %(before)s
                          AND ticket.status = ANY(%(done)s)
                          AND COALESCE(ticket.status_changed_at, ticket.last_message_at, ticket.created_at)
                              < %(before)s
                        RETURNING run.id
                    )
                    SELECT (SELECT max(id) FROM chunk), (SELECT max(created_at) FROM chunk),
                           (SELECT count(*) FROM gone)""",
                {"after": after, "batch": batch, "before": before, "done": sorted(str(s) for s in DONE_STATUSES)},
            )
            last_id, newest, gone = cursor.fetchone()
        deleted += gone
        if last_id is None or newest >= before:
            return deleted
        after = last_id
