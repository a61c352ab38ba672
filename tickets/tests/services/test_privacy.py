"""Privacy: erasing a contact leaves none of its personal data in any table or search index (a scan of every text,
JSON, array, tsvector and bytea column of the database for the erased values), the other contact's data stays;
the export holds everything; the retention dry run counts exactly the tickets the run then processes."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.db import connection as db
from django.utils import timezone

from accounts.models import AuditEntry
from analytics.listening.models import Mention
from approvals.models import ReplyHold
from automation.models import RuleRun, WebhookCall
from channels_integrations.models import InboundEvent
from core.errors import DomainError, NotAllowed
from core.models import Notification, RealtimeEvent
from core.realtime import ticket_group
from tickets.models import (
    Attachment,
    CallRecord,
    Contact,
    ContactErasure,
    ContactExport,
    ContactIdentity,
    ExportStatus,
    Message,
    RetentionAction,
    RetentionPolicy,
    Survey,
    SurveyAnswer,
    Ticket,
    TicketAnonymization,
    TicketEvent,
    TicketStatus,
    WebhookEventDelivery,
    WebhookSubscription,
)
from tickets.services import privacy
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db

NAME, READING = "轟木 綾乃", "トドロキ アヤノ"
EMAIL, PHONE = "ayano.todoroki@example.jp", "+819012345678"
HANDLE, LINE_ID = "ayano_todo77", "U-ayano-7731"
TEXT = "注文番号QX-99821の件で返金をお願いします"
MAIL_TEXT = "Refund for order QX-99821 please, Ayano"
ATTACHMENT_BYTES = b"%PDF receipt of QX-99821"
ERASED = [NAME, "轟木", "綾乃", READING, EMAIL, PHONE, HANDLE, LINE_ID, "QX-99821", TEXT, MAIL_TEXT, "Ayano"]

OTHER_NAME, OTHER_TEXT = "佐藤 次郎", "配送状況ZZ-4410を教えてください"

SCANNED_TYPES = ("text", "character varying", "jsonb", "json", "tsvector", "ARRAY", "bytea")


def scan_database(values: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text-like column of every table in the database that contains one of the
    values (case-insensitively; bytea as UTF-8 and as JSON escapes, tsvectors by their lexemes)."""
    hits = []
    with db.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema
            WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.data_type = ANY(%s)
            ORDER BY 1, 2
            """,
            [list(SCANNED_TYPES)],
        )
        columns = cursor.fetchall()
        assert len(columns) > 100  # the scan covers the whole schema, not a handful of tables
        for table, column, data_type in columns:
            for value in values:
                if data_type == "bytea":
                    forms = sorted({value, json.dumps(value)[1:-1]})
                    cursor.execute(
                        f'SELECT 1 FROM "{table}" WHERE '  # noqa: S608 (names from the catalog)
                        + " OR ".join([f"position(convert_to(%s, 'UTF8') IN \"{column}\") > 0"] * len(forms))
                        + " LIMIT 1",
                        forms,
                    )
                else:
                    cursor.execute(
                        f'SELECT 1 FROM "{table}" WHERE "{column}"::text ILIKE %s LIMIT 1',  # noqa: S608
                        [f"%{value}%"],
                    )
                if cursor.fetchone():
                    hits.append((table, column, value))
    return hits


def _ingest(tenant, conn, text, **kw):
    with tenant.scope():
        return message_ingest(organization=tenant.organization, connection=conn, inbound=inbound(text, **kw))[0]


@pytest.fixture
def customer(tenant_a, settings, tmp_path):
    """A customer on LINE and by email (two contacts merged into one), with everything a conversation leaves
    behind; and another customer of the same organization."""
    settings.MEDIA_ROOT = tmp_path
    line, mail = connection(tenant_a, "line"), connection(tenant_a, "email")
    first = _ingest(tenant_a, line, TEXT, thread=LINE_ID, author=LINE_ID, name=NAME, author_handle=HANDLE)
    second = _ingest(
        tenant_a,
        mail,
        MAIL_TEXT,
        thread=f"<thread-{EMAIL}>",
        author=EMAIL,
        name=NAME,
        author_email=EMAIL,
        subject="Refund QX-99821",
        sender_authentication={"from": EMAIL, "dkim": "pass"},
    )
    other = _ingest(tenant_a, line, OTHER_TEXT, thread="U-other", author="U-other", name=OTHER_NAME)
    org = tenant_a.organization
    with tenant_a.scope():
        contact = first.ticket.contact
        Contact.objects.filter(pk=contact.pk).update(
            reading=READING, emails=[EMAIL], email=EMAIL, phones=[PHONE], notes=f"VIP, phone {PHONE}"
        )
        mail_contact = second.ticket.contact
        Contact.objects.filter(pk=mail_contact.pk).update(merged_into=contact)
        Ticket.objects.filter(pk=second.ticket_id).update(contact=contact)
        attachment = Attachment(organization=org, message=first, filename=f"receipt-{HANDLE}.pdf", size=10)
        attachment.file.save("receipt.pdf", ContentFile(ATTACHMENT_BYTES), save=True)
        call_message = Message.objects.create(
            organization=org, ticket=first.ticket, connection=line, direction="inbound", kind="call", text="call"
        )
        CallRecord.objects.create(
            organization=org,
            message=call_message,
            direction="inbound",
            outcome="answered",
            from_number=PHONE,
            transcription=f"This is {NAME} about QX-99821",
        )
        survey = Survey.objects.create(organization=org, ticket=first.ticket, state="answered")
        SurveyAnswer.objects.create(
            organization=org, survey=survey, ticket=first.ticket, rating=2, comment=f"{NAME}: slow refund"
        )
        TicketEvent.objects.create(organization=org, ticket=first.ticket, kind="merge", new={"subject": MAIL_TEXT})
        Notification.objects.create(
            organization=org,
            user=tenant_a.users["agent"],
            kind="ticket.new_message",
            target_type=ContentType.objects.get_for_model(Ticket),
            target_id=first.ticket_id,
            params={"number": first.ticket.number, "contact": NAME},
        )
        RealtimeEvent.objects.create(
            organization=org,
            group=ticket_group(org.pk, first.ticket_id),
            type="message.new",
            payload={"ticket_id": first.ticket_id, "html": f"<p>{TEXT}</p>"},
        )
        RealtimeEvent.objects.create(
            organization=org, group="queue", type="ticket.updated", payload={"contact": {"name": NAME}}
        )
        for key, payload in (
            ("e-line", {"events": [{"source": {"userId": LINE_ID}, "message": {"text": TEXT}}]}),
            ("e-line-escaped", {"displayName": NAME}),  # json.dumps escapes it: \u8f5f\u6728 …
            ("e-other", {"events": [{"source": {"userId": "U-other"}, "message": {"text": OTHER_TEXT}}]}),
        ):
            InboundEvent.objects.create(
                organization=org,
                connection=line,
                event_key=key,
                payload=json.dumps(payload, ensure_ascii=key != "e-line").encode(),
                status="processed",
            )
        subscription = WebhookSubscription.objects.create(
            organization=org, url="https://crm.example/hook", events=["contact.updated"], secret="x"
        )
        WebhookEventDelivery.objects.create(
            organization=org,
            subscription=subscription,
            event="contact.updated",
            payload={"contact": {"id": contact.pk, "name": NAME, "emails": [EMAIL]}},
        )
        ContactIdentity.objects.filter(contact=contact).update(profile_url=f"https://line.me/{HANDLE}")
        # The higher layers' copies (tickets.privacy_hooks): a rule's webhook call and its run's summary, a held
        # reply's first draft and an approver's comment, a listening mention posted by the customer's account.
        WebhookCall.objects.create(
            organization=org,
            ticket=first.ticket,
            url="https://hooks.example/x",
            payload={"contact": NAME, "text": TEXT},
        )
        # A call whose ticket is gone (set null) is found by the name in its payload.
        WebhookCall.objects.create(
            organization=org, ticket=None, url="https://hooks.example/y", payload={"customer": {"name": NAME}}
        )
        RuleRun.objects.create(
            organization=org,
            ticket=first.ticket,
            rule_name="VIP",
            trigger="message_received",
            actions=[{"type": "add_note", "summary": f"Noted {NAME}", "ok": True}],
        )
        draft = Message.objects.create(
            organization=org,
            ticket=first.ticket,
            connection=line,
            direction="outbound",
            kind="direct",
            text="sent",
            delivery_state="queued",
        )
        ReplyHold.objects.create(organization=org, message=draft, original_text=f"{NAME}様、QX-99821の件")
        Mention.objects.create(
            organization=org,
            platform="line",
            connection=line,
            external_id="post-1",
            source="tagged",
            author_handle=HANDLE,
            author_name=NAME,
            text=TEXT,
            posted_at=timezone.now(),
        )
    return {"contact": contact, "first": first, "second": second, "other": other, "attachment": attachment}


def _erase(tenant, contact, actor_role="owner"):
    with tenant.scope():
        return privacy.contact_erase(
            organization=tenant.organization,
            actor=tenant.users[actor_role],
            contact=contact,
            confirmation=privacy.erase_confirmation_word(contact),
        )


def test_erase_leaves_no_personal_data_in_any_table_or_search_index(
    tenant_a, customer, django_capture_on_commit_callbacks
):
    before = scan_database(ERASED)
    assert {table for table, _c, _v in before} >= {
        "tickets_contact",
        "tickets_contactidentity",
        "tickets_message",
        "tickets_ticket",
        "tickets_attachment",
        "tickets_callrecord",
        "tickets_surveyanswer",
        "tickets_ticketevent",
        "inbox_notification",
        "inbox_realtimeevent",
        "channels_integrations_inboundevent",
        "tickets_webhookeventdelivery",
        "tickets_webhookcall",
        "tickets_rulerun",
        "approvals_replyhold",
        "analytics_listening_mention",
    }, "the fixture puts the values everywhere the erase must reach"
    with tenant_a.scope():  # an export asked for earlier: its audit entry stays, its file and row go
        privacy.contact_export_request(
            organization=tenant_a.organization, actor=tenant_a.users["manager"], contact=customer["contact"]
        )
    file_name = customer["attachment"].file.name
    storage = customer["attachment"].file.storage
    assert storage.exists(file_name)

    with django_capture_on_commit_callbacks(execute=True):  # the files go once the erasure commits
        counts = _erase(tenant_a, customer["contact"])

    assert counts["tickets"] == 2 and counts["contacts"] == 2 and counts["attachments"] == 1
    assert scan_database(ERASED) == []
    assert not storage.exists(file_name)
    with tenant_a.scope():
        # The ticket rows stay (reports count them), anonymized; the other customer is untouched.
        assert Ticket.objects.filter(contact=customer["contact"]).count() == 2
        assert TicketAnonymization.objects.filter(ticket__contact=customer["contact"]).count() == 2
        assert all(
            k.startswith("erased:")
            for k in Ticket.objects.filter(contact=customer["contact"]).values_list("external_thread_key", flat=True)
        )
        assert ContactErasure.objects.filter(contact=customer["contact"]).exists()
        # The reply still queued is given up rather than sent empty.
        assert not Message.objects.filter(ticket__contact=customer["contact"], delivery_state="queued").exists()
        other = Message.objects.get(pk=customer["other"].pk)
        assert other.text == OTHER_TEXT and other.ticket.contact.name == OTHER_NAME
        assert other.ticket.search_vector is not None
        assert InboundEvent.objects.filter(event_key="e-other").exists()
        entry = AuditEntry.objects.filter(action="contact.erased").get()
        assert entry.object_id == str(customer["contact"].pk) and entry.changes["messages"] >= 3
    assert scan_database([OTHER_NAME, OTHER_TEXT, "U-other"]) != []


def test_erase_needs_the_typed_confirmation_and_happens_once(tenant_a, customer):
    with tenant_a.scope():
        with pytest.raises(DomainError) as error:
            privacy.contact_erase(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                contact=customer["contact"],
                confirmation="yes",
            )
        assert error.value.field == "confirmation"
        assert Contact.objects.get(pk=customer["contact"].pk).name == NAME
    _erase(tenant_a, customer["contact"])
    with pytest.raises(DomainError):
        _erase(tenant_a, customer["contact"])


def test_export_contains_everything_and_downloads_once_by_the_requester(tenant_a, customer):
    with tenant_a.scope():
        export = privacy.contact_export_request(
            organization=tenant_a.organization, actor=tenant_a.users["manager"], contact=customer["contact"]
        )
        # The task ran eagerly on commit in real use; here the build is called as the task does.
        export = privacy.contact_export_build(organization=tenant_a.organization, export_id=export.pk)
        assert export.status == ExportStatus.READY and export.expires_at > timezone.now()
        with export.file.open("rb") as handle:
            archive = zipfile.ZipFile(io.BytesIO(handle.read()))
        document = json.loads(archive.read("contact.json"))
        assert document["contact"]["name"] == NAME and document["contact"]["phones"] == [PHONE]
        assert {i["external_id"] for i in document["identities"]} >= {LINE_ID, EMAIL}
        assert len(document["merged_contacts"]) == 1
        texts = {m["text"] for t in document["tickets"] for m in t["messages"]}
        assert {TEXT, MAIL_TEXT} <= texts and OTHER_TEXT not in texts
        assert document["csat_answers"][0]["comment"].endswith("slow refund")
        calls = [m["call"] for t in document["tickets"] for m in t["messages"] if "call" in m]
        assert calls[0]["from_number"] == PHONE
        [attachment_entry] = [a for t in document["tickets"] for m in t["messages"] for a in m["attachments"]]
        assert archive.read(attachment_entry["file_in_zip"]) == ATTACHMENT_BYTES

        with pytest.raises(NotAllowed):
            privacy.contact_export_take(
                organization=tenant_a.organization, actor=tenant_a.users["owner"], export=export
            )
        privacy.contact_export_take(organization=tenant_a.organization, actor=tenant_a.users["manager"], export=export)
        with pytest.raises(DomainError):
            privacy.contact_export_take(
                organization=tenant_a.organization, actor=tenant_a.users["manager"], export=export
            )
        assert AuditEntry.objects.filter(action="contact.exported").count() == 2
        name = ContactExport.objects.get(pk=export.pk).file.name
        assert (
            privacy.contact_exports_sweep(organization=tenant_a.organization, now=timezone.now() + timedelta(minutes=2))
            == 1
        )
        assert not export.file.storage.exists(name)


def _closed(tenant, conn, text, *, days_ago, status=TicketStatus.CLOSED, thread):
    message = _ingest(tenant, conn, text, thread=thread, author=thread)
    with tenant.scope():
        Ticket.objects.filter(pk=message.ticket_id).update(
            status=status, status_changed_at=timezone.now() - timedelta(days=days_ago)
        )
    return message.ticket_id


@pytest.mark.parametrize("action", [RetentionAction.ANONYMIZE, RetentionAction.DELETE])
def test_retention_dry_run_equals_the_real_run(tenant_a, tenant_b, action):
    conn = connection(tenant_a)
    old = [_closed(tenant_a, conn, f"old {i}", days_ago=40 + i, thread=f"old-{i}") for i in range(5)]
    old.append(_closed(tenant_a, conn, "old solved", days_ago=31, status=TicketStatus.SOLVED, thread="old-solved"))
    recent = _closed(tenant_a, conn, "recent", days_ago=5, thread="recent")
    open_old = _ingest(tenant_a, conn, "still open", thread="open-old").ticket_id
    with tenant_a.scope():
        Ticket.objects.filter(pk=open_old).update(status_changed_at=timezone.now() - timedelta(days=90))
    other_org = _closed(tenant_b, connection(tenant_b), "other org", days_ago=90, thread="b-old")
    now = timezone.now()
    with tenant_a.scope():
        policy = privacy.retention_policy_update(
            organization=tenant_a.organization, actor=tenant_a.users["admin"], enabled=True, days=30, action=action
        )
        selected = list(privacy.retention_tickets(policy=policy, now=now).values_list("pk", flat=True))
        assert privacy.retention_dry_run(policy=policy, now=now) == len(old) == len(selected)
        assert sorted(selected) == sorted(old)
        done = privacy.retention_apply(organization=tenant_a.organization, now=now, batch_size=2)
        assert done == len(old)
        assert privacy.retention_dry_run(policy=policy, now=now) == 0
        assert privacy.retention_apply(organization=tenant_a.organization, now=now) == 0
        if action == RetentionAction.DELETE:
            assert not Ticket.objects.filter(pk__in=old).exists()
        else:
            assert set(Message.objects.filter(ticket_id__in=old).values_list("text", flat=True)) == {""}
            assert Ticket.objects.filter(pk__in=old).count() == len(old)
        assert Message.objects.filter(ticket_id__in=[recent, open_old]).exclude(text="").count() == 2
        assert RetentionPolicy.objects.get().last_run_count == 0  # the second run found nothing
        assert AuditEntry.objects.filter(action="privacy.retention_run").count() == 1
    with tenant_b.scope():
        assert Message.objects.get(ticket_id=other_org).text == "other org"


def test_a_disabled_policy_does_nothing_and_bad_input_is_refused(tenant_a):
    conn = connection(tenant_a)
    _closed(tenant_a, conn, "old", days_ago=400, thread="x")
    with tenant_a.scope():
        privacy.retention_policy_update(
            organization=tenant_a.organization, actor=None, enabled=False, days=30, action="anonymize"
        )
        assert privacy.retention_apply(organization=tenant_a.organization) == 0
        for days, action in ((0, "anonymize"), (30, "shred")):
            with pytest.raises(DomainError):
                privacy.retention_policy_update(
                    organization=tenant_a.organization, actor=None, enabled=True, days=days, action=action
                )


def test_erase_after_a_merge_leaves_no_name_in_the_audit_log(tenant_a):
    from tickets.services.contact_merge import contact_merge

    line, mail = connection(tenant_a, "line"), connection(tenant_a, "email")
    first = _ingest(tenant_a, line, TEXT, thread=LINE_ID, author=LINE_ID, name=NAME)
    second = _ingest(tenant_a, mail, MAIL_TEXT, thread="<t>", author=EMAIL, name=NAME, author_email=EMAIL)
    with tenant_a.scope():
        contact_merge(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            survivor=first.ticket.contact,
            merged=second.ticket.contact,
        )
    _erase(tenant_a, first.ticket.contact)
    assert [hit for hit in scan_database([NAME, EMAIL]) if hit[0] == "accounts_auditentry"] == []
