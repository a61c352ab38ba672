"""Satisfaction surveys: one per solve, after commit; the rules that skip one; the channel or email choice; the
one-time, expiring link."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django.utils.translation import gettext, override

from channels_integrations.providers.meta.tests.test_connector import page_connection
from core.errors import DomainError
from tickets.models import Message, MessageKind, Survey, SurveyAnswer, SurveySettings, SurveyState, Ticket
from tickets.services import surveys
from tickets.services.changes import ticket_update
from tickets.services.ingest import message_ingest
from tickets.services.merge import ticket_merge
from tickets.tasks import send_due_surveys_everywhere
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def ja(text: str) -> str:
    """A reason as the (Japanese-speaking) organization reads it."""
    with override("ja"):
        return gettext(text)


def enable(tenant, **fields) -> SurveySettings:
    with tenant.scope():
        row, _created = SurveySettings.objects.update_or_create(
            organization=tenant.organization, defaults={"enabled": True, **fields}
        )
        return row


def line_ticket(tenant, *, email: str = "", thread: str = "thread-1", conn=None, author: str = "U1") -> Ticket:
    conn = conn or connection(tenant, "linkedin")  # a channel without a connector: surveys go by email
    with tenant.scope():
        message, _ = message_ingest(
            organization=tenant.organization, connection=conn, inbound=inbound(thread=thread, author=author)
        )
        ticket = message.ticket
        if email:
            ticket.contact.email = email
            ticket.contact.save(update_fields=["email"])
        return Ticket.objects.get(pk=ticket.pk)


def solve(tenant, ticket, capture, *, actor=None, status="solved") -> None:
    with tenant.scope(), capture(execute=True):
        ticket_update(
            organization=tenant.organization, actor=actor or tenant.users["agent"], ticket=ticket, status=status
        )


def surveys_of(tenant, ticket) -> list[Survey]:
    with tenant.scope():
        return list(Survey.objects.filter(ticket=ticket).order_by("pk"))


def test_off_by_default_no_survey(tenant_a, django_capture_on_commit_callbacks):
    ticket = line_ticket(tenant_a, email="hanako@example.jp")
    solve(tenant_a, ticket, django_capture_on_commit_callbacks)
    assert surveys_of(tenant_a, ticket) == []
    assert mail.outbox == []


def test_solved_ticket_without_a_sending_channel_is_surveyed_by_email(tenant_a, django_capture_on_commit_callbacks):
    enable(tenant_a)
    ticket = line_ticket(tenant_a, email="hanako@example.jp")
    with tenant_a.scope():
        ticket_update(organization=tenant_a.organization, actor=None, ticket=ticket, assignee=tenant_a.users["admin"])
    solve(tenant_a, ticket, django_capture_on_commit_callbacks)
    [survey] = surveys_of(tenant_a, ticket)
    assert survey.state == SurveyState.SENT and survey.via == "email"
    assert survey.agent_id == tenant_a.users["admin"].pk
    assert survey.language == "ja"
    assert survey.expires_at - survey.sent_at == timedelta(days=30)
    [sent] = mail.outbox
    assert sent.to == ["hanako@example.jp"]
    assert "このたびはお問い合わせいただきありがとうございました" in sent.body
    assert "?rating=5" in sent.body and "/survey/" in sent.body
    # The link's token is not stored: only its hash.
    token = sent.body.split("/survey/")[1].split("/")[0]
    assert survey.token_hash == surveys.token_hash(token) and token not in survey.token_hash


def test_plain_text_email_is_not_html_escaped(tenant_a, django_capture_on_commit_callbacks):
    tenant_a.organization.name = "A&B 商事"
    tenant_a.organization.save(update_fields=["name"])
    enable(tenant_a, invitation_ja="ご意見を「A&B」にお寄せください。")
    solve(tenant_a, line_ticket(tenant_a, email="hanako@example.jp"), django_capture_on_commit_callbacks)
    [sent] = mail.outbox
    assert "A&B 商事" in sent.subject and "「A&B」" in sent.body and "&amp;" not in sent.body
    assert "&amp;" in sent.alternatives[0][0]  # the HTML part escapes it


def test_english_speaking_customer_gets_the_english_survey(tenant_a, django_capture_on_commit_callbacks):
    enable(tenant_a)
    ticket = line_ticket(tenant_a, email="jane@example.com")
    with tenant_a.scope():
        ticket.contact.language = "en-US"
        ticket.contact.save(update_fields=["language"])
    solve(tenant_a, ticket, django_capture_on_commit_callbacks)
    [survey] = surveys_of(tenant_a, ticket)
    assert survey.language == "en"
    assert mail.outbox[0].body.startswith("Thank you for contacting us.")


def test_no_channel_and_no_email_is_not_sent_with_the_reason(tenant_a, django_capture_on_commit_callbacks):
    enable(tenant_a)
    ticket = line_ticket(tenant_a)
    solve(tenant_a, ticket, django_capture_on_commit_callbacks)
    [survey] = surveys_of(tenant_a, ticket)
    assert survey.state == SurveyState.NOT_SENT
    no_email = ja("Not sent: %(refusal)s The customer has no email address.").split("%(refusal)s")[1]
    assert survey.reason.endswith(no_email) and survey.token_hash is None
    assert mail.outbox == []


def messenger_ticket(tenant, simulator, *, email: str = "") -> Ticket:
    conn = page_connection(tenant, simulator)
    simulator.parts["meta"].register_customer(conn.external_account_id, "PSID-1")
    ticket = line_ticket(tenant, email=email, thread="dm:PSID-1", conn=conn, author="PSID-1")
    return ticket


def test_messenger_within_its_window_gets_the_survey_in_the_conversation(
    tenant_a, simulator, django_capture_on_commit_callbacks
):
    enable(tenant_a, invitation_ja="ご感想をお聞かせください。")
    ticket = messenger_ticket(tenant_a, simulator, email="hanako@example.jp")
    solve(tenant_a, ticket, django_capture_on_commit_callbacks)
    [survey] = surveys_of(tenant_a, ticket)
    assert survey.state == SurveyState.SENT and survey.via == "channel"
    with tenant_a.scope():
        message = Message.objects.get(pk=survey.message_id)
        ticket.refresh_from_db()
    assert message.automated and message.author_user_id is None and message.delivery_state == "sent"
    assert message.text.startswith("ご感想をお聞かせください。") and "/survey/" in message.text
    assert simulator.parts["meta"].state()["sent"][-1]["text"] == message.text
    # Automatic, not the agent's response; the ticket stays solved.
    assert ticket.first_response_at is None and ticket.status == "solved"
    assert mail.outbox == []


def test_messenger_after_its_24_hours_falls_back_to_email(tenant_a, simulator, django_capture_on_commit_callbacks):
    enable(tenant_a)
    ticket = messenger_ticket(tenant_a, simulator, email="hanako@example.jp")
    with tenant_a.scope():
        Ticket.objects.filter(pk=ticket.pk).update(last_customer_message_at=timezone.now() - timedelta(hours=25))
    solve(tenant_a, ticket, django_capture_on_commit_callbacks)
    [survey] = surveys_of(tenant_a, ticket)
    assert survey.state == SurveyState.SENT and survey.via == "email"
    refusal = ja("The reply window for this conversation has closed; the platform will not deliver it.")
    assert survey.reason == refusal
    assert refusal not in mail.outbox[0].body  # the refusal is kept for agents, not mailed
    assert simulator.parts["meta"].state()["sent"] == []


def test_one_survey_per_solve_and_a_cool_down_for_a_reopened_ticket(tenant_a, django_capture_on_commit_callbacks):
    settings_row = enable(tenant_a, cooldown_days=7)
    ticket = line_ticket(tenant_a, email="hanako@example.jp")
    solve(tenant_a, ticket, django_capture_on_commit_callbacks)
    [first] = surveys_of(tenant_a, ticket)
    # The task running twice (a redelivery) plans nothing new.
    with tenant_a.scope():
        again = surveys.survey_plan(
            organization=tenant_a.organization, ticket_id=ticket.pk, solve_event_id=first.solve_event_id
        )
    assert again.pk == first.pk and len(mail.outbox) == 1
    solve(tenant_a, ticket, django_capture_on_commit_callbacks, status="open")
    solve(tenant_a, ticket, django_capture_on_commit_callbacks)
    second = surveys_of(tenant_a, ticket)[1]
    assert second.state == SurveyState.SKIPPED
    assert second.reason == ja("The ticket was already surveyed in the last %(days)d days.") % {"days": 7}
    # After the cool-down a new solve is surveyed again.
    with tenant_a.scope():
        Survey.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(days=8))
    settings_row.refresh_from_db()
    solve(tenant_a, ticket, django_capture_on_commit_callbacks, status="open")
    solve(tenant_a, ticket, django_capture_on_commit_callbacks)
    third = surveys_of(tenant_a, ticket)[2]
    assert third.state == SurveyState.SENT and len(mail.outbox) == 2


def test_skipped_for_spam_other_channels_and_tickets_the_customer_never_wrote(
    tenant_a, django_capture_on_commit_callbacks
):
    surveyed = connection(tenant_a, "line")
    enable(tenant_a)
    with tenant_a.scope():
        SurveySettings.objects.get(organization=tenant_a.organization).connections.set([surveyed])
    other = line_ticket(tenant_a, email="a@example.jp", thread="t-other")
    solve(tenant_a, other, django_capture_on_commit_callbacks)
    assert surveys_of(tenant_a, other)[0].reason == ja("Surveys are not sent on this channel.")
    spam = line_ticket(tenant_a, email="b@example.jp", thread="t-spam", conn=surveyed)
    with tenant_a.scope():
        ticket_update(organization=tenant_a.organization, actor=None, ticket=spam, tags=["spam"])
    solve(tenant_a, spam, django_capture_on_commit_callbacks)
    assert surveys_of(tenant_a, spam)[0].reason == ja("The ticket is marked as spam.")
    silent = line_ticket(tenant_a, email="c@example.jp", thread="t-silent", conn=surveyed)
    with tenant_a.scope():
        Message.objects.filter(ticket=silent).update(direction="outbound")
    solve(tenant_a, silent, django_capture_on_commit_callbacks)
    assert surveys_of(tenant_a, silent)[0].reason == ja("The customer never wrote on this ticket.")
    assert mail.outbox == []


def test_merged_ticket_is_not_surveyed(tenant_a, django_capture_on_commit_callbacks):
    enable(tenant_a, delay_minutes=30)
    conn = connection(tenant_a, "line")
    source = line_ticket(tenant_a, email="a@example.jp", thread="t-1", conn=conn)
    target = line_ticket(tenant_a, email="a@example.jp", thread="t-2", conn=conn)
    solve(tenant_a, source, django_capture_on_commit_callbacks)
    [survey] = surveys_of(tenant_a, source)
    assert survey.state == SurveyState.SCHEDULED and mail.outbox == []
    with tenant_a.scope():
        ticket_merge(organization=tenant_a.organization, actor=tenant_a.users["agent"], source=source, target=target)
        Survey.objects.filter(pk=survey.pk).update(due_at=timezone.now())
    send_due_surveys_everywhere()
    survey.refresh_from_db()
    assert survey.state == SurveyState.SKIPPED and mail.outbox == []


def test_delay_then_beat_sends_when_due(tenant_a, django_capture_on_commit_callbacks):
    enable(tenant_a, delay_minutes=60)
    ticket = line_ticket(tenant_a, email="hanako@example.jp")
    solve(tenant_a, ticket, django_capture_on_commit_callbacks)
    [survey] = surveys_of(tenant_a, ticket)
    assert survey.state == SurveyState.SCHEDULED
    assert send_due_surveys_everywhere() == 0  # not due yet
    with tenant_a.scope():
        Survey.objects.filter(pk=survey.pk).update(due_at=timezone.now() - timedelta(seconds=1))
    assert send_due_surveys_everywhere() == 1
    survey.refresh_from_db()
    assert survey.state == SurveyState.SENT and len(mail.outbox) == 1


def test_a_rule_skip_applies_to_the_next_solve(tenant_a, django_capture_on_commit_callbacks):
    enable(tenant_a)
    ticket = line_ticket(tenant_a, email="hanako@example.jp")
    with tenant_a.scope():
        surveys.survey_skip(organization=tenant_a.organization, actor=None, ticket=ticket, reason="rule: VIP")
        surveys.survey_skip(organization=tenant_a.organization, actor=None, ticket=ticket, reason="rule: VIP")
    solve(tenant_a, ticket, django_capture_on_commit_callbacks)
    [survey] = surveys_of(tenant_a, ticket)
    assert survey.state == SurveyState.SKIPPED and survey.reason == "rule: VIP" and survey.solve_event_id
    assert mail.outbox == []


def sent_survey(tenant, capture, *, thread: str = "thread-1") -> tuple[Survey, str]:
    enable(tenant)
    ticket = line_ticket(tenant, email="hanako@example.jp", thread=thread)
    with tenant.scope():
        ticket_update(organization=tenant.organization, actor=None, ticket=ticket, assignee=tenant.users["admin"])
    solve(tenant, ticket, capture)
    [survey] = surveys_of(tenant, ticket)
    token = mail.outbox[-1].body.split("/survey/")[1].split("/")[0]
    return survey, token


def test_answer_once_attached_to_ticket_and_agent(tenant_a, django_capture_on_commit_callbacks):
    survey, token = sent_survey(tenant_a, django_capture_on_commit_callbacks)
    answer = surveys.survey_answer_submit(token=token, rating="5", comment="とても丁寧でした @owner")
    assert (answer.rating, answer.agent_id, answer.ticket_id) == (5, tenant_a.users["admin"].pk, survey.ticket_id)
    with tenant_a.scope():
        note = Message.objects.filter(ticket_id=survey.ticket_id, kind=MessageKind.NOTE).get()
        assert note.mentions.count() == 0  # the customer's words notify nobody
    assert "5" in note.text and "とても丁寧でした" in note.text
    with pytest.raises(DomainError) as again:
        surveys.survey_answer_submit(token=token, rating=1)
    assert again.value.code == "answered"
    with tenant_a.scope():
        assert SurveyAnswer.objects.count() == 1


def test_expired_tampered_and_bad_ratings_are_refused(tenant_a, django_capture_on_commit_callbacks):
    survey, token = sent_survey(tenant_a, django_capture_on_commit_callbacks)
    for rating in ("0", "6", "x", None):
        with pytest.raises(DomainError) as bad:
            surveys.survey_answer_submit(token=token, rating=rating)
        assert bad.value.field == "rating"
    with pytest.raises(DomainError) as tampered:
        surveys.survey_answer_submit(token=token[:-1] + ("A" if token[-1] != "A" else "B"), rating=5)
    assert tampered.value.code == "invalid"
    with tenant_a.scope():
        Survey.objects.filter(pk=survey.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(DomainError) as expired:
        surveys.survey_answer_submit(token=token, rating=5)
    assert expired.value.code == "expired"
