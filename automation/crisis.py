"""Crisis alerts: a spike of negative customer messages on one channel within a window tells the managers at once
(in the app and by email, following their notification preferences)."""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Case, Count, Exists, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Membership, Organization
from accounts.roles import RoleKey
from automation.models import CrisisAlert
from automation.rules.webhooks import automation_settings
from core.batch_reads import recall, remember
from tickets.models import Direction, Message, Sentiment, Ticket
from tickets.notifications import notify_about_ticket

logger = logging.getLogger("tsunagu.tickets")

ALERTED_ROLES = (RoleKey.OWNER, RoleKey.ADMIN, RoleKey.MANAGER)


def _negatives_unless_alerted(organization: Organization, connection_id: int, since) -> int | None:
    """The channel's negative customer messages since `since`, or None when it had an alert since then — one query:
    the count is a subquery PostgreSQL runs only when no alert exists (a CASE evaluates its branches lazily), since
    during a spike counting every negative message again is the costly part. Within an ingest batch a "yes, an
    alert" is remembered (it stays true for the batch), and then no query is made at all."""
    key = ("crisis_alert", connection_id)
    if recall(key):
        return None
    alerted = Exists(CrisisAlert.objects.filter(connection_id=connection_id, created_at__gte=since))
    negatives = (
        Message.objects.filter(
            connection_id=connection_id,
            direction=Direction.INBOUND,
            sentiment=Sentiment.NEGATIVE,
            created_at__gte=since,
        )
        .order_by()
        .values("connection_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    found = (
        Organization.objects.filter(pk=organization.pk)
        .annotate(found=Case(When(alerted, then=Value(-1)), default=Coalesce(Subquery(negatives), Value(0))))
        .values_list("found", flat=True)
        .get()
    )
    if found < 0:
        remember(key, True)
        return None
    return found


def crisis_check(*, organization: Organization, ticket: Ticket, message: Message) -> CrisisAlert | None:
    """After a negative customer message: when the channel has had `crisis_threshold` negative messages within the
    last `crisis_window_minutes`, raise one alert (at most one per channel per window: a recent alert is enough,
    and a unique window bucket stops two concurrent messages from both raising one)."""
    if message.direction != Direction.INBOUND or message.sentiment != Sentiment.NEGATIVE:
        return None

    config = automation_settings(organization)
    window = timedelta(minutes=max(config.crisis_window_minutes, 1))
    now = timezone.now()
    negatives = _negatives_unless_alerted(organization, message.connection_id, now - window)
    if negatives is None or negatives < config.crisis_threshold:
        return None
    seconds = int(window.total_seconds())
    bucket = now.replace(microsecond=0) - timedelta(seconds=int(now.timestamp()) % seconds)
    try:
        with transaction.atomic():
            alert = CrisisAlert.objects.create(
                organization=organization,
                connection_id=message.connection_id,
                window_start=bucket,
                negative_count=negatives,
                ticket=ticket,
            )
    except IntegrityError:
        return None
    logger.warning(
        "crisis alert on connection %s: %s negative messages in %s", message.connection_id, negatives, window
    )
    params = {
        "count": negatives,
        "channel": ticket.connection.display_name,
        "minutes": config.crisis_window_minutes,
    }
    for user_id in Membership.objects.filter(role__key__in=ALERTED_ROLES).values_list("user_id", flat=True):
        notify_about_ticket(organization=organization, user_id=user_id, kind="crisis", ticket=ticket, params=params)
    return alert
