"""The conversation's look: day separators in the member's time zone, delivery ticks, automation marked, avatars,
attachments as thumbnails (stored images) or file links, and the composer's drop area."""

import datetime
import re

import pytest
from django.core.files.base import ContentFile

from tickets.models import Attachment, Message
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def _ingest(tenant, conn, text, **kw):
    with tenant.scope():
        return message_ingest(organization=tenant.organization, connection=conn, inbound=inbound(text, **kw))[0]


def _outbound(tenant, first: Message, **fields) -> Message:
    with tenant.scope():
        return Message.objects.create(
            organization=tenant.organization,
            ticket_id=first.ticket_id,
            connection_id=first.connection_id,
            direction="outbound",
            kind="direct",
            text=fields.pop("text", "お待たせしました"),
            **fields,
        )


def _at(tenant, message: Message, when: datetime.datetime) -> None:
    with tenant.scope():
        Message.objects.filter(pk=message.pk).update(created_at=when)


def _conversation(client, tenant, ticket_id) -> str:
    response = client.get(f"/{tenant.slug}/inbox/tickets/{ticket_id}/conversation/")
    assert response.status_code == 200
    return response.content.decode()


def _bubble(html: str, message: Message) -> str:
    start = html.index(f'id="message-{message.pk}"')
    end = html.find('<li class="', start)
    return html[start : end if end != -1 else None]


def _separators(html: str) -> list[str]:
    return re.findall(r'<li class="day-separator" data-day="([\d-]+)">', html)


@pytest.mark.parametrize(("zone", "days"), [("Asia/Tokyo", ["2024-05-01", "2024-05-02"]), ("UTC", ["2024-05-01"])])
def test_day_separators_follow_the_members_time_zone_across_utc_midnight(tenant_a, login, zone, days):
    # 14:30 and 15:30 UTC: the same day in London, 23:30 and 00:30 (the next day) in Tokyo
    conn = connection(tenant_a, "line")
    first = _ingest(tenant_a, conn, "夜分にすみません", thread="night")
    second = _ingest(tenant_a, conn, "追伸です", thread="night")
    _at(tenant_a, first, datetime.datetime(2024, 5, 1, 14, 30, tzinfo=UTC))
    _at(tenant_a, second, datetime.datetime(2024, 5, 1, 15, 30, tzinfo=UTC))
    user = tenant_a.users["manager"]
    user.timezone, user.language = zone, "en"
    user.save()
    html = _conversation(login(user), tenant_a, first.ticket_id)
    assert _separators(html) == days
    # each separator comes before the first message of its day
    assert html.index(f'data-day="{days[-1]}"') < html.index(f'id="message-{second.pk}"')
    if zone == "Asia/Tokyo":
        assert html.index('data-day="2024-05-02"') > html.index(f'id="message-{first.pk}"')
        assert ">Wed, May 1, 2024</time>" in html and ">Thu, May 2, 2024</time>" in html
        assert ">23:30</time>" in html and ">00:30</time>" in html  # bubble times in the member's zone too
    else:
        assert ">14:30</time>" in html and ">15:30</time>" in html


def test_today_and_yesterday_are_named(tenant_a, login):
    conn = connection(tenant_a, "line")
    old = _ingest(tenant_a, conn, "昨日の件", thread="recent")
    new = _ingest(tenant_a, conn, "今日の件", thread="recent")
    _at(tenant_a, old, new.created_at - datetime.timedelta(days=1))
    user = tenant_a.users["manager"]
    user.language = "en"
    user.save()
    html = _conversation(login(user), tenant_a, new.ticket_id)
    assert re.findall(r'<time datetime="[\d-]+">(\w+)</time></li>', html) == ["Yesterday", "Today"]


def test_messages_appended_later_bring_their_day_separator(tenant_a, login):
    # A live append renders the new bubbles alone: with their day's separator, which the browser keeps once per day.
    conn = connection(tenant_a, "line")
    first = _ingest(tenant_a, conn, "一通目", thread="append")
    later = _ingest(tenant_a, conn, "二通目", thread="append")
    client = login(tenant_a.users["manager"])
    html = client.get(f"/{tenant_a.slug}/inbox/tickets/{first.ticket_id}/messages/?after={first.pk}").content.decode()
    assert len(_separators(html)) == 1 and f'id="message-{later.pk}"' in html and f'id="message-{first.pk}"' not in html


