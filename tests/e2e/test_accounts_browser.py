"""In a real browser: sign in, see the organization, switch language, invite with a field error, sign out."""

import pytest

from conftest import PASSWORD
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_work_in_the_organization_and_sign_out(page, live_server, tenant_a):
    # Given an admin of organization A
    admin = tenant_a.users["admin"]
    # When they sign in through the form
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.locator("html").get_attribute("lang") == "ja"  # the browser asks for Japanese
    page.get_by_label("メールアドレス").fill(admin.email)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    # Then they land in their organization, in the organization's default language (Japanese)
    page.wait_for_url(f"{live_server.url}/{tenant_a.slug}/")
    assert page.locator("h1").inner_text() == tenant_a.organization.name
    assert page.locator("#member-count").inner_text() == "7"
    screenshot(page, "org-home-ja")

    # When they choose English in their profile, the interface follows
    page.goto(f"{live_server.url}/accounts/profile/")
    page.locator("#id_language").select_option("en")
    page.locator("form button.primary").first.click()
    page.goto(f"{live_server.url}/{tenant_a.slug}/settings/members/")
    assert page.locator("h1").inner_text() == "Members"

    # An invalid invitation shows a field error and keeps the page
    page.get_by_label("Email address").fill("not-an-address")
    page.get_by_role("button", name="Send invitation").click()
    assert page.locator(".field-error").first.is_visible()
    page.get_by_label("Email address").fill("new.hire@example.com")
    page.get_by_role("button", name="Send invitation").click()
    assert "new.hire@example.com" in page.locator("#invitations").inner_text()
    screenshot(page, "members-en")

    # Signing out returns to the sign-in page; the organization is no longer reachable
    page.locator("#account-menu summary").click()  # the account menu in the top bar
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    page.goto(f"{live_server.url}/{tenant_a.slug}/")
    assert "/accounts/login/" in page.url


def test_wrong_password_shows_an_error_and_no_script_runs_from_input(page, live_server, tenant_a):
    page.goto(f"{live_server.url}/accounts/login/")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.get_by_label("メールアドレス").fill("agent@org-a.test")
    page.get_by_label("パスワード").fill("<script>alert(1)</script>")
    page.get_by_role("button", name="ログイン").click()
    assert page.locator(".form-errors").is_visible()
    assert dialogs == []
