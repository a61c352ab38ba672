"""The seam between agent replies and reply approval (送信前承認). `tickets` sits below `approvals` and never
imports it: `message_reply` asks the registered gate whether a reply must be held for approval (a policy, or the
agent asked for it), stores a held reply as a message that is never sent while held, and hands it to the gate. The
approvals app registers its implementation at startup (ApprovalsConfig.ready). The base class holds nothing."""

from dataclasses import dataclass


@dataclass(frozen=True)
class HoldDecision:
    """The gate's answer for one reply about to be queued: hold it for approval (and why, for the history)."""

    hold: bool
    reason: str = ""  # "policy" or "asked"
    workflow_id: int | None = None
    workflow_name: str = ""


NO_HOLD = HoldDecision(hold=False)


@dataclass(frozen=True)
class HeldInfo:
    """What the conversation shows on a reply waiting for approval (held, returned or approved-not-sent)."""

    waiting_for: str = ""  # the approvers it waits for, by name (or the step's name)
    step: str = ""
    author: str = ""
    can_decide: bool = False  # the viewer may approve / edit / return it now
    is_author: bool = False  # the viewer wrote it (resubmits a returned reply, sends an approved one)
    version: int = 1
    comment: str = ""  # the approver's comment when it was returned
    request_path: str = ""  # the approval request's page


class ReplyGate:
    def review(self, *, organization, actor, ticket, text: str, public: bool, asked: bool) -> HoldDecision:
        """Whether this reply must wait for approval. `asked`: the agent asked for approval instead of sending.
        Runs inside message_reply's transaction; may raise core.errors.DomainError (e.g. nobody can approve)."""
        return NO_HOLD

    def held(self, *, organization, actor, message, decision: HoldDecision) -> None:
        """The reply was stored as `message` in the held state: submit it for approval (same transaction)."""

    def held_info(self, *, organization, user, message) -> HeldInfo | None:
        """The marker of a waiting reply as `user` sees it (the inbox's bubble)."""
        return None


_registered: list[ReplyGate] = [ReplyGate()]


def register(implementation: ReplyGate) -> None:
    """Called once by the approvals app at startup."""
    _registered[:] = [implementation]


def reply_gate() -> ReplyGate:
    return _registered[0]
