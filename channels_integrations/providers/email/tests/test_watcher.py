"""The mailbox watcher against the simulator's IMAP server on loopback: a mail delivered while it idles becomes a
ticket within seconds although the next poll is a minute away; a server without IDLE is left to polling; a dropped
connection is opened again; IDLE is re-issued before the server's inactivity timer; SIGTERM ends it cleanly.

Tasks run eagerly in these tests (in the watcher's thread, through the same check and poll as in production); the
last test runs `manage.py watch_mailboxes` and a Celery worker as real processes on the real broker."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.utils import timezone

from channels_integrations import services
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.email.tests.test_connector import MAILBOX, mailbox
from channels_integrations.providers.email.watcher import MailboxWatcher, check_now, reconnect_delay
from core.retry import SCHEDULE
from tests.e2e.asgi_server import subprocess_database_url
from tests.workers import CeleryWorker
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[4]


def wait_until(predicate, what: str, timeout: float = 30.0) -> None:
    """Generous: these wait for an event, they do not time it."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


@pytest.fixture
def part(simulator):
    part = simulator.parts["email"]
    part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    return part


@pytest.fixture
def connection(tenant_a, part) -> ChannelConnection:
    return mailbox(tenant_a, imap_port=part.imap_port, smtp_port=part.smtp_port)


@pytest.fixture
def watcher(part, transactional_db):
    """watcher(**options) -> a MailboxWatcher running in a thread (stopped, and its IDLE ended, after the test)."""
    running = []

    def start(**options) -> MailboxWatcher:
        watcher = MailboxWatcher(refresh_seconds=options.pop("refresh_seconds", 0.2), **options)
        thread = threading.Thread(target=watcher.run, name="test-watcher", daemon=True)
        thread.start()
        running.append((watcher, thread))
        return watcher

    yield start
    for watcher, thread in running:
        watcher.stop()
        thread.join(30)
        assert not thread.is_alive()


def deliver(part, subject: str) -> None:
    part.customer_email(to=MAILBOX, from_addr="hanako@example.jp", from_name="鈴木 花子", subject=subject, text=subject)


def subjects(tenant) -> list[str]:
    with tenant.scope():
        return sorted(Ticket.objects.values_list("subject", flat=True))


def test_a_mail_delivered_while_idling_becomes_a_ticket_without_waiting_for_the_poll(
    tenant_a, part, connection, watcher
):
    deliver(part, "届く前の一通")  # while nobody listened: the watcher's first check fetches it
    watch = watcher()
    wait_until(lambda: part.idling(MAILBOX) == 1, "the watcher idles")
    wait_until(lambda: subjects(tenant_a) == ["届く前の一通"], "the mail from before becomes a ticket")
    connection.refresh_from_db()
    assert connection.next_poll_at > timezone.now() + timezone.timedelta(seconds=30)  # the next poll is far off
    # When a customer writes while the watcher idles
    delivered = time.monotonic()
    deliver(part, "至急のお願い")
    # Then the ticket is there within seconds, long before the poll
    wait_until(lambda: "至急のお願い" in subjects(tenant_a), "the new mail becomes a ticket", timeout=20)
    latency = time.monotonic() - delivered
    print(f"\ndelivery → ticket through IDLE (eager tasks): {latency * 1000:.0f} ms")
    assert watch.states() == {connection.pk: "idling"}
    assert part.state()["imap_commands"]["idles"] == 1  # one IDLE all along
    connection.refresh_from_db()
    assert connection.next_poll_at > timezone.now()  # and the poll keeps its own schedule


def test_a_server_without_idle_is_left_to_polling(tenant_a, part, connection, watcher):
    part.idle = False
    checks = []
    watch = watcher(enqueue=checks.append)
    wait_until(lambda: watch.states().get(connection.pk) == "polling", "the watcher gives the mailbox to polling")
    wait_until(lambda: part.state()["imap_commands"]["logouts"] == 1, "the watcher logs out")
    assert part.state()["imap_sessions"] == []  # no connection kept open for it
    assert part.state()["imap_commands"]["idles"] == 0 and checks == []
    # The poll still fetches the mail
    deliver(part, "ポーリングで届く")
    with tenant_a.scope():
        assert services.connection_poll(organization=tenant_a.organization, connection_id=connection.pk) == 1
    assert subjects(tenant_a) == ["ポーリングで届く"]


