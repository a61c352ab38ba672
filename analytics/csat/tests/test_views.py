"""The public survey page (no login, localized, one-time, POST only stores) and the organization's CSAT pages."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_scopes import scopes_disabled

from accounts import services as account_services
from analytics.tests.builders import catch_up
from tickets.models import Survey, SurveyAnswer, SurveySettings, Ticket
from tickets.services import surveys
from tickets.tests.factories import connection
from tickets.tests.services.test_surveys import sent_survey

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey(tenant_a, django_capture_on_commit_callbacks):
    return sent_survey(tenant_a, django_capture_on_commit_callbacks)


def test_page_shows_the_organization_in_the_survey_language_and_nothing_of_the_ticket(survey, client, tenant_a):
    made, token = survey
    response = client.get(f"/survey/{token}/?rating=4")
    page = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="ja">' in page
    assert tenant_a.organization.name in page
    assert "このたびはお問い合わせいただきありがとうございました" in page
    assert 'value="4" required checked' in page and page.count("checked") == 1
    assert "こんにちは" not in page  # the customer's own message, let alone the ticket's subject or the agent
    assert tenant_a.users["admin"].name not in page
    assert response["Referrer-Policy"] == "same-origin"
    assert "<script" not in page and "style=" not in page  # strict CSP: no inline script or style
    with scopes_disabled():
        assert not SurveyAnswer.objects.exists()  # a GET, even with ?rating=, stores nothing


def test_english_survey_page(survey, client):
    made, token = survey
    with scopes_disabled():
        Survey.objects.filter(pk=made.pk).update(language="en")
    page = client.get(f"/survey/{token}/").content.decode()
    assert '<html lang="en">' in page and "Thank you for contacting us." in page


def test_submit_once_then_thanks_then_already_answered(survey, client, tenant_a):
    made, token = survey
    response = client.post(f"/survey/{token}/", {"rating": "5", "comment": "とても丁寧でした"})
    assert response.status_code == 302 and response["Location"] == f"/survey/{token}/thanks/"
    assert client.get(response["Location"]).status_code == 200
    again = client.post(f"/survey/{token}/", {"rating": "1"})
    assert again.status_code == 200 and 'name="rating"' not in again.content.decode()
    with scopes_disabled():
        assert list(SurveyAnswer.objects.values_list("rating", "comment")) == [(5, "とても丁寧でした")]


def test_bad_rating_is_a_clear_400_and_keeps_the_comment(survey, client):
    _made, token = survey
    response = client.post(f"/survey/{token}/", {"rating": "9", "comment": "コメント"})
    page = response.content.decode()
    assert response.status_code == 400 and 'role="alert"' in page and "コメント" in page


def test_tampered_expired_and_unknown_links(survey, client):
    made, token = survey
    assert client.get(f"/survey/{token[:-2]}xx/").status_code == 404
    assert client.post(f"/survey/{'a' * 300}/", {"rating": "5"}).status_code == 404
    with scopes_disabled():
        Survey.objects.filter(pk=made.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get(f"/survey/{token}/").status_code == 410
    assert client.post(f"/survey/{token}/", {"rating": "5"}).status_code == 410
    with scopes_disabled():
        assert not SurveyAnswer.objects.exists()


def test_link_guessing_is_throttled(client, settings):
    settings.SURVEY_REQUEST_LIMIT = 3
    codes = [client.get(f"/survey/guess{n}/").status_code for n in range(5)]
    assert codes == [404, 404, 404, 429, 429]


def test_settings_page_saves_and_needs_analytics_manage(tenant_a, login):
    url = f"/{tenant_a.slug}/analytics/satisfaction/settings/"
    assert login(tenant_a.users["analyst"]).get(url).status_code == 403
    client = login(tenant_a.users["manager"])
    assert client.get(url).status_code == 200
    bad = client.post(url, {"enabled": "on", "delay_minutes": "-1", "cooldown_days": "7"})
    assert bad.status_code == 400
    saved = client.post(
        url, {"enabled": "on", "delay_minutes": "30", "cooldown_days": "14", "invitation_en": "How was it?"}
    )
    assert saved.status_code == 302
    with tenant_a.scope():
        row = SurveySettings.objects.get(organization=tenant_a.organization)
    assert (row.enabled, row.delay_minutes, row.cooldown_days, row.invitation("en")) == (True, 30, 14, "How was it?")
    assert row.invitation("ja").startswith("このたびは")


def test_dashboard_shows_rate_comments_and_a_constant_number_of_queries(
    tenant_a, login, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    client = login(tenant_a.users["owner"])
    url = f"/{tenant_a.slug}/analytics/satisfaction/"
    assert client.get(url).status_code == 200
    for n in range(3):
        mail.outbox.clear()
        _made, token = sent_survey(tenant_a, django_capture_on_commit_callbacks, thread=f"t-{n}")
        client.post(f"/survey/{token}/", {"rating": str(3 + n % 3), "comment": f"コメント{n}"})
    catch_up()
    with django_assert_max_num_queries(40):
        response = client.get(url)
    page = response.content.decode()
    assert response.status_code == 200
    assert "66.6%" in page  # 2 of 3 answers rated 4 or 5 (the dashboards cut to one decimal)
    assert "コメント2" in page and "コメント0" in page


def _answered(tenant, capture, n: int, rating: int, comment: str):
    mail.outbox.clear()
    made, token = sent_survey(tenant, capture, thread=f"g-{n}")
    surveys.survey_answer_submit(token=token, rating=rating, comment=comment)
    return made


def test_analyst_sees_only_granted_channels(tenant_a, login, django_capture_on_commit_callbacks):
    first = _answered(tenant_a, django_capture_on_commit_callbacks, 1, 5, "見えるコメント")
    _answered(tenant_a, django_capture_on_commit_callbacks, 2, 1, "見えないコメント")
    catch_up()
    analyst = tenant_a.users["analyst"]
    with tenant_a.scope():
        granted = Ticket.objects.get(pk=first.ticket_id).connection
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=granted, users=[analyst]
        )
    page = login(analyst).get(f"/{tenant_a.slug}/analytics/satisfaction/").content.decode()
    assert "見えるコメント" in page and "見えないコメント" not in page
    assert "100.0%" in page and "50.0%" not in page


def test_public_page_queries_do_not_grow(survey, client, django_assert_max_num_queries):
    _made, token = survey
    with django_assert_max_num_queries(6):
        assert client.get(f"/survey/{token}/").status_code == 200
    with django_assert_max_num_queries(20):
        assert client.post(f"/survey/{token}/", {"rating": "4", "comment": "ok"}).status_code == 302
    with django_assert_max_num_queries(6):
        assert client.get(f"/survey/{token}/thanks/").status_code == 200


def test_settings_refuse_another_organization_channel(tenant_a, tenant_b, login, django_assert_max_num_queries):
    foreign = connection(tenant_b, "line")
    client = login(tenant_a.users["admin"])
    url = f"/{tenant_a.slug}/analytics/satisfaction/settings/"
    with django_assert_max_num_queries(30):
        assert client.get(url).status_code == 200
    data = {"enabled": "on", "delay_minutes": "0", "cooldown_days": "7", "connections": [foreign.pk]}
    refused = client.post(url, data)
    assert refused.status_code == 400
    with tenant_a.scope():
        assert not SurveySettings.objects.exists()
