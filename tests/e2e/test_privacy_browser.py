"""Privacy in a real browser: an admin sets the retention policy from the settings menu after reading the dry-run
count; an admin erases a customer from their profile (Contacts → the customer → Erase), typing the confirmation."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import PASSWORD
from tests.e2e.conftest import csp_refusals, off_loop, open_from_menu, screenshot, sign_in
from tickets.models import Contact, RetentionPolicy, Ticket
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = [pytest.mark.browser]

NAME = "轟木 綾乃"


def _customer(tenant, *, thread: str, text: str, closed_days_ago: int | None = None) -> int:
    conn = connection(tenant)
    with tenant.scope():
        message, _ = message_ingest(
            organization=tenant.organization,
            connection=conn,
            inbound=inbound(text, thread=thread, author=thread, name=NAME),
        )
        if closed_days_ago is not None:
            Ticket.objects.filter(pk=message.ticket_id).update(
                status="closed", status_changed_at=timezone.now() - timedelta(days=closed_days_ago)
            )
        return message.ticket.contact_id


def test_admin_sets_retention_after_the_dry_run_count(page, asgi_server, tenant_a):
    off_loop(lambda: [_customer(tenant_a, thread=f"old-{i}", text="old", closed_days_ago=400) for i in range(2)])
    refused = csp_refusals(page)
    sign_in(page, asgi_server.url, tenant_a.users["admin"].email, PASSWORD)
    open_from_menu(page, asgi_server.url, tenant_a.slug, "settings/data-retention/", menu="nav")
    page.wait_for_url(re.compile(r"/settings/data-retention/$"))
    page.locator("#id_days").fill("365")
    page.locator("button[name=intent][value=count]").click()
    page.wait_for_load_state("domcontentloaded")
    assert "2" in page.locator("#retention-count").inner_text()
    page.locator("#id_enabled").check()
    screenshot(page, "privacy-retention")
    page.locator("button[name=intent][value=save]").click()
    page.wait_for_url(re.compile(r"/settings/data-retention/$"))

    def saved():
        with tenant_a.scope():
            policy = RetentionPolicy.objects.get()
            return policy.enabled, policy.days

    assert off_loop(saved) == (True, 365)
    assert refused == []


def test_admin_erases_a_customer_from_their_profile(page, asgi_server, tenant_a):
    contact_id = off_loop(lambda: _customer(tenant_a, thread="U-ayano", text="返金をお願いします"))
    refused = csp_refusals(page)
    sign_in(page, asgi_server.url, tenant_a.users["admin"].email, PASSWORD)
    open_from_menu(page, asgi_server.url, tenant_a.slug, "contacts/", menu="nav")
    page.get_by_role("link", name=re.compile("轟木")).first.click()
    page.locator("#contact-privacy").wait_for()
    page.locator("#contact-privacy a.danger").click()
    page.locator("#erase-confirmation").fill("wrong")
    page.locator("#privacy-erase button[type=submit]").click()
    page.locator("#privacy-erase .field-error").wait_for()
    page.locator("#erase-confirmation").fill(str(contact_id))
    page.locator("#privacy-erase button[type=submit]").click()
    page.locator("#privacy-erased").wait_for()
    screenshot(page, "privacy-erased")
    assert NAME not in page.content()

    def name():
        with tenant_a.scope():
            return Contact.objects.get(pk=contact_id).name

    assert off_loop(name) == ""
    assert refused == []
