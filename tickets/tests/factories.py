"""Small builders for ticket tests (real rows, real services)."""

import itertools

from channels_integrations.inbound import InboundMessage
from channels_integrations.models import ChannelConnection

_serial = itertools.count(1)


def connection(tenant, platform: str = "line", name: str | None = None) -> ChannelConnection:
    with tenant.scope():
        n = next(_serial)
        return ChannelConnection.objects.create(
            organization=tenant.organization,
            platform=platform,
            display_name=name or f"{platform} {n}",
            external_account_id=f"acct-{n}",
        )


def inbound(
    text: str = "こんにちは",
    *,
    thread: str = "thread-1",
    author: str = "U1",
    mid: str | None = None,
    kind: str = "direct",
    name: str = "山田 花子",
    **extra,
) -> InboundMessage:
    return InboundMessage(
        platform_message_id=mid or f"m-{next(_serial)}",
        thread_key=thread,
        kind=kind,
        author_id=author,
        author_name=name,
        text=text,
        **extra,
    )
