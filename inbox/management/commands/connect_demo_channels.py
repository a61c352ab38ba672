"""Point the demo organization's channels at the running platform simulator (`make run` does this each start).

The simulator hands out the demo page's tokens and a mailbox, exactly what an admin would get by connecting real
accounts; the connections are then updated through the same service as the Channels settings page. Customers of
the sample conversations are registered with the simulator so agents can answer them."""

import json
import secrets
from datetime import timedelta
from pathlib import Path

import requests
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django_scopes import scope

from accounts import services as account_services
from accounts.models import Organization, Team, User
from channels_integrations.connector import AccountChoice
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.line import simulator as line_sim
from channels_integrations.providers.phone import simulator as phone_sim
from channels_integrations.providers.telegram.simulator import BOT_ID as TELEGRAM_BOT_ID
from channels_integrations.providers.telegram.simulator import BOT_TOKEN as TELEGRAM_BOT_TOKEN
from channels_integrations.providers.whatsapp import simulator as whatsapp_sim
from channels_integrations.providers.x import simulator as x_sim
from channels_integrations.services import connection_connect
from tickets.models import ContactIdentity, Ticket

DEMO_MAILBOX = "support@demo.tsunagu.example"
DEMO_MAILBOX_PASSWORD = "demo-mailbox-password"


