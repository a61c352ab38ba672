"""Merging two contacts moves identities, tickets and history to the survivor, records who merged what, and can be
undone within the organization's period, back to exactly the previous state."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditEntry
from core.after_batch import after_batch
from tests.english import english  # noqa: F401 (fixture: these tests read English sentences)
from tickets.models import Contact, ContactIdentity, ContactMerge, Message, Ticket
from tickets.services.contact_merge import MergeRefused, contact_merge, contact_merge_undo
from tickets.services.contacts import LAST_SEEN_STEP, contact_update
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _customer_on_two_channels(tenant, messages_each=1):
    """The same person on LINE (山田 花子) and on X (hanako_y), two contacts so far."""
    line, x = connection(tenant, "line"), connection(tenant, "x")
    with tenant.scope():
        for n in range(messages_each):
            message_ingest(
                organization=tenant.organization,
                connection=line,
                inbound=inbound(f"LINEから {n}", author="U-line", name="山田 花子", thread=f"l{n}"),
            )
            message_ingest(
                organization=tenant.organization,
                connection=x,
                inbound=inbound(f"from X {n}", author="x-42", name="Hanako Y", thread=f"x{n}"),
            )
        on_line = Contact.objects.get(identities__external_id="U-line")
        on_x = Contact.objects.get(identities__external_id="x-42")
    return on_line, on_x


def _state(contact_ids):
    """Everything a merge may change, to compare before and after an undo."""
    return {
        "contacts": list(
            Contact.objects.filter(pk__in=contact_ids)
            .order_by("pk")
            .values(
                "pk",
                "name",
                "reading",
                "email",
                "emails",
                "phones",
                "company",
                "tags",
                "vip",
                "notes",
                "attributes",
                "merged_into",
                "last_seen_at",
            )
        ),
        "identities": sorted(ContactIdentity.objects.values_list("pk", "contact_id")),
        "tickets": sorted(Ticket.objects.values_list("pk", "contact_id")),
        "messages": sorted(Message.objects.values_list("pk", "author_contact_id")),
    }


def test_merge_moves_identities_tickets_and_messages_and_fills_gaps(tenant_a):
    on_line, on_x = _customer_on_two_channels(tenant_a)
    agent = tenant_a.users["agent"]
    with tenant_a.scope():
        contact_update(organization=tenant_a.organization, contact=on_line, tags=["常連"], notes="電話は夕方")
        contact_update(
            organization=tenant_a.organization,
            contact=on_x,
            emails=["hanako@example.jp"],
            company="サンプル商事",
            tags=["VIPイベント", "常連"],
            vip=True,
            notes="英語も可",
        )
        merge = contact_merge(organization=tenant_a.organization, actor=agent, survivor=on_line, merged=on_x)
        survivor = Contact.objects.get(pk=on_line.pk)
        assert survivor.name == "山田 花子"  # the survivor's own value wins
        assert survivor.emails == ["hanako@example.jp"] and survivor.email == "hanako@example.jp"  # gaps filled
        assert survivor.company == "サンプル商事" and survivor.vip
        assert survivor.tags == ["常連", "VIPイベント"]
        assert survivor.notes == "電話は夕方\n\n英語も可"
        assert set(survivor.identities.values_list("external_id", flat=True)) == {"U-line", "x-42"}
        assert survivor.tickets.count() == 2
        assert set(Message.objects.values_list("author_contact_id", flat=True)) == {survivor.pk}
        assert Contact.objects.get(pk=on_x.pk).merged_into_id == survivor.pk
        assert merge.actor == agent and merge.undo_until > timezone.now() + timedelta(days=29)
        entry = AuditEntry.objects.get(action="contact.merged")
        assert entry.actor == agent and entry.changes["merged"] == on_x.pk and entry.changes["tickets"] == 1
    # The next message from X lands on the survivor.
    with tenant_a.scope():
        message, _ = message_ingest(
            organization=tenant_a.organization,
            connection=Ticket.objects.get(contact=survivor, connection__platform="x").connection,
            inbound=inbound("また X から", author="x-42", name="Hanako Y", thread="x0"),
        )
        assert message.author_contact_id == survivor.pk and message.ticket.contact_id == survivor.pk


def test_undo_restores_the_exact_previous_state(tenant_a):
    on_line, on_x = _customer_on_two_channels(tenant_a, messages_each=2)
    org, agent = tenant_a.organization, tenant_a.users["agent"]
    with tenant_a.scope():
        contact_update(organization=org, contact=on_x, emails=["hanako@example.jp"], tags=["x"], company="サンプル")
        contact_update(organization=org, contact=on_line, tags=["line"], attributes={})
        before = _state([on_line.pk, on_x.pk])
        merge = contact_merge(organization=org, actor=agent, survivor=on_line, merged=on_x)
        assert _state([on_line.pk, on_x.pk]) != before
        contact_merge_undo(organization=org, actor=tenant_a.users["manager"], merge=merge)
        assert _state([on_line.pk, on_x.pk]) == before
        merge.refresh_from_db()
        assert merge.undone_at is not None and merge.undone_by == tenant_a.users["manager"]
        assert AuditEntry.objects.filter(action="contact.merge_undone").count() == 1
        with pytest.raises(MergeRefused):
            contact_merge_undo(organization=org, actor=agent, merge=merge)


def test_undo_keeps_later_edits_of_the_survivor(tenant_a):
    on_line, on_x = _customer_on_two_channels(tenant_a)
    org = tenant_a.organization
    with tenant_a.scope():
        contact_update(organization=org, contact=on_x, company="サンプル")
        merge = contact_merge(organization=org, actor=None, survivor=on_line, merged=on_x)
        contact_update(organization=org, contact=Contact.objects.get(pk=on_line.pk), company="本当の会社")
        contact_merge_undo(organization=org, actor=None, merge=merge)
        assert Contact.objects.get(pk=on_line.pk).company == "本当の会社"


def test_undo_only_within_the_period(tenant_a):
    on_line, on_x = _customer_on_two_channels(tenant_a)
    with tenant_a.scope():
        merge = contact_merge(organization=tenant_a.organization, actor=None, survivor=on_line, merged=on_x)
        ContactMerge.objects.filter(pk=merge.pk).update(undo_until=timezone.now() - timedelta(seconds=1))
        with pytest.raises(MergeRefused) as excinfo:
            contact_merge_undo(organization=tenant_a.organization, actor=None, merge=merge)
        assert "undo period" in excinfo.value.message


def test_a_merged_contact_cannot_be_merged_again_or_with_itself(tenant_a):
    on_line, on_x = _customer_on_two_channels(tenant_a)
    org = tenant_a.organization
    with tenant_a.scope():
        with pytest.raises(MergeRefused):
            contact_merge(organization=org, actor=None, survivor=on_line, merged=on_line)
        contact_merge(organization=org, actor=None, survivor=on_line, merged=on_x)
        with pytest.raises(MergeRefused):
            contact_merge(organization=org, actor=None, survivor=on_x, merged=on_line)


def test_undo_of_an_earlier_merge_waits_for_the_later_one(tenant_a):
    on_line, on_x = _customer_on_two_channels(tenant_a)
    org = tenant_a.organization
    with tenant_a.scope():
        third = Contact.objects.create(organization=org, name="third")
        first = contact_merge(organization=org, actor=None, survivor=on_line, merged=on_x)
        second = contact_merge(organization=org, actor=None, survivor=third, merged=on_line)
        with pytest.raises(MergeRefused):
            contact_merge_undo(organization=org, actor=None, merge=first)
        contact_merge_undo(organization=org, actor=None, merge=second)
        contact_merge_undo(organization=org, actor=None, merge=first)
        assert Contact.objects.get(pk=on_x.pk).tickets.count() == 1


def _merge_queries(tenant, messages_each):
    on_line, on_x = _customer_on_two_channels(tenant, messages_each=messages_each)
    with tenant.scope(), CaptureQueriesContext(db_connection) as queries:
        merge = contact_merge(organization=tenant.organization, actor=None, survivor=on_line, merged=on_x)
    with tenant.scope(), CaptureQueriesContext(db_connection) as undo_queries:
        contact_merge_undo(organization=tenant.organization, actor=None, merge=merge)
    return len(queries), len(undo_queries)


def test_merge_and_undo_cost_the_same_queries_whatever_the_history(tenant_a, tenant_b):
    small = _merge_queries(tenant_a, 1)
    large = _merge_queries(tenant_b, 6)
    assert small == large
    assert small[0] <= 30 and small[1] <= 30


@pytest.mark.django_db(transaction=True)
def test_a_message_ingested_while_a_merge_commits_goes_to_the_survivor(tenant_a):
    """The ingest read the X account's identity (still on the merged contact) before the merge committed; it waits
    on the contact's lock, sees the merge and stores the message and its new ticket on the survivor."""
    on_line, on_x = _customer_on_two_channels(tenant_a)
    with tenant_a.scope():
        x = Ticket.objects.get(contact=on_x).connection
    merged, release, errors, stored = threading.Event(), threading.Event(), [], []

    def merge():
        try:
            with tenant_a.scope(), transaction.atomic():
                contact_merge(organization=tenant_a.organization, actor=None, survivor=on_line, merged=on_x)
                merged.set()
                release.wait(10)
        except Exception as exc:  # asserted below
            errors.append(exc)
        finally:
            db_connection.close()

    def ingest():
        try:
            with tenant_a.scope():
                message, _ = message_ingest(
                    organization=tenant_a.organization,
                    connection=x,
                    inbound=inbound("新しいスレッド", author="x-42", name="Hanako Y", thread="x-new"),
                )
                stored.append(message.pk)
        except Exception as exc:  # asserted below
            errors.append(exc)
        finally:
            db_connection.close()

    merging = threading.Thread(target=merge)
    merging.start()
    assert merged.wait(10)
    ingesting = threading.Thread(target=ingest)
    ingesting.start()
    time.sleep(0.5)  # the ingest has read the identity (on the merged contact) and waits for its lock
    release.set()
    merging.join()
    ingesting.join()
    assert errors == []
    with tenant_a.scope():
        message = Message.objects.select_related("ticket").get(pk=stored[0])
        assert message.author_contact_id == on_line.pk and message.ticket.contact_id == on_line.pk