def test_the_watcher_connects_again_when_the_server_drops_the_connection(tenant_a, part, connection, watcher):
    watcher()
    # The first IDLE queues a check whose poll opens a connection of its own: wait until only the IDLE one is left.
    wait_until(lambda: part.idling(MAILBOX) == 1 and len(part.state()["imap_sessions"]) == 1, "the watcher idles")
    # When the server goes away without a word
    assert part.drop_connections() == 1
    # Then the watcher is back in IDLE on a new connection, and a mail delivered now arrives
    wait_until(lambda: part.state()["imap_commands"]["idles"] == 2 and part.idling(MAILBOX) == 1, "a new IDLE")
    deliver(part, "再接続のあと")
    wait_until(lambda: "再接続のあと" in subjects(tenant_a), "the mail becomes a ticket")


def test_idle_is_reissued_before_the_servers_inactivity_timer_ends_it(part, connection, watcher):
    part.autologout_seconds = 1.5  # 30 minutes on real servers; the watcher re-issues IDLE within 29
    checks = []
    watcher(enqueue=checks.append, renew_seconds=0.2)
    wait_until(lambda: part.state()["imap_commands"]["idles"] >= 15, "several IDLEs (3 s, twice the timer)")
    assert part.state()["imap_commands"]["logins"] == 1  # the server never logged it off
    assert len(checks) == 1  # the first IDLE's check
    deliver(part, "更新のあいだも届く")
    wait_until(lambda: len(checks) == 2, "the new mail is noticed")
    assert checks[-1].pk == connection.pk


def test_a_mailbox_whose_settings_change_is_opened_again_and_a_paused_one_let_go(tenant_a, part, connection, watcher):
    checks = []  # (no polls here: every login and logout the server sees is the watcher's)
    watch = watcher(enqueue=checks.append)
    wait_until(lambda: part.idling(MAILBOX) == 1, "the watcher idles")
    # A new password: the IDLE connection is ended and opened again with it
    part.add_mailbox(MAILBOX, MAILBOX, "new-password")
    with tenant_a.scope():
        connection.set_credentials({"password": "new-password", "inbound_token": "t"})
        connection.save()
    wait_until(lambda: part.state()["imap_commands"]["idles"] == 2 and part.idling(MAILBOX) == 1, "a new IDLE")
    assert part.state()["imap_commands"] == {"logins": 2, "logouts": 1, "idles": 2}
    # Paused: let go, with a clean LOGOUT
    with tenant_a.scope():
        ChannelConnection.objects.filter(pk=connection.pk).update(status="paused")
    wait_until(lambda: watch.states() == {} and part.state()["imap_sessions"] == [], "the watcher lets it go")
    assert part.state()["imap_commands"] == {"logins": 2, "logouts": 2, "idles": 2}


def test_reconnecting_follows_the_retry_policy_after_one_immediate_attempt():
    assert [reconnect_delay(n) for n in range(1, 9)] == [0, *SCHEDULE, SCHEDULE[-1], SCHEDULE[-1]]


def test_the_command_and_a_worker_bring_new_mail_in_and_sigterm_ends_idle_cleanly(tenant_a, part, connection):
    """Real processes: `manage.py watch_mailboxes` queues on the Redis broker, a Celery worker checks and polls."""
    env = dict(os.environ, DATABASE_URL=subprocess_database_url(), CELERY_REAL_WORKER="1")
    worker = CeleryWorker()
    command = subprocess.Popen(
        [sys.executable, "manage.py", "watch_mailboxes", "--refresh", "1"], cwd=ROOT, env=env, start_new_session=True
    )
    try:
        wait_until(lambda: part.idling(MAILBOX) == 1, "the command idles", timeout=60)
        # The first IDLE's check went through the worker (its poll set the next one a minute ahead)
        wait_until(lambda: _polled(tenant_a, connection), "the first check", timeout=60)
        delivered = time.monotonic()
        deliver(part, "本番と同じ経路")
        wait_until(lambda: "本番と同じ経路" in subjects(tenant_a), "the mail becomes a ticket", timeout=60)
        print(f"\ndelivery → ticket through IDLE, broker and worker: {(time.monotonic() - delivered) * 1000:.0f} ms")
        logouts = part.state()["imap_commands"]["logouts"]
        command.send_signal(signal.SIGTERM)
        assert command.wait(timeout=30) == 0
        assert part.state()["imap_commands"]["logouts"] == logouts + 1  # DONE, then LOGOUT
        assert part.idling(MAILBOX) == 0
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
        worker.stop()


def _polled(tenant, connection) -> bool:
    with tenant.scope():
        return ChannelConnection.objects.filter(pk=connection.pk, last_polled_at__isnull=False).exists()


def test_check_now_queues_by_ids(tenant_a, connection, settings):
    # The watcher hands the task ids only; the task base gives it the organization's scope.
    with tenant_a.scope():
        check_now(connection)  # eager here: the check and its poll run (the mailbox is empty)
        connection.refresh_from_db()
    assert connection.last_polled_at is not None
