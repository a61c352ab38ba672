"""The organization's overview page (/<org-slug>/): its numbers, the member's teams and, for admins of a new
organization, the onboarding checklist. It lives in the top layer because the checklist reads every app's state."""

from dataclasses import dataclass

from django.db.models import Exists
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts import selectors as account_selectors
from accounts.models import Invitation, Membership, Organization
from accounts.roles import SHOWN, Capability
from automation.models import BusinessCalendar, Rule
from channels_integrations.models import ChannelConnection
from tickets.models import Direction, Message, MessageKind


@dataclass(frozen=True)
class Step:
    key: str
    title: Promise
    hint: Promise
    action: Promise
    url: str
    done: bool


def onboarding_steps(organization, viewer) -> list[Step]:
    """The first-day steps, each marked done from what the organization has really set up: one query for all."""
    slug = organization.slug
    org = organization.pk
    done = (
        Organization.objects.filter(pk=org)
        .annotate(
            channel=Exists(ChannelConnection.objects.filter(organization=org)),
            invitation=Exists(Invitation.objects.filter(organization=org)),
            teammate=Exists(Membership.objects.filter(organization=org).exclude(user=viewer)),
            hours=Exists(BusinessCalendar.objects.filter(organization=org)),
            rule=Exists(Rule.objects.filter(organization=org)),
            answered=Exists(
                Message.objects.filter(
                    organization=org, direction=Direction.OUTBOUND, automated=False, author_user__isnull=False
                ).exclude(kind=MessageKind.NOTE)
            ),
        )
        .values("channel", "invitation", "teammate", "hours", "rule", "answered")
        .get()
    )
    return [
        Step(
            "channel",
            _("Connect your first channel"),
            _("A Facebook page, an Instagram account or a mailbox: its messages become tickets in the inbox."),
            _("Connect a channel"),
            reverse("org:channels", args=[slug]),
            done["channel"],
        ),
        Step(
            "invite",
            _("Invite your teammates"),
            _("Everyone answers from the same inbox, and nobody answers a customer twice."),
            _("Invite people"),
            reverse("org:members", args=[slug]) + "#invite-form",
            done["invitation"] or done["teammate"],
        ),
        Step(
            "hours",
            _("Set your business hours"),
            _("SLA clocks run only while you are open; Japan's public holidays can be included."),
            _("Set business hours"),
            reverse("org:sla_calendar_create", args=[slug]),
            done["hours"],
        ),
        Step(
            "rule",
            _("Create your first rule"),
            _("For example: messages that mention 「キャンセル」 go to the right team, tagged. Start from a template."),
            _("Create a rule"),
            reverse("org:rules_list", args=[slug]),
            done["rule"],
        ),
        Step(
            "answer",
            _("Send a test message and answer it"),
            _("Write to your page or mailbox as a customer would, then reply to it from the inbox."),
            _("Open the inbox"),
            reverse("org:inbox", args=[slug]),
            done["answered"],
        ),
    ]


@require_GET
def org_home(request, org_slug):
    membership = request.membership
    context = {
        "member_count": account_selectors.membership_list().count(),
        "team_count": account_selectors.team_list().count(),
        "my_teams": [
            team
            for team in account_selectors.team_list()
            if any(u.pk == request.user.pk for u in team.group.user_set.all())
        ],
        "capabilities": [c for c in SHOWN if membership.has(c)],
    }
    # The checklist is for those who set the organization up; it says nothing a member without grants may not know.
    if membership.has(Capability.ORG_MANAGE):
        steps = onboarding_steps(request.organization, request.user)
        context["steps"] = steps
        context["steps_done"] = sum(step.done for step in steps)
    return render(request, "inbox/home.html", context)
