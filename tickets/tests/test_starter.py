"""A new organization's starter canned responses (issue 16, part 3): created for an owner's new organization, with
a variant per language that is ready to send: the Japanese ones hold no untranslated English."""

import re

import pytest
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from accounts.models import Organization
from channels_integrations.models import ChannelConnection
from conftest import make_org, make_user
from tickets.canned import render_canned
from tickets.models import CannedResponse, CannedResponseVariant
from tickets.services.ingest import message_ingest
from tickets.starter import STARTER_CANNED
from tickets.tests.factories import inbound

pytestmark = pytest.mark.django_db

PLACEHOLDER = re.compile(r"\{\{\s*[a-z_]+\.[a-z_]+\s*\}\}")


def _create(client, language: str) -> Organization:
    user = make_user(f"founder-{language}@kaisha.test", "創業 太郎")
    user.language = language
    user.save(update_fields=["language"])
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    data = {"name": "株式会社かいしゃ", "slug": f"kaisha-{language}", "timezone": "Asia/Tokyo"}
    answer = client.post(reverse("accounts:organization_create"), {**data, "default_language": language})
    assert answer.status_code == 302
    with scopes_disabled():
        return Organization.objects.get(slug=f"kaisha-{language}")


def test_a_japanese_organization_starts_with_canned_responses_in_natural_japanese(client):
    organization = _create(client, "ja")
    with scopes_disabled():
        responses = list(CannedResponse.objects.filter(organization=organization, owner=None).order_by("id"))
        variants = {(v.response_id, v.language): v.body for v in CannedResponseVariant.objects.all()}
    assert [r.shortcut for r in responses] == [shortcut for shortcut, _title, _body in STARTER_CANNED]
    for response in responses:
        japanese, english = variants[(response.pk, "ja")], variants[(response.pk, "en")]
        # Only the placeholders may be Latin letters in the Japanese texts and titles.
        assert not re.search(r"[A-Za-z]", PLACEHOLDER.sub("", japanese)), japanese
        assert not re.search(r"[A-Za-z]", response.title), response.title
        assert re.search(r"[A-Za-z]{3}", english) and japanese != english
        assert "さん" not in japanese and "Tsunagu" not in japanese


def test_an_english_organization_gets_english_titles(client):
    organization = _create(client, "en")
    with scopes_disabled():
        titles = list(CannedResponse.objects.filter(organization=organization).values_list("title", flat=True))
    assert "Acknowledgement" in titles


def test_the_texts_send_as_they_are(client):
    organization = _create(client, "ja")
    with scope(organization=organization):
        conn = ChannelConnection.objects.create(
            organization=organization, platform="line", display_name="LINE", external_account_id="acct-starter"
        )
        message, _created = message_ingest(organization=organization, connection=conn, inbound=inbound("こんにちは"))
        body = CannedResponseVariant.objects.get(response__shortcut="received", language="ja").body
        text = render_canned(body, ticket=message.ticket, agent=None)
    assert "{{" not in text and "株式会社かいしゃ" in text


def test_organizations_made_by_tests_and_benches_start_bare():
    organization = make_org("bare")
    with scopes_disabled():
        assert not CannedResponse.objects.filter(organization=organization).exists()