@pytest.mark.django_db(transaction=True)
def test_two_ingests_of_one_customer_do_not_wait_for_each_other(tenant_a):
    """Two workers' batches each hold a message of the same customer (on two threads): the second is stored while
    the first's transaction is still open. They used to lock the contact FOR UPDATE, so the second waited for the
    whole first batch. The lock they take still makes a merge wait (the test above). The last seen time moves to
    the later message, and only forward."""
    x = connection(tenant_a, "x")
    with tenant_a.scope():
        message_ingest(
            organization=tenant_a.organization, connection=x, inbound=inbound("最初", author="x-7", thread="x-0")
        )
        contact = Contact.objects.get(identities__external_id="x-7")
        first_seen = contact.last_seen_at
    held, release, errors, stored = threading.Event(), threading.Event(), [], []

    def first_batch():
        try:
            # As a worker's batch: what it defers runs after its transaction (channels_integrations.services).
            with tenant_a.scope(), after_batch(), transaction.atomic():
                message_ingest(
                    organization=tenant_a.organization,
                    connection=x,
                    inbound=inbound("一つ目", author="x-7", thread="x-1"),
                )
                held.set()
                release.wait(30)
        except Exception as exc:  # asserted below
            errors.append(exc)
        finally:
            db_connection.close()

    holding = threading.Thread(target=first_batch)
    holding.start()
    try:
        assert held.wait(30)
        with tenant_a.scope(), after_batch(), transaction.atomic():
            # A lock wait fails this statement at once instead of waiting for the first batch (released below).
            db_connection.cursor().execute("SET LOCAL lock_timeout = '5s'")
            message, _ = message_ingest(
                organization=tenant_a.organization, connection=x, inbound=inbound("二つ目", author="x-7", thread="x-2")
            )
            stored.append(message)
    finally:
        release.set()
        holding.join()
    assert errors == []
    with tenant_a.scope():
        contact.refresh_from_db()
        assert stored[0].author_contact_id == contact.pk
        assert Message.objects.filter(author_contact=contact).count() == 3
        assert contact.last_seen_at >= first_seen


def test_the_last_seen_time_moves_at_most_once_a_minute(tenant_a):
    """A customer writing on does not rewrite the contact's row with every message: the time is a minute precise."""
    x = connection(tenant_a, "x")
    with tenant_a.scope():
        message_ingest(
            organization=tenant_a.organization, connection=x, inbound=inbound("一", author="x-8", thread="a")
        )
        contact = Contact.objects.get(identities__external_id="x-8")
        recent = timezone.now() - LAST_SEEN_STEP / 2
        Contact.objects.filter(pk=contact.pk).update(last_seen_at=recent)
        message_ingest(
            organization=tenant_a.organization, connection=x, inbound=inbound("二", author="x-8", thread="a")
        )
        contact.refresh_from_db()
        assert contact.last_seen_at == recent
        older = timezone.now() - LAST_SEEN_STEP - timedelta(seconds=1)
        Contact.objects.filter(pk=contact.pk).update(last_seen_at=older)
        message_ingest(
            organization=tenant_a.organization, connection=x, inbound=inbound("三", author="x-8", thread="a")
        )
        contact.refresh_from_db()
        assert contact.last_seen_at > older + LAST_SEEN_STEP
