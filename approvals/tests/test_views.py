"""The approval pages: the queue, a request's page (decide there, as from the notification's link), the inbox's
held-reply marker and inline actions, the "Ask for approval" button, the workflow settings; permissions and query
budgets constant in the number of items."""

import pytest

from approvals.models import ApprovalRequest, ApprovalStatus, Workflow
from approvals.tests.helpers import workflow
from core.models import Notification
from tests.english import english, in_english  # noqa: F401 (fixture: these tests read English sentences)
from tickets.models import DeliveryState, Message, TicketEvent, TicketEventKind
from tickets.services.replies import message_reply
from tickets.tests.services.test_replies import email_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant_a(tenant_a):
    """The organization speaks English: these tests read the pages' English sentences."""
    return in_english(tenant_a)


@pytest.fixture
def tenant_b(tenant_b):
    return in_english(tenant_b)


def grant(tenant, ticket, *users):
    from accounts import services

    with tenant.scope():
        services.connection_access_set(
            organization=tenant.organization, actor=tenant.users["owner"], connection=ticket.connection, users=users
        )


@pytest.fixture
def held(tenant_a, simulator):
    """A VIP customer's ticket, a reply policy for VIPs approved by managers, and the agent's held reply."""
    _conn, ticket = email_ticket(tenant_a, simulator)
    grant(tenant_a, ticket, tenant_a.users["agent"])
    with tenant_a.scope():
        ticket.contact.vip = True
        ticket.contact.save(update_fields=["vip"])
    workflow(tenant_a, kind="reply", name="VIP", conditions={"contact_vip": True}, steps=({"roles": ["manager"]},))
    with tenant_a.scope():
        message = message_reply(
            organization=tenant_a.organization, actor=tenant_a.users["agent"], ticket=ticket, text="返金いたします"
        )
    return ticket, message


