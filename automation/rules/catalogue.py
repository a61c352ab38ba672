"""Ready-made rules for a first automation, fit for a small Japanese support desk: cancellations and refunds to a
team, urgent messages first, unhappy customers flagged, an automatic reply outside business hours.

A template is only a draft for the rule editor: its name and description are translated, its keywords are data (the
words customers write), and what differs per organization (the team, the canned response) is left empty (None) for
the administrator to choose in the editor. Nothing is saved until they save, through the same form and validation as
a hand-written rule, after the dry run if they like.

Rules that route or tag once per ticket also check that the ticket does not carry their tag yet, so a customer who
writes "キャンセル" three times does not get their ticket routed three times."""

import copy
import json
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from automation.models import RuleTrigger
from automation.rules.compiler import fields_used
from automation.rules.describe import ConditionGroup, Names, describe_action, describe_conditions

# The action parameters a template leaves for the administrator, and what they name.
CHOSEN_PARAMS = {"team": "team", "response": "response"}
# Conversations an automatic reply may answer (never a public comment, which the whole page would see).
PRIVATE_KINDS = ["direct", "email", "chat", "form"]


@dataclass(frozen=True)
class RuleTemplate:
    key: str
    name: Promise
    description: Promise
    trigger: str
    conditions: dict
    actions: tuple[dict, ...]
    example: str  # a customer message the rule matches (shown on the template and checked by the tests)

    @property
    def needs(self) -> tuple[str, ...]:
        """What the administrator must choose before saving: "team", "response" (in the order of the actions)."""
        found: list[str] = []
        for action in self.actions:
            for param, kind in CHOSEN_PARAMS.items():
                if param in action and action[param] is None and kind not in found:
                    found.append(kind)
        return tuple(found)

    @property
    def trigger_label(self) -> str:
        return str(RuleTrigger(self.trigger).label)

    @property
    def uses_business_hours(self) -> bool:
        return "business_hours" in fields_used(self.conditions)

    def draft(self) -> tuple[dict, list[dict]]:
        """Fresh copies of the conditions and actions, with the parameters to choose still empty (None)."""
        return copy.deepcopy(self.conditions), [dict(action) for action in self.actions]

    def filled(self, **chosen: int) -> tuple[dict, list[dict]]:
        """The draft with the empty parameters set (`team=3, response=7`), as the editor would submit it."""
        conditions, actions = self.draft()
        for action in actions:
            for param in CHOSEN_PARAMS:
                if param in action and action[param] is None and param in chosen:
                    action[param] = chosen[param]
        return conditions, actions

    def initial(self) -> dict:
        """The rule editor's initial data (in the member's language for the name and description)."""
        conditions, actions = self.draft()
        return {
            "name": str(self.name),
            "description": str(self.description),
            "trigger": self.trigger,
            "enabled": True,
            "stop_processing": False,
            "conditions": json.dumps(conditions, ensure_ascii=False),
            "actions": json.dumps(actions, ensure_ascii=False),
        }


def _text(*keywords: str) -> dict:
    return {"field": "message.text", "op": "contains_any", "value": list(keywords)}


def _untagged(tag: str) -> dict:
    return {"field": "ticket.tags", "op": "contains_none", "value": [tag]}


TEMPLATES: tuple[RuleTemplate, ...] = (
    RuleTemplate(
        key="cancellation",
        name=gettext_lazy("Cancellations to a team"),
        description=gettext_lazy(
            "Messages asking to cancel an order, a booking or a contract go to the team you choose and are tagged "
            "“cancellation”."
        ),
        trigger=RuleTrigger.MESSAGE_RECEIVED,
        conditions={
            "all": [
                _text("キャンセル", "解約", "退会", "取り消し", "取消", "cancel", "cancellation"),
                _untagged("cancellation"),
            ]
        },
        actions=({"type": "assign_team", "team": None}, {"type": "add_tags", "tags": ["cancellation"]}),
        example="注文をキャンセルしたいです",
    ),
    RuleTemplate(
        key="refund",
        name=gettext_lazy("Refunds to a team"),
        description=gettext_lazy(
            "Messages about a refund go to the team you choose and are tagged “refund”, so they are found and "
            "counted together."
        ),
        trigger=RuleTrigger.MESSAGE_RECEIVED,
        conditions={"all": [_text("返金", "払い戻し", "払戻", "refund"), _untagged("refund")]},
        actions=({"type": "assign_team", "team": None}, {"type": "add_tags", "tags": ["refund"]}),
        example="返金はいつになりますか？",
    ),
    RuleTemplate(
        key="urgent",
        name=gettext_lazy("Urgent requests first"),
        description=gettext_lazy(
            "A message that says it is urgent (至急, 緊急) gets the priority “Urgent”, so it rises to the top of "
            "the inbox."
        ),
        trigger=RuleTrigger.MESSAGE_RECEIVED,
        conditions={
            "all": [
                _text("至急", "緊急", "急いで", "urgent", "asap"),
                {"field": "ticket.priority", "op": "not_in", "value": ["urgent"]},
            ]
        },
        actions=({"type": "set_priority", "priority": "urgent"},),
        example="至急ご連絡ください",
    ),
    RuleTemplate(
        key="complaint",
        name=gettext_lazy("Unhappy customers flagged"),
        description=gettext_lazy(
            "A message that reads as negative raises a low or normal priority to “High” and tags the ticket "
            "“complaint”."
        ),
        trigger=RuleTrigger.MESSAGE_RECEIVED,
        conditions={
            "all": [
                {"field": "message.sentiment", "op": "in", "value": ["negative"]},
                {"field": "ticket.priority", "op": "in", "value": ["low", "normal"]},
            ]
        },
        actions=({"type": "set_priority", "priority": "high"}, {"type": "add_tags", "tags": ["complaint"]}),
        example="対応が遅すぎます。本当にがっかりしました。",
    ),
    RuleTemplate(
        key="out_of_hours",
        name=gettext_lazy("Reply outside business hours"),
        description=gettext_lazy(
            "When a new conversation starts outside your business hours, the customer gets the canned reply you "
            "choose (for example, when you will answer). Public comments are not answered."
        ),
        trigger=RuleTrigger.TICKET_CREATED,
        conditions={
            "all": [
                {"field": "business_hours", "op": "outside"},
                {"field": "message.kind", "op": "in", "value": PRIVATE_KINDS},
            ]
        },
        actions=({"type": "auto_reply", "response": None},),
        example="夜分にすみません、商品について質問があります",
    ),
)

BY_KEY = {template.key: template for template in TEMPLATES}


def template_get(key: str | None) -> RuleTemplate | None:
    return BY_KEY.get(key or "")


def describe_template(template: RuleTemplate) -> tuple[ConditionGroup, list[str]]:
    """The template in words, like a saved rule; a parameter still to choose reads "the team you choose"."""
    names = Names()  # templates name no object of any organization
    conditions = describe_conditions(template.conditions, names)
    actions = []
    for action in template.actions:
        if action.get("team", 0) is None:
            actions.append(_("Route to the team you choose"))
        elif action.get("response", 0) is None:
            actions.append(_("Reply automatically with the shared canned response you choose"))
        else:
            actions.append(describe_action(action, names))
    return conditions, actions
