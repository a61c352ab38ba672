"""A customer answers the satisfaction survey in a real browser: they open the link from the email, pick 5, write a
comment in Japanese, send it and see the thanks page; the agent then finds the answer in the conversation."""

import re

import pytest
from django.core import mail

from analytics.tests.builders import catch_up
from conftest import PASSWORD
from tests.e2e.conftest import csp_refusals, off_loop, open_from_menu, screenshot, sign_in
from tickets.services.changes import ticket_update
from tickets.services.surveys import survey_answer_submit
from tickets.tests.services.test_surveys import enable, line_ticket

pytestmark = [pytest.mark.browser]


def test_customer_answers_and_the_agent_sees_it(page, asgi_server, tenant_a):
    def setup():
        enable(tenant_a)
        made = line_ticket(tenant_a, email="hanako@example.jp")
        with tenant_a.scope():
            ticket_update(
                organization=tenant_a.organization, actor=tenant_a.users["admin"], ticket=made, status="solved"
            )
        return made.pk

    ticket_id = off_loop(setup)
    [invitation] = mail.outbox
    link = re.search(r"https?://\S+/survey/[\w-]+/", invitation.body).group(0)
    path = link.split("/survey/", 1)[1]
    refused = csp_refusals(page)

    # Given the customer opens the link from their email
    page.goto(f"{asgi_server.url}/survey/{path}")
    assert page.locator("html").get_attribute("lang") == "ja"
    assert tenant_a.organization.name in page.locator(".survey-org").inner_text()
    # When they pick 5, write a comment in Japanese and send
    page.get_by_role("radio", name=re.compile("^5")).check()
    page.get_by_role("textbox").fill("迅速で丁寧な対応でした。ありがとうございました。")
    screenshot(page, "csat-survey")
    page.get_by_role("button").click()
    # Then they see the thanks page
    page.wait_for_url(re.compile(r"/thanks/$"))
    assert page.locator("h1").inner_text() != ""
    assert page.locator("[role=status]").count() == 1
    # And the link cannot be answered twice
    page.goto(f"{asgi_server.url}/survey/{path}")
    assert page.locator("input[name=rating]").count() == 0

    # And the agent finds the answer in the conversation
    sign_in(page, asgi_server.url, tenant_a.users["admin"].email, PASSWORD)
    page.goto(f"{asgi_server.url}/{tenant_a.slug}/inbox/tickets/{ticket_id}/")
    page.get_by_text("迅速で丁寧な対応でした。", exact=False).first.wait_for()
    screenshot(page, "csat-answer-in-conversation")
    assert refused == []


def test_manager_opens_customer_satisfaction_from_the_menu(page, asgi_server, tenant_a):
    def setup():
        enable(tenant_a)
        for n, (rating, comment) in enumerate([(5, "とても親切でした"), (2, "返信が遅かったです"), (4, "")]):
            made = line_ticket(tenant_a, email=f"c{n}@example.jp", thread=f"t-{n}")
            with tenant_a.scope():
                ticket_update(
                    organization=tenant_a.organization, actor=tenant_a.users["admin"], ticket=made, status="solved"
                )
            token = mail.outbox[-1].body.split("/survey/")[1].split("/")[0]
            survey_answer_submit(token=token, rating=rating, comment=comment)
        catch_up()

    off_loop(setup)
    refused = csp_refusals(page)
    sign_in(page, asgi_server.url, tenant_a.users["manager"].email, PASSWORD)
    open_from_menu(page, asgi_server.url, tenant_a.slug, "analytics/satisfaction/")
    page.wait_for_url(re.compile(r"/analytics/satisfaction/"))
    assert page.locator("[data-kpi='csat_rate'] [data-kpi-value]").inner_text().startswith("66.6")
    assert page.locator("#csat-comments").get_by_text("返信が遅かったです").count() == 1
    page.wait_for_function(
        "() => window.echarts && echarts.getInstanceByDom(document.querySelector("
        "\"[data-chart='chart-data-csat-distribution']\"))"
    )
    screenshot(page, "csat-dashboard")
    # The manager can open the settings from there
    page.locator("#survey-settings-link").click()
    page.wait_for_url(re.compile(r"/analytics/satisfaction/settings/$"))
    assert page.locator("#id_enabled").is_checked()
    assert refused == []
