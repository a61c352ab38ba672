"""Settings → Automation: the rules (list, editor with condition/action builders and a dry run), the webhook
delivery log with the signing secret, and the automation settings (crisis alert, auto-responses per channel).

A first rule can start from a ready-made template (automation.rules.catalogue): the editor opens pre-filled, and
nothing is saved until the administrator saves it like any other rule.

Everything here needs `rules.manage` (403 otherwise, like the channel settings; non-members get 404 from the tenant
middleware). Rules are looked up through the scoped manager, so another organization's rule id is a 404."""

import json

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import require_capability
from accounts.roles import Capability
from automation.models import AutoResponse, AutoResponseKind, Rule, RuleTrigger
from automation.rules import selectors, services
from automation.rules.catalogue import RuleTemplate, describe_template, template_get
from automation.rules.describe import Names, describe_action, describe_conditions
from automation.rules.engine import rules_dry_run
from automation.rules.forms import (
    AutomationSettingsForm,
    AutoResponseForm,
    RotateSecretForm,
    RuleForm,
    auto_response_choices,
    editor_spec,
    error_anchor,
    error_location,
)
from automation.rules.schema import RuleInvalid
from automation.rules.webhooks import SIGNATURE_HEADER, automation_settings, webhook_secret_rotate
from channels_integrations.models import ChannelConnection
from core.crypto import decrypt_json
from core.errors import DomainError
from core.views import actor_kwargs

DRY_RUN_LIMIT = 500
DRY_RUN_SHOWN = 100
FORM_FIELDS = ("name", "description", "trigger")
DRY_RUN_FIELDS = ("trigger", "conditions", "actions")


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _rule(rule_id: int) -> Rule:
    return get_object_or_404(Rule.objects.all(), pk=rule_id)


# --- the list -----------------------------------------------------------------------------------------------------


def _list_context(request, notice: str = "", notice_error: bool = False) -> dict:
    groups = selectors.rules_by_trigger(request.organization)
    return {
        "groups": groups,
        "has_rules": any(group.rows for group in groups),
        "notice": notice,
        "notice_error": notice_error,
    }


@require_GET
@require_capability(Capability.RULES_MANAGE)
def rules_list(request, org_slug):
    context = _list_context(request) | {"templates": selectors.rule_template_cards(request.organization)}
    return render(request, "automation/rules/list.html", context)


def _list_answer(request, org_slug, notice: str, error: bool = False):
    """htmx: the list part again, with the notice inside it (200 even for a refusal: htmx swaps only 2xx answers, and
    the notice is the answer); otherwise back to the list page."""
    if _is_htmx(request):
        return render(request, "automation/rules/_list.html", _list_context(request, notice, error))
    (messages.error if error else messages.success)(request, notice)
    return redirect("org:rules_list", org_slug=org_slug)


@require_POST
@require_capability(Capability.RULES_MANAGE)
def rules_toggle(request, org_slug, rule_id):
    rule = _rule(rule_id)
    enabled = request.POST.get("enabled") in {"1", "true", "on"}
    try:
        rule = services.rule_set_enabled(rule=rule, enabled=enabled, **actor_kwargs(request))
    except RuleInvalid:
        return _list_answer(
            request,
            org_slug,
            _("“%(name)s” cannot be switched on: open it and fix what the editor shows.") % {"name": rule.name},
            error=True,
        )
    notice = _("“%(name)s” is on.") if rule.enabled else _("“%(name)s” is off.")
    return _list_answer(request, org_slug, notice % {"name": rule.name})


@require_POST
@require_capability(Capability.RULES_MANAGE)
def rules_move(request, org_slug, rule_id):
    rule = _rule(rule_id)
    offset = {"up": -1, "down": 1}.get(request.POST.get("direction", ""))
    if offset is None:
        return _list_answer(request, org_slug, _("Choose up or down."), error=True)
    try:
        services.rule_move(rule=rule, offset=offset, **actor_kwargs(request))
    except DomainError as exc:
        return _list_answer(request, org_slug, exc.message, error=True)
    return _list_answer(request, org_slug, _("“%(name)s” moved.") % {"name": rule.name})


@require_http_methods(["GET", "POST"])
@require_capability(Capability.RULES_MANAGE)
def rules_delete(request, org_slug, rule_id):
    """GET asks for confirmation (works without JavaScript); POST deletes."""
    rule = _rule(rule_id)
    if request.method == "POST":
        services.rule_delete(rule=rule, **actor_kwargs(request))
        messages.success(request, _("Rule “%(name)s” deleted.") % {"name": rule.name})
        return redirect("org:rules_list", org_slug=org_slug)
    names = Names.load(request.organization, rule.conditions, rule.actions)
    return render(
        request,
        "automation/rules/delete.html",
        {
            "rule": rule,
            "conditions": describe_conditions(rule.conditions, names),
            "actions": [describe_action(a, names) for a in rule.actions],
        },
    )


