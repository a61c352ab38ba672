"""Calling a platform exactly once for one stored intent: a reply, a post, a survey — whatever an app stored as
`queued` and wants the platform to receive once. The owning app describes its intent (`OutboundIntent`); this module
runs the one state machine for all of them:

1. Claim: lock the intent; only a `queued` one is sent (a `sent`/`failed` one never again). Mark it `sending` with
   the claim time and commit, so the network call holds no database lock.
2. Call the connector, outside any transaction. Every attempt is kept (core.retry).
3. Record the platform's answer (`sent`) or its refusal (`failed`), or put it back to `queued` for a retry on a
   transient error, on the one retry policy's schedule.

An intent found `sending` means an earlier attempt died between 1 and 3: the platform may or may not have it.
Connectors whose sends are idempotent (email: the same Message-ID) simply send again. An intent that can look itself
up on the platform (a post: `reconciles`, with a connector that `finds_published`) is reconciled first: found, it is
recorded as sent without a second call; not found, it is sent. For the others the intent is marked failed with that
explanation rather than risk a duplicate."""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_integrations.connector import AuthFailed, Connector, SendRejected, TransientError
from channels_integrations.models import ChannelConnection, ConnectionStatus
from channels_integrations.registry import connector_for
from channels_integrations.services import connection_auth_failed
from core.models import AttemptOutcome
from core.retry import attempt_record, retry_delay

logger = logging.getLogger("tsunagu.channels.outbound")

CLAIM_TIMEOUT = timedelta(minutes=5)  # a claim older than this belongs to a worker that died

QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"


@dataclass(frozen=True)
class Claimed:
    """The locked intent as its owner sees it."""

    state: str  # queued | sending | sent | failed (the owner's own later states count as done)
    claimed_at: datetime | None
    attempts: int  # attempts made before this one
    connection: ChannelConnection
    record: Model  # the row attempts are kept against


class OutboundIntent:
    """One stored intent, implemented by the app that owns it. `claim`, `mark_sending`, `prepare` run inside the
    helper's claim transaction (the row locked by `claim`); `sent`, `failed` and `requeue` each in a transaction
    of their own."""

    def claim(self) -> Claimed:
        raise NotImplementedError

    def mark_sending(self, now: datetime) -> None:
        raise NotImplementedError

    def prepare(self):
        """What `call` hands the connector (an OutboundMessage, a post's content…), built inside the claim."""
        raise NotImplementedError

    def call(self, connector: Connector, connection: ChannelConnection, prepared):
        """The platform call itself (connector.send, connector.publish…), outside any transaction."""
        raise NotImplementedError

    def sent(self, result) -> None:
        raise NotImplementedError

    def failed(self, error: str) -> None:
        raise NotImplementedError

    def requeue(self, retry_in: int) -> None:
        """Back to waiting after a transient failure; the task runs again in `retry_in` seconds."""
        raise NotImplementedError

    # An interrupted intent that can be looked up on the platform (connector.finds_published) is reconciled instead
    # of failed: `reconcile` runs outside any transaction and returns the platform's result, or None when the
    # platform has no trace of it (then it is sent). `release` keeps it `sending` but drops the claim, so the next
    # attempt reconciles again at once (the platform could not tell this time).
    reconciles = False

    def reconcile(self, connector: Connector, connection: ChannelConnection, claimed: Claimed):
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Outcome:
    state: str
    retry_in: int | None = None  # queue the task again after this many seconds


