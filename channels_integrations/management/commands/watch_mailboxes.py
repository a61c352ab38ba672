"""Keep an IMAP IDLE connection to every connected mailbox whose server offers it, so new mail is fetched within
seconds; polling stays the fallback (channels_integrations/providers/email/watcher.py). Runs until SIGTERM/SIGINT."""

import signal

from django.core.management.base import BaseCommand

from channels_integrations.providers.email.watcher import REFRESH_SECONDS, MailboxWatcher


class Command(BaseCommand):
    help = (
        "Watch every connected mailbox with IMAP IDLE and fetch new mail as soon as it arrives "
        "(mailboxes whose server has no IDLE stay on polling)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--refresh",
            type=float,
            default=REFRESH_SECONDS,
            help="seconds between two reads of which mailboxes are connected (default: %(default)s)",
        )

    def handle(self, *args, refresh: float, **options):
        watcher = MailboxWatcher(refresh_seconds=refresh)
        # The handlers only set an event: the main thread's wait returns and the watcher ends each IDLE cleanly.
        signal.signal(signal.SIGTERM, lambda *_: watcher.stop())
        signal.signal(signal.SIGINT, lambda *_: watcher.stop())
        watcher.run()