def test_delivery_ticks_per_state(tenant_a, login):
    conn = connection(tenant_a, "line")
    first = _ingest(tenant_a, conn, "届いていません", thread="ticks")
    states = {
        state: _outbound(tenant_a, first, delivery_state=state, author_user=tenant_a.users["agent"])
        for state in ("queued", "sending", "sent", "delivered")
    }
    failed = _outbound(tenant_a, first, delivery_state="failed", delivery_error="24時間の返信期限を過ぎています")
    user = tenant_a.users["manager"]
    user.language = "en"
    user.save()
    html = _conversation(login(user), tenant_a, first.ticket_id)
    expected = {"queued": ("#clock", "Queued"), "sending": ("#clock", "Sending"), "sent": ("#check\"", "Sent"),
                "delivered": ("#check-check", "Delivered")}  # fmt: skip
    for state, message in states.items():
        bubble = _bubble(html, message)
        icon, label = expected[state]
        assert f'class="delivery delivery-{state}"' in bubble and icon in bubble
        assert f'<span class="sr-only">{label}</span>' in bubble  # named for screen readers, not by colour alone
    bubble = _bubble(html, failed)
    assert "delivery-failed" in bubble and "#circle-alert" in bubble
    assert "Failed: 24時間の返信期限を過ぎています" in bubble
    # a customer's message and a note have no ticks
    assert "data-delivery" not in _bubble(html, first)


def test_automated_messages_are_marked_and_agents_have_avatars(tenant_a, login):
    conn = connection(tenant_a, "line")
    first = _ingest(tenant_a, conn, "営業時間外ですか", thread="auto", name="高橋 誠")
    auto_reply = _outbound(tenant_a, first, automated=True, delivery_state="sent", text="自動応答です")
    with tenant_a.scope():
        rule_note = Message.objects.create(
            organization=tenant_a.organization, ticket_id=first.ticket_id, connection_id=conn.pk,
            direction="outbound", kind="note", automated=True, text="VIP のお客様です",
        )  # fmt: skip
    agent_reply = _outbound(tenant_a, first, author_user=tenant_a.users["agent"], delivery_state="sent")
    user = tenant_a.users["manager"]
    user.language = "en"
    user.save()
    html = _conversation(login(user), tenant_a, first.ticket_id)
    customer = _bubble(html, first)
    assert 'class="avatar avatar-c' in customer and ">高</span>" in customer and "data-automated" not in customer
    bot = _bubble(html, auto_reply)
    assert f'<li class="message outbound kind-direct automated" id="message-{auto_reply.pk}"' in html
    assert "avatar-bot" in bot
    assert "data-automated" in bot and "Sent automatically" in bot and ">Automation</span>" in bot
    note = _bubble(html, rule_note)
    assert f'<li class="message outbound kind-note automated" id="message-{rule_note.pk}"' in html
    assert "data-automated" in note and "Added by a rule" in note and "Private note" in note
    agent = _bubble(html, agent_reply)
    assert "data-automated" not in agent and "avatar-bot" not in agent and 'class="avatar avatar-c' in agent


def test_attachments_images_as_thumbnails_other_files_as_links(tenant_a, login, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    conn = connection(tenant_a, "line")
    first = _ingest(tenant_a, conn, "写真を送ります", thread="files")
    with tenant_a.scope():
        photo = Attachment(organization=tenant_a.organization, message=first, filename="破損.png",
                           content_type="image/png", size=2048)  # fmt: skip
        photo.file.save("broken.png", ContentFile(b"\x89PNG fake"), save=True)
        pdf = Attachment(organization=tenant_a.organization, message=first, filename="見積書.pdf",
                         content_type="application/pdf", size=123456)  # fmt: skip
        pdf.file.save("quote.pdf", ContentFile(b"%PDF"), save=True)
        Attachment.objects.create(organization=tenant_a.organization, message=first, filename="remote.jpg",
                                  content_type="image/jpeg", remote_url="https://cdn.example.com/r.jpg")  # fmt: skip
    html = _bubble(_conversation(login(tenant_a.users["manager"]), tenant_a, first.ticket_id), first)
    photo_url, pdf_url = (f"/{tenant_a.slug}/attachments/{a.pk}/" for a in (photo, pdf))  # the access-checked view
    assert f'<a class="attachment attachment-image" href="{photo_url}" data-lightbox data-caption="破損.png"' in html
    assert f'<img src="{photo_url}" alt="破損.png"' in html
    assert f'href="{pdf_url}"' in html and "#file-text" in html and "見積書.pdf" in html and "120.6" in html
    # a platform's remote image is another origin (the CSP allows images from ours only): a link, not a thumbnail
    assert '<img src="https://cdn.example.com' not in html and 'href="https://cdn.example.com/r.jpg"' in html


def test_the_composer_takes_dropped_files_and_notes_look_apart(tenant_a, login):
    conn = connection(tenant_a, "email")
    first = _ingest(tenant_a, conn, "添付を送ってください", thread="drop")
    html = _conversation(login(tenant_a.users["manager"]), tenant_a, first.ticket_id)
    assert 'id="reply-files"' in html and "data-remove-format=" in html and "data-remove-file-template" in html
    assert 'name="files"' in html and 'class="composer note-composer"' in html and "#paperclip" in html
