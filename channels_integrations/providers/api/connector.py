"""The API channel's connector: no inbound transport (tickets come from the REST API, tickets/api), and a send that
only records the reply (the integration reads it back through the API)."""

import uuid

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_integrations.connector import Connector, OutboundMessage, ReplyContext, ReplyLimits, SendResult


class ApiConnector(Connector):
    platform = "api"
    label = gettext_lazy("API")
    connect_form = "channels_integrations.providers.api.connect.ApiConnectForm"
    connect_label = gettext_lazy("Add an API channel")
    # Nothing leaves the application: "sending" twice records the same id (the reply's own reference).
    idempotent_send = True
    can_initiate = True

    def reply_limits(self, connection, context: ReplyContext) -> ReplyLimits:
        return ReplyLimits(
            max_length=None,
            attachment_types=("*/*",),
            max_attachment_bytes=25 * 1024 * 1024,
            notes=(
                _(
                    "API channel: the reply is stored on the ticket for your system to read through the API; "
                    "nothing is sent to the customer from here."
                ),
            ),
        )

    def send(self, connection, outbound: OutboundMessage) -> SendResult:
        # Recorded, not delivered: the id is the reply's own reference, so a retried send gives the same one.
        reference = outbound.local_ref or outbound.idempotency_key or uuid.uuid4().hex
        return SendResult(platform_message_id=f"api-reply:{reference}", sent_at=timezone.now())
