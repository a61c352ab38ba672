"""The mailbox watcher (`manage.py watch_mailboxes`): a mail reaches the inbox within seconds, not at the next poll.

It keeps one IMAP IDLE connection (RFC 2177, idle.py) per connected mailbox whose server offers IDLE, a thread each.
When the server reports that the mailbox grew (`* n EXISTS`), the watcher queues the connection's check by id
(`channels.check_connection`, what the Check now button queues), so the mail comes in through the poller as any
polled mail does — one ingest path, the cursor saved with the messages, the poll's row lock. It also queues a check
each time its IDLE starts, for what arrived while it was not listening.

Polling by beat goes on unchanged beside it: mailboxes whose server has no IDLE are only polled (asked again every
few hours and whenever the mailbox's settings change), and a connection that fails is opened again at once, then on
the retry policy's schedule (core.retry), while the poll keeps fetching. Every 30 seconds the watcher reads which
mailboxes are connected, so new ones are watched and disconnected or paused ones let go. SIGTERM ends every IDLE
with DONE and LOGOUT."""

from __future__ import annotations

import imaplib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable

from django.db import close_old_connections, connections
from django_scopes import scopes_disabled

from channels_integrations import tasks
from channels_integrations.connector import ConnectorError
from channels_integrations.models import ChannelConnection, ConnectionStatus
from channels_integrations.providers.email import idle
from channels_integrations.providers.email.connector import EmailConnector
from core.retry import SCHEDULE, retry_delay

logger = logging.getLogger("tsunagu.email")

REFRESH_SECONDS = 30.0  # how often the list of connected mailboxes is read
HEALTHY_SECONDS = 60.0  # a connection that idled this long and then broke is opened again at once
NO_IDLE_RECHECK_SECONDS = float(SCHEDULE[-1])  # a server without IDLE may gain it: ask again after this
STOP_SECONDS = 10.0  # how long a stopping watcher waits for each connection's DONE and LOGOUT
WATCHED = (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR)  # as the poller: paused and disconnected are let go


class WatchingConnector(EmailConnector):
    """The email connector's login and read-only folder, with its errors (TransientError, AuthFailed), on the IMAP
    clients of idle.py that can wait for the server and for a wake-up at once."""

    imap_classes = (idle.IMAP4, idle.IMAP4_SSL)

    def idle_session(self, connection: ChannelConnection) -> idle.IdleSession:
        return idle.IdleSession(self._open_folder(connection))


def check_now(connection: ChannelConnection) -> None:
    """Queue the connection's check (ids only: the task runs in the organization's scope, core.task_base)."""
    tasks.check_connection.apply_async(
        kwargs={"organization_id": connection.organization_id, "connection_id": connection.pk}, queue="inbound"
    )


def watched_connections() -> list[ChannelConnection]:
    """Every connected mailbox with an IMAP server, across organizations: the watcher's one cross-tenant read. It
    only hands ids on; the mailbox's own settings and credentials are used to log in to that mailbox."""
    with scopes_disabled():
        rows = ChannelConnection.objects.filter(platform=EmailConnector.platform, status__in=WATCHED).order_by("pk")
        return [c for c in rows if c.config.get("imap_host")]


def fingerprint(connection: ChannelConnection) -> str:
    """What the IDLE connection depends on: when an admin changes the server or the password, it is opened anew."""
    return json.dumps(connection.config, sort_keys=True) + connection.credentials_encrypted


def reconnect_delay(failures: int) -> float:
    """Seconds before opening a connection again after `failures` failures in a row: the first at once (servers
    restart, NATs drop idle flows), then the retry policy's schedule, and never giving up — its longest wait
    repeats, since the poll fetches the mail meanwhile."""
    if failures <= 1:
        return 0.0
    return float(retry_delay(failures - 1) or SCHEDULE[-1])