# --- the editor ---------------------------------------------------------------------------------------------------


def _editor(request, org_slug, rule: Rule | None, template: RuleTemplate | None = None):
    if rule:
        initial = RuleForm.initial_for(rule)
    elif template:
        initial = template.initial()
    else:
        initial = {"trigger": RuleTrigger.MESSAGE_RECEIVED}
    form = RuleForm(request.POST if request.method == "POST" else None, initial=initial)
    rule_errors: dict[str, str] = {}
    dry_run = None
    status = 200
    if request.method == "POST" and request.POST.get("dry_run"):
        # A dry run needs only what the rule does, not its name: an unnamed draft can be tried.
        form.is_valid()
        blocking = [
            (form[name].label, error, form[name].id_for_label)
            for name in DRY_RUN_FIELDS
            for error in form.errors.get(name, [])
        ]
        if blocking:
            dry_run = {"errors": blocking, "errors_by_path": {}}
        else:
            dry_run = _dry_run(request, form)
        if _is_htmx(request):
            return render(request, "automation/rules/_dry_run.html", dry_run)
        rule_errors = dry_run["errors_by_path"]
        status = 400 if dry_run["errors"] else 200
    elif request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                if rule is None:
                    saved = services.rule_create(**form.rule_kwargs(), **actor_kwargs(request))
                else:
                    saved = services.rule_update(rule=rule, **form.rule_kwargs(), **actor_kwargs(request))
            except RuleInvalid as exc:
                rule_errors = _split_errors(form, exc.errors)
            else:
                messages.success(request, _("Rule “%(name)s” saved.") % {"name": saved.name})
                return redirect("org:rules_list", org_slug=org_slug)
    return render(
        request,
        "automation/rules/edit.html",
        {
            "form": form,
            "rule": rule,
            "spec": editor_spec(request.organization),
            "rule_errors": rule_errors,
            "error_list": _error_list(rule_errors),
            "dry_run": dry_run,
            "summary": _summary(request, form, rule, template),
            "template": template,
            "template_missing": _template_missing(request, template),
        },
        status=status,
    )


def _template_missing(request, template: RuleTemplate | None) -> list[str]:
    if template is None:
        return []
    return selectors.template_missing(template, selectors.template_setup_available(request.organization))


def _summary(request, form: RuleForm, rule: Rule | None, template: RuleTemplate | None = None) -> dict | None:
    """The rule in words as submitted (or as saved, or as the template has it), so that it is readable without the
    builder script."""
    if not form.is_bound and rule is None and template is not None:
        conditions, actions = describe_template(template)
        return {"conditions": conditions, "actions": actions}
    if form.is_bound:
        try:
            conditions = json.loads(form.data.get("conditions") or '{"all": []}')
            actions = json.loads(form.data.get("actions") or "[]")
        except ValueError:
            return None
    elif rule is not None:
        conditions, actions = rule.conditions, rule.actions
    else:
        return None
    names = Names.load(request.organization, conditions, actions)
    return {
        "conditions": describe_conditions(conditions, names),
        "actions": [describe_action(a, names) for a in (actions if isinstance(actions, list) else [])],
    }


def _split_errors(form: RuleForm, errors: dict[str, str]) -> dict[str, str]:
    """Name, description and trigger errors go to their form fields; the rest belong to builder rows."""
    rest = {}
    for path, message in errors.items():
        if path in FORM_FIELDS:
            form.add_error(path, message)
        else:
            rest[path] = message
    return rest


def _error_list(errors: dict[str, str]) -> list[tuple[str, str, str]]:
    return [(error_location(path), message, error_anchor(path)) for path, message in errors.items()]


def _dry_run(request, form: RuleForm) -> dict:
    data = form.cleaned_data
    try:
        looked_at, matches = rules_dry_run(
            organization=request.organization,
            trigger=data["trigger"],
            conditions=data["conditions"],
            actions=data["actions"],
            limit=DRY_RUN_LIMIT,
        )
    except RuleInvalid as exc:
        return {"errors": _error_list(exc.errors), "errors_by_path": exc.errors}
    names = Names.load(request.organization, data["actions"])
    return {
        "looked_at": looked_at,
        "match_count": len(matches),
        "matches": matches[:DRY_RUN_SHOWN],
        "more": max(0, len(matches) - DRY_RUN_SHOWN),
        "actions": [describe_action(a, names) for a in data["actions"]],
        "errors": [],
        "errors_by_path": {},
    }


@require_http_methods(["GET", "POST"])
@require_capability(Capability.RULES_MANAGE)
def rules_new(request, org_slug):
    """A blank rule, or with `?template=<key>` a ready-made one pre-filled (an unknown template is a 404)."""
    key = request.GET.get("template")
    template = template_get(key)
    if key is not None and template is None:
        raise Http404("no such rule template")
    return _editor(request, org_slug, None, template)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.RULES_MANAGE)
def rules_edit(request, org_slug, rule_id):
    return _editor(request, org_slug, _rule(rule_id))


