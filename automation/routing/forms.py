"""Forms of a team's routing settings: how the team assigns tickets, and each member's capacity and skills."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import AssignmentStrategy, Team
from automation.routing.assignment import SKILL_LANGUAGES
from channels_integrations.registry import platform_choices


class TeamRoutingForm(forms.Form):
    """How a team assigns its tickets (the team page, for members who manage routing)."""

    assignment_strategy = forms.ChoiceField(label=_("Automatic assignment"), choices=AssignmentStrategy.choices)
    default_capacity = forms.IntegerField(
        label=_("Open tickets per agent at most"),
        min_value=1,
        max_value=500,
        help_text=_("New and open tickets count; pending and on-hold ones do not. A member can have their own limit."),
    )
    match_skills = forms.BooleanField(
        label=_("Match skills"),
        required=False,
        help_text=_("Prefer agents who speak the ticket's language and know its platform; others when none can."),
    )
    require_online = forms.BooleanField(
        label=_("Only agents who are online"),
        required=False,
        help_text=_("Agents with the inbox open. Away agents never get tickets automatically."),
    )

    @classmethod
    def initial_for(cls, team: Team) -> dict:
        return {
            f: getattr(team, f) for f in ("assignment_strategy", "default_capacity", "match_skills", "require_online")
        }


class MemberRoutingForm(forms.Form):
    """One team member's capacity and skills (prefixed per membership on the team page)."""

    capacity = forms.IntegerField(
        label=_("Open tickets at most"),
        required=False,
        min_value=0,
        max_value=500,
        help_text=_("Empty: the team's default. 0: never assigned automatically."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    skill_languages = forms.MultipleChoiceField(
        label=_("Languages"), required=False, choices=(), widget=forms.CheckboxSelectMultiple
    )
    skill_platforms = forms.MultipleChoiceField(
        label=_("Platforms"), required=False, choices=(), widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["skill_languages"].choices = SKILL_LANGUAGES
        self.fields["skill_platforms"].choices = platform_choices()
        self.fields["skill_languages"].help_text = _("None checked: any language.")
        self.fields["skill_platforms"].help_text = _("None checked: any platform.")

    @staticmethod
    def initial_for(membership) -> dict:
        return {
            "capacity": membership.capacity,
            "skill_languages": membership.skill_languages,
            "skill_platforms": membership.skill_platforms,
        }
