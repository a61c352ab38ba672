"""Self-service sign-up: address first, confirmed by the emailed link, then the account, then the organization."""

import re

import pytest
from django.core import mail
from django.urls import reverse
from django_scopes import scopes_disabled

from accounts.models import Membership, Organization, User
from conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "kaisha-no-aikotoba-2026"


def _request(client, email, capture, **extra):
    with capture(execute=True):
        return client.post(reverse("accounts:signup"), {"email": email, "website": "", **extra})


def _link(message) -> str:
    return re.search(r"https?://[^/]+(/accounts/signup/confirm/\S+/)", message.body).group(1)


def test_the_sign_in_page_offers_sign_up(client):
    page = client.get(reverse("accounts:login")).content.decode()
    assert reverse("accounts:signup") in page


def test_a_company_signs_up_confirms_and_creates_its_organization_as_owner(client, django_capture_on_commit_callbacks):
    response = _request(client, "Founder@Kaisha.test", django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert "founder@kaisha.test" in response.content.decode().lower()
    assert not User.objects.filter(email__iexact="founder@kaisha.test").exists()  # nothing stored before the link
    assert [m.to for m in mail.outbox] == [["founder@kaisha.test"]]

    link = _link(mail.outbox[0])
    assert client.get(link).status_code == 200
    response = client.post(link, {"name": "創業 太郎", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:organization_create")
    user = User.objects.get(email="founder@kaisha.test")
    assert user.name == "創業 太郎" and user.check_password(NEW_PASSWORD)

    form = client.get(response["Location"]).content.decode()
    assert 'value="Asia/Tokyo" selected' in form  # a Japanese sign-up starts in Japan's time zone
    response = client.post(
        reverse("accounts:organization_create"),
        {"name": "株式会社かいしゃ", "slug": "kaisha", "timezone": "Asia/Tokyo", "default_language": "ja"},
    )
    assert response.status_code == 302 and response["Location"] == "/kaisha/"
    with scopes_disabled():
        membership = Membership.objects.get(user=user, organization=Organization.objects.get(slug="kaisha"))
    assert membership.role.key == "owner"


def test_the_link_works_once(client, django_capture_on_commit_callbacks):
    _request(client, "once@kaisha.test", django_capture_on_commit_callbacks)
    link = _link(mail.outbox[0])
    client.post(link, {"name": "一回", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    client.logout()
    response = client.post(link, {"name": "二回", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 404
    assert User.objects.get(email="once@kaisha.test").name == "一回"


def test_a_forged_or_expired_link_is_refused(client, settings, django_capture_on_commit_callbacks):
    assert (
        client.get(reverse("accounts:signup_confirm", args=["eyJlbWFpbCI6ImF0dGFja2VyIn0:forged"])).status_code == 404
    )
    _request(client, "late@kaisha.test", django_capture_on_commit_callbacks)
    settings.SIGNUP_LINK_MAX_AGE = -1
    response = client.post(_link(mail.outbox[0]), {"name": "x", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 404
    assert not User.objects.filter(email="late@kaisha.test").exists()


def test_a_known_address_gets_a_sign_in_reminder_and_the_page_does_not_tell(
    client, tenant_a, django_capture_on_commit_callbacks
):
    def page(email):
        body = _request(client, email, django_capture_on_commit_callbacks).content.decode()
        return re.sub(r'"X-CSRFToken": "\w+"', "", body).replace(email, "X")

    assert page("agent@org-a.test") == page("nobody@kaisha.test")
    reminder = mail.outbox[0]
    assert "/accounts/signup/confirm/" not in reminder.body
    assert "/accounts/login/" in reminder.body and "/accounts/password-reset/" in reminder.body
    assert User.objects.get(email="agent@org-a.test").check_password(PASSWORD)  # untouched


def test_the_honeypot_sends_nothing_but_looks_the_same(client, django_capture_on_commit_callbacks):
    response = _request(client, "bot@spam.test", django_capture_on_commit_callbacks, website="http://spam.test")
    assert response.status_code == 200 and "bot@spam.test" in response.content.decode()
    assert mail.outbox == []


def test_sign_ups_are_rate_limited_per_ip_and_per_address(client, settings, django_capture_on_commit_callbacks):
    settings.SIGNUP_EMAIL_LIMIT = 2
    settings.SIGNUP_IP_LIMIT = 4
    codes = [_request(client, "same@kaisha.test", django_capture_on_commit_callbacks).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    codes = [_request(client, f"n{i}@kaisha.test", django_capture_on_commit_callbacks).status_code for i in range(2)]
    assert codes == [200, 429]  # the IP has now used its four requests
    assert len(mail.outbox) == 3


def test_bad_input_is_a_form_error(client):
    response = client.post(reverse("accounts:signup"), {"email": "not an address"})
    assert response.status_code == 400
    assert 'class="field-error"' in response.content.decode()


def test_sign_up_can_be_closed(client, settings):
    settings.SIGNUP_OPEN = False
    assert client.get(reverse("accounts:signup")).status_code == 404
    assert reverse("accounts:signup") not in client.get(reverse("accounts:login")).content.decode()
