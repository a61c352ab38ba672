"""Reads for the contacts screens. Every read starts from `visible_contacts(membership)`: the contacts a member may
see are those with a ticket they may see (tickets.selectors.visible_tickets, which applies the channel grants);
members who see every channel see every contact, including those imported or typed in without a ticket yet."""

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Membership
from accounts.roles import Capability
from channels_integrations.registry import platform_choices
from tickets.models import (
    ACTIVE_STATUSES,
    Contact,
    ContactAttributeDefinition,
    ContactDuplicateSuggestion,
    ContactIdentity,
    ContactMerge,
    Message,
    MessageKind,
    SuggestionStatus,
    SurveyAnswer,
    Ticket,
)
from tickets.search import filter_matching
from tickets.selectors import visible_tickets

PAGE_SIZE = 50
TIMELINE_PAGE = 30
ATTR_PREFIX = "attr."


def visible_contacts(membership: Membership) -> QuerySet[Contact]:
    """Contacts the member may see (never merged-away ones: they live on inside their survivor)."""
    contacts = Contact.objects.filter(merged_into__isnull=True)
    if membership.has(Capability.TICKETS_VIEW_ALL):
        return contacts
    return contacts.filter(Exists(visible_tickets(membership).filter(contact_id=OuterRef("pk"))))


def _flag(value) -> bool | None:
    return {"1": True, "yes": True, "true": True, "0": False, "no": False, "false": False}.get(str(value).lower())


@dataclass(frozen=True)
class ContactFilter:
    """The contacts list's filters, parsed leniently from a query string (unknown values are ignored, never a 500).
    Custom attributes filter as `attr.<key>=<value>`."""

    q: str = ""
    tag: str = ""
    vip: bool | None = None
    platform: str = ""
    open_tickets: bool | None = None
    consent_marketing: bool | None = None
    consent_survey: bool | None = None
    attributes: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @classmethod
    def from_query(cls, query) -> "ContactFilter":
        platforms = {value for value, _label in platform_choices()}
        attributes = tuple(
            sorted(
                (key[len(ATTR_PREFIX) :][:60], str(value).strip()[:200])
                for key, value in query.items()
                if key.startswith(ATTR_PREFIX) and str(value).strip()
            )
        )
        return cls(
            q=str(query.get("q", "")).strip()[:200],
            tag=str(query.get("tag", "")).strip()[:60],
            vip=_flag(query.get("vip", "")),
            platform=query.get("platform") if query.get("platform") in platforms else "",
            open_tickets=_flag(query.get("open", "")),
            consent_marketing=_flag(query.get("marketing", "")),
            consent_survey=_flag(query.get("survey", "")),
            attributes=attributes,
        )

    def as_query(self) -> dict:
        """The non-default values (for links, the export and segments)."""
        yes_no = {True: "1", False: "0", None: ""}
        values = {
            "q": self.q,
            "tag": self.tag,
            "vip": yes_no[self.vip],
            "platform": self.platform,
            "open": yes_no[self.open_tickets],
            "marketing": yes_no[self.consent_marketing],
            "survey": yes_no[self.consent_survey],
            **{f"{ATTR_PREFIX}{key}": value for key, value in self.attributes},
        }
        return {key: value for key, value in values.items() if value != ""}

    @property
    def active(self) -> bool:
        return bool(self.as_query())

    def apply(self, contacts: QuerySet[Contact], membership: Membership) -> QuerySet[Contact]:
        if self.q:
            contacts = filter_matching(contacts, self.q)
        if self.tag:
            contacts = contacts.filter(tags__contains=[self.tag])
        if self.vip is not None:
            contacts = contacts.filter(vip=self.vip)
        if self.platform:
            contacts = contacts.filter(
                Exists(ContactIdentity.objects.filter(contact_id=OuterRef("pk"), platform=self.platform))
            )
        if self.open_tickets is not None:
            # Only tickets the member may see count: a ticket on a hidden channel must not show through a filter.
            open_ = Exists(visible_tickets(membership).filter(contact_id=OuterRef("pk"), status__in=ACTIVE_STATUSES))
            contacts = contacts.filter(open_ if self.open_tickets else ~open_)
        if self.consent_marketing is not None:
            contacts = contacts.filter(consent_marketing=self.consent_marketing)
        if self.consent_survey is not None:
            contacts = contacts.filter(consent_survey=self.consent_survey)
        if self.attributes:
            definitions = {d.key: d for d in ContactAttributeDefinition.objects.filter(key__in=dict(self.attributes))}
            for key, value in self.attributes:
                definition = definitions.get(key)
                if definition is None:
                    continue
                if definition.type == "number":
                    try:
                        number = float(value)
                    except ValueError:
                        return contacts.none()
                    contacts = contacts.filter(
                        Q(**{f"attributes__{key}": int(number) if number.is_integer() else number})
                    )
                else:
                    contacts = contacts.filter(**{f"attributes__{key}": value})
        return contacts