def test_the_conversation_marks_a_held_reply_for_everyone_and_offers_approvers_the_actions(
    tenant_a, login, held, simulator, django_capture_on_commit_callbacks
):
    ticket, message = held
    agent_page = login(tenant_a.users["agent"]).get(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/").content.decode()
    assert 'data-held-reply="held"' in agent_page and "Manager org-a" in agent_page  # whom it waits for
    assert "data-held-approve" not in agent_page  # the author cannot approve it
    client = login(tenant_a.users["manager"])
    page = client.get(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/").content.decode()
    assert "data-held-approve" in page
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            f"/{tenant_a.slug}/approvals/replies/{message.pk}/approve/",
            {"version": "1", "text": "規定に沿って返金いたします", "send": "1"},
        )
    assert answer.status_code == 302
    with tenant_a.scope():
        message.refresh_from_db()
        assert message.delivery_state == DeliveryState.SENT and message.text == "規定に沿って返金いたします"
        assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEventKind.REPLY_EDITED).count() == 1
    assert len(simulator.parts["email"].sent()) == 1
    # The ticket's history names the author and the approver and shows the change.
    history = client.get(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/").content.decode()
    assert 'data-reply-event="edited"' in history and "<ins>規定に沿って</ins>" in history
    assert "Agent org-a" in history and "Manager org-a" in history


def test_ask_for_approval_from_the_reply_box(tenant_a, login, simulator):
    _conn, ticket = email_ticket(tenant_a, simulator)
    workflow(tenant_a, kind="reply", name="Check", conditions={"contact_vip": True})
    client = login(tenant_a.users["owner"])
    page = client.get(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/").content.decode()
    assert 'name="ask_approval"' in page
    answer = client.post(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/reply/", {"text": "確認中", "ask_approval": "1"})
    assert answer.status_code == 200 and 'data-held-reply="held"' in answer.content.decode()
    with tenant_a.scope():
        assert Message.objects.get(ticket=ticket, direction="outbound").delivery_state == DeliveryState.HELD
    assert simulator.parts["email"].sent() == []


def test_queue_and_request_page_decide_from_the_notification_link(tenant_a, login, held, django_assert_max_num_queries):
    _ticket, message = held
    manager = login(tenant_a.users["manager"])
    with django_assert_max_num_queries(20):
        queue = manager.get(f"/{tenant_a.slug}/approvals/")
    assert "返金いたします" in queue.content.decode()
    with tenant_a.scope():
        request = ApprovalRequest.objects.get()
        link = Notification.objects.get(user=tenant_a.users["manager"], kind="approval_requested").path
    assert link == f"/{tenant_a.slug}/approvals/requests/{request.pk}/"
    page = manager.get(link)
    assert page.status_code == 200 and 'id="approval-decide"' in page.content.decode()
    refused = manager.post(link, {"decision": "reject", "comment": "", "version": "1"})
    assert refused.status_code == 400 and 'id="approval-error"' in refused.content.decode()
    returned = manager.post(link, {"decision": "reject", "comment": "言い回しを直してください", "version": "1"})
    assert returned.status_code == 302
    with tenant_a.scope():
        request.refresh_from_db()
        message.refresh_from_db()
        assert request.status == ApprovalStatus.REJECTED and message.delivery_state == DeliveryState.RETURNED
    mine = login(tenant_a.users["agent"]).get(f"/{tenant_a.slug}/approvals/").content.decode()
    assert 'id="approvals-submitted"' in mine and "返金いたします" in mine


def test_the_queue_costs_the_same_with_more_requests(tenant_a, login, simulator, django_assert_max_num_queries):
    workflow(tenant_a, kind="reply", name="All", steps=({"roles": ["manager"]},))
    client = login(tenant_a.users["manager"])
    _conn, ticket = email_ticket(tenant_a, simulator)

    def count():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/{tenant_a.slug}/approvals/").status_code == 200
        return len(queries)

    with tenant_a.scope():
        message_reply(organization=tenant_a.organization, actor=tenant_a.users["agent"], ticket=ticket, text="一")
    count()  # caches warmed (content types, the session)
    one = count()
    with tenant_a.scope():
        for text in ("二", "三", "四"):
            message_reply(organization=tenant_a.organization, actor=tenant_a.users["agent"], ticket=ticket, text=text)
    assert count() == one


def test_a_request_is_hidden_from_members_it_does_not_concern(tenant_a, login, held):
    with tenant_a.scope():
        request = ApprovalRequest.objects.get()
    assert login(tenant_a.users["analyst"]).get(f"/{tenant_a.slug}/approvals/requests/{request.pk}/").status_code == 404


def test_workflow_settings_for_administrators(tenant_a, login, django_assert_max_num_queries):
    assert login(tenant_a.users["agent"]).get(f"/{tenant_a.slug}/settings/approvals/").status_code == 403
    admin = login(tenant_a.users["admin"])
    refused = admin.post(
        f"/{tenant_a.slug}/settings/approvals/new/",
        {"name": "Legal", "kind": "post", "priority": "10", "regulated": "on", "allow_self_approval": "on"},
    )
    assert refused.status_code == 400  # a regulated workflow cannot allow self-approval
    created = admin.post(
        f"/{tenant_a.slug}/settings/approvals/new/",
        {
            "name": "Legal",
            "kind": "post",
            "priority": "10",
            "regulated": "on",
            "active": "on",
            "keyword_sets": ["legal", "medical"],
            "keywords": "返金、保証",
            "regexes": r"\d+円",
        },
    )
    assert created.status_code == 302
    with tenant_a.scope():
        flow = Workflow.objects.get(name="Legal")
    assert flow.regulated and flow.conditions["keywords"] == ["返金", "保証"]
    step = admin.post(
        f"/{tenant_a.slug}/settings/approvals/{flow.pk}/steps/new/",
        {"name": "法務", "roles": ["manager", "approver"], "rule": "n", "required_count": "2", "target_minutes": "120"},
    )
    assert step.status_code == 302
    workflow(tenant_a, name="Other")
    with django_assert_max_num_queries(20):
        page = admin.get(f"/{tenant_a.slug}/settings/approvals/")
    assert "Legal" in page.content.decode() and "法務" in page.content.decode()
    assert admin.get(f"/{tenant_a.slug}/settings/approvals/{flow.pk}/").status_code == 200