def deliver_once(*, organization, intent: OutboundIntent) -> Outcome:
    """Claim the intent, call the platform once, record what happened (see the module's docstring)."""
    now = timezone.now()
    reconcile = False
    with transaction.atomic():
        claimed = intent.claim()
        connection = claimed.connection
        connector = connector_for(connection.platform)
        if claimed.state not in (QUEUED, SENDING):
            return Outcome(claimed.state)
        if claimed.state == SENDING:
            if claimed.claimed_at and claimed.claimed_at > now - CLAIM_TIMEOUT:
                # Another worker is calling the platform right now, or died doing it (its claim then expires): look
                # again once the claim could have expired, since nothing else would.
                return Outcome("busy", retry_in=int(CLAIM_TIMEOUT.total_seconds()) + 1)
            reconcile = intent.reconciles and connector.finds_published and not connector.idempotent_send
            if not connector.idempotent_send and not reconcile:
                intent.failed(
                    _(
                        "Sending was interrupted; the platform may or may not have received this reply. Check the "
                        "conversation on the platform before sending it again."
                    )
                )
                return Outcome(FAILED)
        if connection.status in (ConnectionStatus.PAUSED, ConnectionStatus.DISCONNECTED, ConnectionStatus.NEEDS_REAUTH):
            intent.failed(
                _("The channel is %(status)s; the reply was not sent.")
                % {"status": connection.get_status_display().lower()}
            )
            return Outcome(FAILED)
        intent.mark_sending(now)
        prepared = intent.prepare()
        number = claimed.attempts + 1

    started, clock = timezone.now(), time.monotonic()

    def attempt(outcome: str, error: str = "") -> None:
        with transaction.atomic():
            attempt_record(
                organization=organization,
                subject=claimed.record,
                number=number,
                outcome=outcome,
                started_at=started,
                duration_ms=int((time.monotonic() - clock) * 1000),
                error=error,
            )

    if reconcile:
        try:
            found = intent.reconcile(connector, connection, claimed)
        except TransientError as exc:
            wait = retry_delay(number, retry_after=exc.retry_after)
            if wait is None:
                attempt(AttemptOutcome.FAILED, exc.message or str(exc))
                return _fail(
                    intent,
                    _(
                        "Publishing was interrupted and the platform could not tell whether it has the post: "
                        "%(error)s. Check the account on the platform before publishing again."
                    )
                    % {"error": exc.message},
                )
            attempt(AttemptOutcome.RETRYING, exc.message or str(exc))
            with transaction.atomic():
                intent.release()
            return Outcome(SENDING, retry_in=wait)
        except Exception as exc:  # unsure whether the platform has it: never risk a second post
            logger.exception("reconciling %s crashed", claimed.record)
            attempt(AttemptOutcome.FAILED, type(exc).__name__)
            return _fail(
                intent,
                _(
                    "Publishing was interrupted and checking the platform failed (%(error)s). Check the account on "
                    "the platform before publishing again."
                )
                % {"error": getattr(exc, "message", "") or type(exc).__name__},
            )
        if found is not None:
            logger.info("%s was already on the platform (%s): recorded, not sent again", claimed.record, found)
            attempt(AttemptOutcome.SUCCEEDED)
            with transaction.atomic():
                intent.sent(found)
            return Outcome(SENT)

    try:
        result = intent.call(connector, connection, prepared)
    except TransientError as exc:
        wait = retry_delay(number, retry_after=exc.retry_after)
        if wait is None:
            attempt(AttemptOutcome.FAILED, exc.message or str(exc))
            return _fail(intent, _("The platform kept failing: %(error)s") % {"error": exc.message})
        attempt(AttemptOutcome.RETRYING, exc.message or str(exc))
        logger.warning("send of %s failed for now (%s); retry in %ss", claimed.record, exc, wait)
        with transaction.atomic():
            intent.requeue(wait)
        return Outcome(QUEUED, retry_in=wait)
    except AuthFailed as exc:
        attempt(AttemptOutcome.FAILED, exc.message or str(exc))
        connection_auth_failed(organization=organization, connection_id=connection.pk, error=exc.message or str(exc))
        return _fail(intent, _("The channel needs to be connected again: %(error)s") % {"error": exc.message})
    except SendRejected as exc:
        attempt(AttemptOutcome.FAILED, exc.message or exc.code)
        return _fail(intent, exc.message or exc.code)
    except Exception as exc:  # a bug or an unexpected answer: fail visibly rather than retry into duplicates
        logger.exception("send of %s crashed", claimed.record)
        attempt(AttemptOutcome.FAILED, type(exc).__name__)
        return _fail(intent, _("Sending failed unexpectedly (%(error)s).") % {"error": type(exc).__name__})
    attempt(AttemptOutcome.SUCCEEDED)
    with transaction.atomic():
        intent.sent(result)
    return Outcome(SENT)


def _fail(intent: OutboundIntent, error: str) -> Outcome:
    logger.warning("outbound intent failed: %s", error)
    with transaction.atomic():
        intent.failed(error)
    return Outcome(FAILED)