def contact_list(membership: Membership, contact_filter: ContactFilter) -> QuerySet[Contact]:
    """The list's rows, newest first, with their identities and the number of open tickets the member may see."""
    open_count = (
        visible_tickets(membership)
        .filter(contact_id=OuterRef("pk"), status__in=ACTIVE_STATUSES)
        .order_by()
        .values("contact_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        contact_filter.apply(visible_contacts(membership), membership)
        .defer("search_vector", "notes")
        .annotate(open_count=Coalesce(Subquery(open_count, output_field=IntegerField()), 0))
        .prefetch_related(Prefetch("identities", queryset=ContactIdentity.objects.order_by("platform", "id")))
        .order_by("-created_at", "-id")
    )


def contact_tickets(membership: Membership, contact: Contact) -> QuerySet[Ticket]:
    """The contact's tickets the member may see, newest activity first."""
    return (
        visible_tickets(membership)
        .filter(contact_id=contact.pk)
        .select_related("connection", "assignee")
        .order_by("-last_message_at", "-id")
    )


@dataclass
class TimelinePage:
    items: list[Message]
    next_before: str = ""  # the cursor of the next (older) page, "" at the end


def _cursor(message: Message) -> str:
    return f"{message.created_at.timestamp():.6f}_{message.pk}"


def _parse_cursor(value: str) -> tuple[dt.datetime, int] | None:
    try:
        stamp, pk = value.split("_", 1)
        return dt.datetime.fromtimestamp(float(stamp), tz=dt.UTC), int(pk)
    except (ValueError, OverflowError, OSError):
        return None


def contact_timeline(membership: Membership, contact: Contact, *, before: str = "") -> TimelinePage:
    """Every message of the contact's visible tickets, across channels, newest first, a page at a time (keyset on
    created_at and id: each page costs the same whatever its depth). Private notes are left out: this is the
    customer's history."""
    ticket_ids = list(contact_tickets(membership, contact).values_list("pk", flat=True))
    messages = (
        Message.objects.filter(ticket_id__in=ticket_ids)
        .exclude(kind=MessageKind.NOTE)
        .select_related("ticket", "connection", "author_user")
        .defer("html", "search_vector", "sender_authentication")
        .order_by("-created_at", "-id")
    )
    cursor = _parse_cursor(before) if before else None
    if cursor is not None:
        at, pk = cursor
        messages = messages.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk))
    items = list(messages[: TIMELINE_PAGE + 1])
    more = len(items) > TIMELINE_PAGE
    items = items[:TIMELINE_PAGE]
    return TimelinePage(items=items, next_before=_cursor(items[-1]) if more and items else "")


def contact_sentiments(membership: Membership, contact: Contact, *, limit: int = 30) -> list[Message]:
    """The customer's latest messages that carry a sentiment, oldest first (the sentiment history)."""
    ticket_ids = list(contact_tickets(membership, contact).values_list("pk", flat=True))
    rows = list(
        Message.objects.filter(ticket_id__in=ticket_ids, direction="inbound")
        .exclude(sentiment="")
        .only("pk", "created_at", "sentiment", "sentiment_score", "ticket_id")
        .order_by("-created_at", "-id")[:limit]
    )
    return rows[::-1]


def contact_csat(membership: Membership, contact: Contact, *, limit: int = 20) -> list[SurveyAnswer]:
    """The customer's survey answers (rating and comment) on tickets the member may see, newest first."""
    return list(
        SurveyAnswer.objects.filter(ticket__in=visible_tickets(membership).filter(contact_id=contact.pk))
        .select_related("ticket")
        .order_by("-created_at", "-id")[:limit]
    )


def contact_suggestions(membership: Membership, contact: Contact) -> list[tuple[ContactDuplicateSuggestion, Contact]]:
    """Open duplicate suggestions about the contact whose other contact the member may also see, each with that
    other contact."""
    visible = visible_contacts(membership)
    suggestions = (
        ContactDuplicateSuggestion.objects.filter(status=SuggestionStatus.OPEN)
        .filter(Q(contact_id=contact.pk) | Q(other_id=contact.pk))
        .filter(Q(contact__in=visible) & Q(other__in=visible))
        .select_related("contact", "other")
        .prefetch_related("contact__identities", "other__identities")
        .order_by("-score", "-id")[:10]
    )
    return [(s, s.other if s.contact_id == contact.pk else s.contact) for s in suggestions]


def contact_merges(contact: Contact) -> list[ContactMerge]:
    """Merges into this contact, newest first, with whether each can still be undone."""
    merges = list(
        ContactMerge.objects.filter(survivor_id=contact.pk).select_related("merged", "actor", "undone_by")[:20]
    )
    now = timezone.now()
    for merge in merges:
        merge.can_undo = merge.undone_at is None and merge.undo_until > now
    return merges
