"""The reply box of a WhatsApp conversation: after 24 hours it offers the approved templates, with an input per value,
and sends the chosen one; the page costs the same number of queries however long the conversation."""

from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from channels_integrations.providers.whatsapp.tests.test_connector import CUSTOMER, wa_connection


@pytest.fixture
def wa(simulator):
    part = simulator.parts["whatsapp"]
    part.async_receipts = False
    return part


def test_after_24_hours_the_reply_box_offers_the_templates_and_sends_one(
    tenant_a, wa, login, django_capture_on_commit_callbacks
):
    from tickets.models import Message, Ticket

    wa_connection(tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        wa.customer_message(CUSTOMER, "まだ届きません", name="中村 美咲")
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        Ticket.objects.update(last_customer_message_at=timezone.now() - timedelta(hours=30))
    wa.age_window(CUSTOMER, hours=30)
    client = login(tenant_a.users["owner"])
    url = reverse("org:inbox_ticket", args=[tenant_a.slug, ticket.pk])

    def page() -> tuple[str, int]:
        with CaptureQueriesContext(db) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return response.content.decode(), len(queries)

    html, _first = page()
    assert 'id="reply-template"' in html and 'data-templates-only="1"' in html
    assert '<option value="order_update|ja">' in html and '<option value="order_update|en_US">' in html
    assert "spring_sale" not in html  # pending templates are not offered
    assert html.count('name="template_param"') == 4  # two values for each language of order_update
    assert "{{1}}様、ご注文 {{2}} について" in html
    _html, before = page()
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(5):
            wa.customer_message(CUSTOMER, f"追記 {n}", name="中村 美咲")
    with tenant_a.scope():
        Ticket.objects.update(last_customer_message_at=timezone.now() - timedelta(hours=30))
    page()  # the side bar's counts are cached until the data changes
    _html, after = page()
    assert after == before

    # When the agent picks the template and fills its values
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("org:ticket_reply", args=[tenant_a.slug, ticket.pk]),
            {"template": "order_update|ja", "template_param": ["中村", "A-1"], "text": ""},
        )
    assert response.status_code == 200, response.content
    assert "中村様、ご注文 A-1 について" in response.content.decode()
    (sent,) = wa.state()["sent"]
    assert sent["template"]["name"] == "order_update"
    with tenant_a.scope():
        assert Message.objects.filter(template__name="order_update").count() == 1

    # Free text is refused with the reason
    response = client.post(reverse("org:ticket_reply", args=[tenant_a.slug, ticket.pk]), {"text": "遅れてすみません"})
    assert response.status_code == 400 and "template" in response.content.decode()


def test_without_an_approved_template_the_box_says_why(tenant_a, wa, login, django_capture_on_commit_callbacks):
    from tickets.models import Ticket

    wa_connection(tenant_a)
    wa.templates = []
    with django_capture_on_commit_callbacks(execute=True):
        wa.customer_message(CUSTOMER, "まだ届きません", name="中村 美咲")
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        Ticket.objects.update(last_customer_message_at=timezone.now() - timedelta(hours=30))
    html = login(tenant_a.users["owner"]).get(reverse("org:inbox_ticket", args=[tenant_a.slug, ticket.pk]))
    html = html.content.decode()
    assert 'id="reply-template"' not in html
    assert "this channel has none" in html


def test_within_24_hours_free_text_is_the_default_and_templates_are_optional(
    tenant_a, wa, login, django_capture_on_commit_callbacks
):
    from tickets.models import Ticket

    wa_connection(tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        wa.customer_message(CUSTOMER, "こんにちは", name="中村 美咲")
    with tenant_a.scope():
        ticket = Ticket.objects.get()
    html = login(tenant_a.users["owner"]).get(reverse("org:inbox_ticket", args=[tenant_a.slug, ticket.pk]))
    html = html.content.decode()
    assert 'data-templates-only=""' in html and 'id="reply-text"' in html