class Command(BaseCommand):
    help = "Connect the demo organization's channels to the platform simulator."

    def add_arguments(self, parser):
        parser.add_argument("--simulator-state", required=True, help="the JSON state file the simulator wrote")

    def handle(self, *args, simulator_state: str, **options):
        state = json.loads(Path(simulator_state).read_text())
        base = state["base_url"]
        demo = Organization.objects.filter(slug="demo").first()
        if demo is None:
            self.stdout.write("no demo organization; nothing to connect")
            return
        pages = requests.post(f"{base}/_sim/meta/provision", json={}, timeout=10).json()["pages"]
        mailbox = requests.post(
            f"{base}/_sim/email/mailboxes",
            json={"address": DEMO_MAILBOX, "username": DEMO_MAILBOX, "password": DEMO_MAILBOX_PASSWORD},
            timeout=10,
        ).json()
        # What X's OAuth dialog would hand the admin (tokens for the simulator's account, refreshed like real ones).
        x_token = requests.post(f"{base}/_sim/x/grant", json={}, timeout=10).json()
        with scope(organization=demo), transaction.atomic():
            owner = User.objects.get(email="owner@demo.tsunagu.example")
            page = pages[0]
            choices = {
                "facebook": AccountChoice(
                    platform="facebook",
                    external_account_id=page["id"],
                    display_name=page["name"],
                    credentials={"access_token": page["access_token"]},
                ),
                "instagram": AccountChoice(
                    platform="instagram",
                    external_account_id=page["ig_id"],
                    display_name=f"@{page['ig_username']}",
                    credentials={"access_token": page["access_token"], "page_id": page["id"]},
                ),
                "email": AccountChoice(
                    platform="email",
                    external_account_id=DEMO_MAILBOX,
                    display_name=DEMO_MAILBOX,
                    credentials={"password": DEMO_MAILBOX_PASSWORD, "inbound_token": secrets.token_urlsafe(32)},
                    config={
                        "address": DEMO_MAILBOX,
                        "from_name": "デモ株式会社 サポート",
                        "username": DEMO_MAILBOX,
                        "imap_host": mailbox["host"],
                        "imap_port": mailbox["imap_port"],
                        "imap_security": "none",
                        "imap_folder": "INBOX",
                        "smtp_host": mailbox["host"],
                        "smtp_port": mailbox["smtp_port"],
                        "smtp_security": "none",
                    },
                ),
                "telegram": AccountChoice(
                    platform="telegram",
                    external_account_id=str(TELEGRAM_BOT_ID),
                    display_name="@tsunagu_demo_bot",
                    credentials={"bot_token": TELEGRAM_BOT_TOKEN, "webhook_secret": secrets.token_urlsafe(32)},
                    config={"mode": "polling", "username": "tsunagu_demo_bot"},  # no public HTTPS URL in development
                ),
                "line": AccountChoice(
                    platform="line",
                    external_account_id=line_sim.BOT_USER_ID,
                    display_name=line_sim.BOT_NAME,
                    credentials={
                        "channel_id": line_sim.CHANNEL_ID,
                        "channel_secret": line_sim.CHANNEL_SECRET,
                        "access_token": line_sim.ACCESS_TOKEN,
                    },
                    config={"basic_id": line_sim.BASIC_ID},
                ),
            }
            choices["x"] = AccountChoice(
                platform="x",
                external_account_id=x_sim.ACCOUNT_ID,
                display_name=f"@{x_sim.ACCOUNT_USERNAME}",
                credentials={"access_token": x_token["access_token"], "refresh_token": x_token["refresh_token"]},
                token_expires_at=timezone.now() + timedelta(seconds=x_token["expires_in"]),
                config={"mode": "polling"},  # no Account Activity webhook in development
            )
            # What the WhatsApp connect form saves (the simulator's number, its account and a system user's token).
            choices["whatsapp"] = AccountChoice(
                platform="whatsapp",
                external_account_id=whatsapp_sim.PHONE_NUMBER_ID,
                display_name=f"{whatsapp_sim.VERIFIED_NAME} ({whatsapp_sim.DISPLAY_NUMBER})",
                credentials={"access_token": whatsapp_sim.SYSTEM_TOKEN},
                config={"waba_id": whatsapp_sim.WABA_ID, "display_phone_number": whatsapp_sim.DISPLAY_NUMBER},
            )
            # What the phone connect form saves (the simulator's Twilio account and its Japanese 050 number).
            choices["phone"] = AccountChoice(
                platform="phone",
                external_account_id=phone_sim.NUMBER,
                display_name="050-1234-5678",
                credentials={"account_sid": phone_sim.ACCOUNT_SID, "auth_token": phone_sim.AUTH_TOKEN},
                config={"number": phone_sim.NUMBER, "number_sid": phone_sim.NUMBER_SID, "dial": ""},
            )
            for platform, choice in choices.items():
                # The seeded placeholder becomes the real account (keeping its tickets and access grants).
                ChannelConnection.objects.filter(platform=platform, external_account_id=f"demo-{platform}").update(
                    external_account_id=choice.external_account_id
                )
                connection_connect(organization=demo, actor=owner, choice=choice)
            line_channel = ChannelConnection.objects.get(platform="line", external_account_id=line_sim.BOT_USER_ID)
            line_uuid = line_channel.uuid
            phone_line = ChannelConnection.objects.get(platform="phone", external_account_id=phone_sim.NUMBER)
            phone_uuid = phone_line.uuid
            support = Team.objects.filter(name="サポート").first()  # the seeded support team answers the phone
            if support is not None:
                account_services.connection_access_set(
                    organization=demo, actor=owner, connection=phone_line, teams=[support]
                )
                # ...and LINE, where the demo's Japanese customers write.
                account_services.connection_access_set(
                    organization=demo, actor=owner, connection=line_channel, teams=[support]
                )
            customers = []
            for platform, account in (("facebook", page["id"]), ("instagram", page["ig_id"])):
                contact_ids = Ticket.objects.filter(connection__platform=platform).values("contact_id")
                for identity in ContactIdentity.objects.filter(platform=platform, contact_id__in=contact_ids):
                    customers.append(
                        {
                            "platform": platform,
                            "account_id": account,
                            "psid": identity.external_id,
                            "name": identity.contact.name,
                        }
                    )
        # What an admin does in the LINE Developers console: paste the channel's webhook URL (no public HTTPS here,
        # so it cannot be set through the API).
        requests.post(
            f"{base}/_sim/line/console/webhook",
            json={"url": f"{settings.SITE_URL}/webhooks/line/{line_uuid}/"},
            timeout=10,
        )
        # The same for the phone number's voice URL and status callback in the Twilio console.
        requests.post(
            f"{base}/_sim/phone/number",
            json={"voice_url": f"{settings.SITE_URL}/webhooks/phone/{phone_uuid}/"},
            timeout=10,
        )
        if customers:
            requests.post(f"{base}/_sim/meta/customers", json={"customers": customers}, timeout=10)
        # A week of public posts about the demo brand and its competitors, for social listening to collect.
        requests.post(f"{base}/_sim/meta/public/seed", json={}, timeout=10)
        self.stdout.write(self.style.SUCCESS(f"demo channels connected to the simulator at {base}"))