# --- webhooks -----------------------------------------------------------------------------------------------------


def _masked(secret: str) -> str:
    return f"{secret[:6]}{'•' * 12}{secret[-4:]}" if secret else ""


def _webhooks_page(request, *, form: RotateSecretForm, revealed: str = "", status: int = 200):
    row = automation_settings(request.organization)
    current = decrypt_json(row.webhook_secret)["secret"] if row.webhook_secret else ""
    return render(
        request,
        "automation/rules/webhooks.html",
        {
            "page": selectors.webhook_calls_page(request.organization, request.GET.get("page")),
            "masked_secret": _masked(current),
            "has_secret": bool(current),
            "revealed": revealed,
            "form": form,
            "header": SIGNATURE_HEADER,
        },
        status=status,
    )


@require_GET
@require_capability(Capability.RULES_MANAGE)
def rules_webhooks(request, org_slug):
    return _webhooks_page(request, form=RotateSecretForm())


@require_POST
@require_capability(Capability.RULES_MANAGE)
def rules_webhook_secret_rotate(request, org_slug):
    """Rotate and show the new secret in this response only (it is never shown again, only its ends)."""
    form = RotateSecretForm(request.POST)
    if not form.is_valid():
        return _webhooks_page(request, form=form, status=400)
    secret = webhook_secret_rotate(organization=request.organization, actor=request.user, request=request)
    response = _webhooks_page(request, form=RotateSecretForm(), revealed=secret)
    response["Cache-Control"] = "no-store"
    return response


# --- automation settings ------------------------------------------------------------------------------------------


def _auto_response_forms(request, data=None) -> tuple[list[dict], dict, dict]:
    """One row per channel, with its out-of-hours and first-contact forms (five queries for any number)."""
    response_choices, calendar_choices, responses, calendars = auto_response_choices()
    connections = list(ChannelConnection.objects.order_by("platform", "display_name", "pk"))
    existing = {(a.connection_id, a.kind): a for a in AutoResponse.objects.all()}
    rows = []
    for connection in connections:
        forms = []
        for kind in (AutoResponseKind.OUT_OF_HOURS, AutoResponseKind.FIRST_CONTACT):
            current = existing.get((connection.pk, kind))
            initial = (
                {
                    "enabled": current.enabled,
                    "response": current.response_id,
                    "calendar": current.calendar_id,
                    "window_hours": current.window_hours,
                }
                if current
                else {"enabled": False, "window_hours": 24}
            )
            forms.append(
                AutoResponseForm(
                    data,
                    connection=connection,
                    kind=kind,
                    responses=response_choices,
                    calendars=calendar_choices,
                    initial=initial,
                )
            )
        rows.append({"connection": connection, "forms": forms})
    return rows, responses, calendars


@require_http_methods(["GET", "POST"])
@require_capability(Capability.RULES_MANAGE)
def rules_automation(request, org_slug):
    row = automation_settings(request.organization)
    which = request.POST.get("form") if request.method == "POST" else None
    settings_form = AutomationSettingsForm(
        request.POST if which == "crisis" else None,
        initial={"crisis_threshold": row.crisis_threshold, "crisis_window_minutes": row.crisis_window_minutes},
    )
    rows, responses, calendars = _auto_response_forms(request, request.POST if which == "auto" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if which == "crisis" and settings_form.is_valid():
            try:
                services.automation_settings_update(**settings_form.cleaned_data, **actor_kwargs(request))
            except DomainError as exc:
                settings_form.add_error(exc.field if exc.field in settings_form.fields else None, exc.message)
            else:
                messages.success(request, _("Crisis alert settings saved."))
                return redirect("org:rules_automation", org_slug=org_slug)
        elif which == "auto":
            forms = [form for r in rows for form in r["forms"]]
            if all(form.is_valid() for form in forms):
                try:
                    with transaction.atomic():
                        for form in forms:
                            if form.has_changed():
                                _save_auto_response(request, form, responses, calendars)
                except DomainError as exc:
                    messages.error(request, exc.message)
                else:
                    messages.success(request, _("Automatic replies saved."))
                    return redirect("org:rules_automation", org_slug=org_slug)
        elif which not in ("crisis", "auto"):
            messages.error(request, _("Nothing was saved: use one of the forms on this page."))
    return render(
        request,
        "automation/rules/automation.html",
        {"settings_form": settings_form, "rows": rows, "has_responses": bool(responses)},
        status=status,
    )


def _save_auto_response(request, form: AutoResponseForm, responses: dict, calendars: dict) -> None:
    data = form.cleaned_data
    services.auto_response_save(
        connection=form.connection,
        kind=form.kind,
        response=responses.get(data["response"]) if data["response"] else None,
        calendar=calendars.get(data.get("calendar")) if data.get("calendar") else None,
        window_hours=data["window_hours"],
        enabled=data["enabled"],
        **actor_kwargs(request),
    )
