"""The one seam from tickets to automation. `tickets` sits below `automation` and never imports it: its services
call these hooks, and the automation app registers its implementation at startup (AutomationConfig.ready). Every
hook runs inside the caller's transaction, on the ticket row the caller has locked, in the order the services call
them. The base class is "no automation": no language or sentiment, nothing automatic."""

from datetime import datetime
from typing import Protocol


class TextAnalysis(Protocol):
    language: str  # ISO 639-1, "" when unknown
    sentiment: str  # "positive" | "neutral" | "negative" | ""
    score: float | None  # -1.0 … 1.0, None when nothing could be judged


class TicketAutomation:
    def analyze(self, text: str) -> TextAnalysis | None:
        """Language and sentiment of a customer message (before it is stored); None: not analysed."""
        return None

    def sentiment_rollup(self, previous: float | None, latest: float | None) -> tuple[str, float | None]:
        """A ticket's sentiment after its latest message: (label, score)."""
        return "", previous

    def message_received(self, *, organization, ticket, message, how: str, previous_status: str, author_id: str):
        """A customer message was stored on `ticket` (locked). `how` the ticket came: "created", "reopened" or
        "existing". The hook may change the ticket; it sets the changed fields on `ticket` itself."""

    def ticket_changed(
        self, *, organization, ticket, actor, old_status: str, old_assignee_id: int | None, changed: set, rules: bool
    ) -> None:
        """A member or automation (`actor` None) changed `ticket` (locked): `changed` names what ("status",
        "priority", "assignee", "team", "tags"). `rules` is False when automation itself made the change."""

    def agent_replied(self, *, organization, ticket, at: datetime) -> None:
        """An agent (not an automatic reply) answered the customer on `ticket`."""

    def ticket_merged(self, *, organization, source, target) -> None:
        """`source` was merged into `target` (both locked); the conversation continues in `target`."""

    def ticket_split(self, *, organization, ticket, new) -> None:
        """A message of `ticket` became the new ticket `new` (locked)."""


_registered: list[TicketAutomation] = [TicketAutomation()]


def register(implementation: TicketAutomation) -> None:
    """Called once by the automation app at startup."""
    _registered[:] = [implementation]


def automation() -> TicketAutomation:
    return _registered[0]