class MailboxWatch(threading.Thread):
    """One mailbox's IDLE connection, opened again when it breaks, until `stop()`."""

    def __init__(
        self,
        connection: ChannelConnection,
        *,
        enqueue: Callable[[ChannelConnection], None],
        renew_seconds: float,
        connector: WatchingConnector,
    ):
        super().__init__(name=f"mailbox-watch-{connection.pk}", daemon=True)
        self.connection = connection
        self.fingerprint = fingerprint(connection)
        self.enqueue = enqueue
        self.renew_seconds = renew_seconds
        self.connector = connector
        self.state = "connecting"  # connecting | idling | waiting (to reconnect) | polling (no IDLE) | stopped
        self.failures = 0
        self._stopping = threading.Event()
        self._wake, self._waker = socket.socketpair()  # stop() wakes the thread out of select()

    def stop(self) -> None:
        self._stopping.set()
        try:
            self._waker.send(b"\0")
        except OSError:
            pass

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                idled_since = self._session()
                if self._stopping.is_set():
                    break
                if self.state == "polling":
                    self._stopping.wait(NO_IDLE_RECHECK_SECONDS)
                    continue
                healthy = idled_since is not None and time.monotonic() - idled_since >= HEALTHY_SECONDS
                self.failures = 1 if healthy else self.failures + 1
                delay = reconnect_delay(self.failures)
                if delay:
                    logger.info("mailbox %s: IDLE again in %ss; polling meanwhile", self.connection.pk, int(delay))
                self.state = "waiting"
                self._stopping.wait(delay)
        finally:
            self.state = "stopped"
            self._wake.close()
            self._waker.close()
            connections.close_all()  # a thread's own database connections (eager tasks in tests)

    def _session(self) -> float | None:
        """One connection, until it breaks or the watch stops; when IDLE began (None: it never did)."""
        self.state = "connecting"
        idled_since: float | None = None
        session = None
        clean = False
        try:
            session = self.connector.idle_session(self.connection)
            if not session.supported:
                logger.info("mailbox %s: the server offers no IDLE; it is polled", self.connection.pk)
                self.state = "polling"
                clean = True
                return None

            def idling() -> None:
                nonlocal idled_since
                if idled_since is None:  # the first IDLE of this connection: fetch what came while away
                    idled_since = time.monotonic()
                    self.state = "idling"
                    logger.info("mailbox %s: idling", self.connection.pk)
                    self._check()

            while not self._stopping.is_set():
                session.idle(seconds=self.renew_seconds, on_new_mail=self._new_mail, on_idling=idling, wake=self._wake)
            clean = True
        except (ConnectorError, idle.IdleError, OSError, imaplib.IMAP4.error) as exc:
            logger.info(
                "mailbox %s: IMAP IDLE connection failed: %s", self.connection.pk, getattr(exc, "message", "") or exc
            )
        except Exception:  # a bug must not end the watch: log it, back off, try again
            logger.exception("mailbox %s: IMAP IDLE failed", self.connection.pk)
        finally:
            if session is not None:
                session.close(logout=clean)
        return idled_since

    def _new_mail(self, count: int) -> None:
        logger.info("mailbox %s: new mail (%s messages); checking now", self.connection.pk, count)
        self._check()

    def _check(self) -> None:
        try:
            self.enqueue(self.connection)
        except Exception:  # the broker is down: the poll fetches the mail instead
            logger.exception("mailbox %s: could not queue its check", self.connection.pk)


class MailboxWatcher:
    """Keeps a MailboxWatch for every watched mailbox: `run()` until `stop()` (safe from a signal handler)."""

    def __init__(
        self,
        *,
        enqueue: Callable[[ChannelConnection], None] = check_now,
        refresh_seconds: float = REFRESH_SECONDS,
        renew_seconds: float = idle.RENEW_SECONDS,
    ):
        self.enqueue = enqueue
        self.refresh_seconds = refresh_seconds
        self.renew_seconds = renew_seconds
        self.connector = WatchingConnector()
        self.watches: dict[int, MailboxWatch] = {}
        self._retired: list[MailboxWatch] = []
        self._stop = threading.Event()

    def run(self) -> None:
        logger.info("watching mailboxes (IMAP IDLE)")
        try:
            while True:
                try:
                    self.refresh()
                except Exception:  # the database restarting, say: the watches keep running meanwhile
                    logger.exception("could not read the connected mailboxes; trying again")
                if self._stop.wait(self.refresh_seconds):
                    break
        finally:
            self._stop_all()
            connections.close_all()
        logger.info("stopped watching mailboxes")

    def stop(self) -> None:
        self._stop.set()

    def refresh(self) -> None:
        """Watch new mailboxes, let go of the ones no longer connected, re-open the ones whose settings changed."""
        close_old_connections()
        try:
            wanted = {c.pk: c for c in watched_connections()}
        finally:
            connections["default"].close()  # nothing to keep open for half a minute
        for pk, watch in list(self.watches.items()):
            connection = wanted.get(pk)
            if connection is None or fingerprint(connection) != watch.fingerprint or not watch.is_alive():
                watch.stop()
                self._retired.append(self.watches.pop(pk))
        self._retired = [w for w in self._retired if w.is_alive()]
        for pk, connection in wanted.items():
            if pk not in self.watches:
                watch = MailboxWatch(
                    connection, enqueue=self.enqueue, renew_seconds=self.renew_seconds, connector=self.connector
                )
                self.watches[pk] = watch
                watch.start()

    def states(self) -> dict[int, str]:
        return {pk: watch.state for pk, watch in self.watches.items()}

    def _stop_all(self) -> None:
        watches = [*self.watches.values(), *self._retired]
        for watch in watches:
            watch.stop()
        deadline = time.monotonic() + STOP_SECONDS
        for watch in watches:
            watch.join(max(0.1, deadline - time.monotonic()))
