from django.utils.functional import SimpleLazyObject

from accounts.roles import Capability
from channels_integrations.models import ChannelConnection, ConnectionStatus


def channel_problems(request):
    """For members who can fix it: does a channel of this organization need to be connected again? (one query,
    only when a page shows it)."""
    membership = getattr(request, "membership", None)
    return {"channels_need_reauth": SimpleLazyObject(lambda: _channels_need_reauth(membership))}


def _channels_need_reauth(membership) -> bool:
    if membership is None or not membership.has(Capability.CHANNELS_MANAGE):
        return False
    return ChannelConnection.objects.filter(status=ConnectionStatus.NEEDS_REAUTH).exists()
