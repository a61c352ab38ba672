"""Real history rows with chosen times, for hand-computed metrics (times are set after insert: auto_now_add)."""

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

from analytics import services
from automation.models import SlaEvent
from tickets.models import Contact, Message, Survey, SurveyAnswer, SurveyState, Ticket, TicketEvent

JST = ZoneInfo("Asia/Tokyo")
_serial = itertools.count(1)


def jst(text: str) -> datetime:
    """ "2026-11-20 17:00" in Japan."""
    return datetime.fromisoformat(text).replace(tzinfo=JST)


def ticket(organization, connection, created: datetime, **fields) -> Ticket:
    n = next(_serial)
    contact = Contact.objects.create(organization=organization, name=f"客 {n}")
    made = Ticket.objects.create(
        organization=organization,
        number=n,
        connection=connection,
        contact=contact,
        external_thread_key=f"t-{n}",
        **fields,
    )
    Ticket.objects.filter(pk=made.pk).update(created_at=created)
    made.refresh_from_db()
    return made


def message(ticket: Ticket, at: datetime, direction: str, *, user=None, automated=False, kind="direct") -> Message:
    made = Message.objects.create(
        organization_id=ticket.organization_id,
        ticket=ticket,
        connection_id=ticket.connection_id,
        direction=direction,
        kind=kind,
        author_user=user,
        automated=automated,
    )
    Message.objects.filter(pk=made.pk).update(created_at=at)
    return made


def inbound(ticket: Ticket, at: datetime) -> Message:
    return message(ticket, at, "inbound")


def reply(ticket: Ticket, at: datetime, user, **extra) -> Message:
    return message(ticket, at, "outbound", user=user, **extra)


def event(ticket: Ticket, at: datetime, kind: str, old=None, new=None, actor=None) -> TicketEvent:
    made = TicketEvent.objects.create(
        organization_id=ticket.organization_id, ticket=ticket, kind=kind, old=old, new=new, actor=actor
    )
    TicketEvent.objects.filter(pk=made.pk).update(created_at=at)
    return made


def sla_event(ticket: Ticket, at: datetime, kind: str, metric: str = "first_response") -> SlaEvent:
    made, _created = SlaEvent.objects.get_or_create(
        ticket=ticket,
        metric=metric,
        kind=kind,
        due_at=at,
        defaults={"organization_id": ticket.organization_id, "occurred_at": at},
    )
    return made


def survey_answer(ticket: Ticket, at: datetime, rating: int, *, agent_id=None, comment: str = "") -> SurveyAnswer:
    """A sent survey of the ticket answered at `at` (one survey per answer, as one per solve)."""
    survey = Survey.objects.create(
        organization_id=ticket.organization_id,
        ticket=ticket,
        solve_event_id=next(_serial),
        agent_id=agent_id,
        state=SurveyState.SENT,
    )
    made = SurveyAnswer.objects.create(
        organization_id=ticket.organization_id,
        survey=survey,
        ticket=ticket,
        agent_id=agent_id,
        rating=rating,
        comment=comment,
    )
    SurveyAnswer.objects.filter(pk=made.pk).update(created_at=at)
    made.refresh_from_db()
    return made


def catch_up(**options) -> int:
    """Two consumer runs: the first moves the horizon up to what exists, the second reads it."""
    return services.consume(**options) + services.consume(**options)
