"""The API tokens page and the organization's longest token lifetime (issue 15, finding 4): tokens get an expiry
from a choice the organization's limit bounds, and only a session verified by its second factor (when the member
has one) creates them."""

from datetime import timedelta

from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_scopes import scopes_disabled

from accounts.models import ApiToken


def test_a_token_made_on_the_page_expires_when_chosen(tenant_a, login):
    client = login(tenant_a.users["agent"])
    url = f"/{tenant_a.slug}/settings/tokens/"
    page = client.get(url)
    choices = [value for value, _label in page.context["form"].fields["expires_in_days"].choices]
    assert choices == ["30", "90", "180", "365", ""]
    answer = client.post(url, {"name": "crm", "expires_in_days": "30"})
    assert answer.status_code == 200 and answer.context["new_key"]
    with scopes_disabled():
        token = ApiToken.objects.get(name="crm")
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert client.post(url, {"name": "forever", "expires_in_days": ""}).status_code == 200
    with scopes_disabled():
        assert ApiToken.objects.get(name="forever").expires_at is None


def test_the_organizations_limit_bounds_the_choice(tenant_a, login):
    owner = login(tenant_a.users["owner"])
    settings_url = f"/{tenant_a.slug}/settings/"
    form = owner.get(settings_url).context["form"]
    data = {name: form.initial.get(name) for name in form.fields if form.initial.get(name) is not None}
    data["require_two_factor"] = ""
    answer = owner.post(settings_url, {**data, "require_two_factor": "", "api_token_max_days": "60"})
    assert answer.status_code == 302, answer.context and answer.context["form"].errors
    tenant_a.organization.refresh_from_db()
    assert tenant_a.organization.api_token_max_days == 60
    url = f"/{tenant_a.slug}/settings/tokens/"
    field = owner.get(url).context["form"].fields["expires_in_days"]
    assert [value for value, _label in field.choices] == ["30", "60"]
    answer = owner.post(url, {"name": "long", "expires_in_days": "365"})
    assert answer.status_code == 400 and answer.context["form"].errors["expires_in_days"]
    answer = owner.post(url, {"name": "never", "expires_in_days": ""})
    assert answer.status_code == 400
    with scopes_disabled():
        assert not ApiToken.objects.exists()


def test_a_session_not_verified_by_the_members_second_factor_cannot_create_tokens(tenant_a, login):
    owner = tenant_a.users["owner"]
    TOTPDevice.objects.create(user=owner, name="phone", confirmed=True)
    client = login(owner)  # signed in without the code step
    url = f"/{tenant_a.slug}/settings/tokens/"
    page = client.get(url)
    assert page.context["refused"]
    answer = client.post(url, {"name": "crm", "expires_in_days": "30"})
    assert answer.status_code == 403
    assert not answer.context["new_key"]
    with scopes_disabled():
        assert not ApiToken.objects.exists()
    device = TOTPDevice.objects.get(user=owner)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    assert client.post(url, {"name": "crm", "expires_in_days": "30"}).status_code == 200
    with scopes_disabled():
        assert ApiToken.objects.filter(name="crm").exists()
