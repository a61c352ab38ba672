"""The public survey page a customer opens from the link: no login, no organization in the URL, the survey's own
language (ja or en), and nothing about the ticket beyond the organization's name. A rating is only ever stored by a
POST (a link with ?rating=4 just preselects it)."""

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods
from django_scopes import scope

from accounts.audit import client_ip
from core.counters import count_in_window
from core.errors import DomainError
from tickets.services.surveys import survey_answer_submit, survey_for_token, survey_settings, survey_status

RATINGS = [
    (1, _("Very dissatisfied")),
    (2, _("Dissatisfied")),
    (3, _("Neither satisfied nor dissatisfied")),
    (4, _("Satisfied")),
    (5, _("Very satisfied")),
]
STATUS_CODES = {"invalid": 404, "expired": 410, "answered": 200, "open": 200, "thanks": 200}


def _throttled(request) -> bool:
    """Link guessing and flooding: each address may open or post survey links a limited number of times."""
    window = getattr(settings, "SURVEY_WINDOW_SECONDS", 600)
    limit = getattr(settings, "SURVEY_REQUEST_LIMIT", 60)
    return count_in_window(f"survey:ip:{client_ip(request)}", window) > limit


def _private(response: HttpResponse) -> HttpResponse:
    # The token is in the URL: never sent to another site as a referrer (same-origin, not no-referrer: with
    # no-referrer the browser posts the form with Origin: null, which the CSRF check refuses), never indexed,
    # never cached by a shared cache.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "private, no-store"
    return response


def _page(request, survey, status: str, **context) -> HttpResponse:
    language = survey.language if survey is not None else translation.get_language()
    with translation.override(language):
        response = render(
            request,
            "analytics/csat/survey.html",
            {
                "status": status,
                "organization_name": survey.organization.name if survey is not None else "",
                "ratings": RATINGS,
                **context,
            },
            status=context.pop("status_code", None) or STATUS_CODES[status],
        )
    return _private(response)


@require_http_methods(["GET", "POST"])
def survey_page(request, token: str):
    if _throttled(request):
        return _private(HttpResponse(_("Too many requests. Please try again in a few minutes."), status=429))
    survey = survey_for_token(token)
    status = survey_status(survey)
    if status != "open":
        return _page(request, survey, status)
    invitation = _invitation(survey)
    if request.method == "POST":
        rating, comment = request.POST.get("rating"), request.POST.get("comment", "")
        try:
            survey_answer_submit(token=token, rating=rating, comment=comment)
        except DomainError as exc:
            if not exc.field:  # answered meanwhile (another tab), or expired
                survey = survey_for_token(token)
                return _page(request, survey, survey_status(survey))
            with translation.override(survey.language):
                error = str(_rating_error() if exc.field == "rating" else _comment_error())
            return _page(
                request,
                survey,
                "open",
                invitation=invitation,
                selected=str(rating or ""),
                comment=comment[:2000],
                error=error,
                error_field=exc.field,
                status_code=400,
            )
        return _private(redirect("csat_survey_thanks", token=token))
    selected = request.GET.get("rating", "")
    selected = selected if selected in {"1", "2", "3", "4", "5"} else ""
    return _page(request, survey, "open", invitation=invitation, selected=selected)


def _rating_error():
    return _("Choose a rating from 1 to 5.")


def _comment_error():
    return _("The comment can be at most 2000 characters long.")


def _invitation(survey) -> str:
    with scope(organization=survey.organization):
        settings_row = survey_settings(survey.organization)
    return settings_row.invitation(survey.language) if settings_row else ""


@require_http_methods(["GET"])
def survey_thanks(request, token: str):
    if _throttled(request):
        return _private(HttpResponse(_("Too many requests. Please try again in a few minutes."), status=429))
    survey = survey_for_token(token)
    status = survey_status(survey)
    if status != "answered":
        return _page(request, survey, status)
    return _page(request, survey, "thanks")
