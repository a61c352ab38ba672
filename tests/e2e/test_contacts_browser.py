"""Contacts in a real browser: the same person wrote on Facebook and on LINE and became two contacts with the same
name and phone number (automatic merging off). An agent opens the LINE conversation from the inbox, sees the
suggested duplicate in the customer panel beside it, merges it, and the customer's profile timeline then shows the
messages of both channels."""

import re

import pytest

from conftest import PASSWORD
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import off_loop
from tickets.models import Contact, ContactMerge
from tickets.services.contact_matching import contact_match
from tickets.services.contacts import contact_update
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = [pytest.mark.browser]

NAME = "桜井 美咲"


def _two_contacts_of_one_person(tenant):
    from accounts import services as account_services

    facebook, line = connection(tenant, "facebook"), connection(tenant, "line")
    with tenant.scope():
        for conn in (facebook, line):
            account_services.connection_access_set(
                organization=tenant.organization, actor=tenant.users["owner"], connection=conn,
                users=[tenant.users["agent"]],
            )  # fmt: skip
        on_facebook = message_ingest(
            organization=tenant.organization,
            connection=facebook,
            inbound=inbound("Facebookで注文した件です", thread="fb-1", author="PSID-777", name=NAME),
        )[0]
        on_line = message_ingest(
            organization=tenant.organization,
            connection=line,
            inbound=inbound("LINEからも連絡します", thread="line-1", author="U-misaki", name=NAME),
        )[0]
        first, second = (
            Contact.objects.get(pk=on_facebook.ticket.contact_id),
            Contact.objects.get(pk=on_line.ticket.contact_id),
        )
        assert first.pk != second.pk
        for contact in (first, second):  # each channel's profile gave the same number, written differently
            contact_update(organization=tenant.organization, contact=contact, phones=["090-1234-5678"])
        contact_update(organization=tenant.organization, contact=second, phones=["+81 90 1234 5678"])
        contact_match(organization=tenant.organization, contact_id=second.pk)  # as the task after the edit does
        return on_line.ticket_id, second.pk, first.pk


def test_agent_merges_a_suggested_duplicate_and_sees_both_channels(page, asgi_server, tenant_a):
    ticket_id, line_contact, facebook_contact = off_loop(lambda: _two_contacts_of_one_person(tenant_a))
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in(page, asgi_server.url, tenant_a.users["agent"].email, PASSWORD)
    page.goto(f"{asgi_server.url}/{tenant_a.slug}/")
    page.locator(f"nav a[href='/{tenant_a.slug}/inbox/']").click()
    page.locator(f"#ticket-row-{ticket_id} .ticket-link").click()
    panel = page.locator("#contact-panel")
    suggestion = panel.locator(".suggestion")
    suggestion.wait_for()
    assert suggestion.count() == 1 and f"/contacts/{facebook_contact}/" in suggestion.locator("a").first.get_attribute(
        "href"
    )
    screenshot(page, "contacts-suggested-duplicate")
    suggestion.locator("form[action$='/merge/'] button").click()
    page.wait_for_url(re.compile(rf"/inbox/tickets/{ticket_id}/$"))
    page.locator("#contact-panel").wait_for()
    assert page.locator("#contact-panel .suggestion").count() == 0

    def merged():
        with tenant_a.scope():
            merge = ContactMerge.objects.get()
            return merge.survivor_id, merge.merged_id, merge.actor_id

    assert off_loop(merged) == (line_contact, facebook_contact, tenant_a.users["agent"].pk)
    page.locator(f"#contact-panel a[href='/{tenant_a.slug}/contacts/{line_contact}/']").last.click()
    page.wait_for_url(re.compile(rf"/contacts/{line_contact}/$"))
    timeline = page.locator("#contact-timeline")
    timeline.wait_for()
    text = timeline.inner_text()
    assert "Facebookで注文した件です" in text and "LINEからも連絡します" in text
    assert timeline.locator(".platform-facebook").count() >= 1 and timeline.locator(".platform-line").count() >= 1
    screenshot(page, "contacts-profile-timeline")
    assert refused == []
