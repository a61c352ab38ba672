"""core.db.copy_insert: the ingest's bulk insert (COPY) must store exactly what bulk_create would."""

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.utils import timezone

from core.db import copy_insert
from tickets.models import Contact, Message, Ticket
from tickets.search import index_document
from tickets.tests.factories import connection

AWKWARD = "tab\there\nnew line \\ backslash 「引用」 \\N null-marker ' \" 🍣"


def _message(tenant, ticket, conn, platform_message_id, **fields):
    return Message(
        organization=tenant.organization,
        ticket=ticket,
        connection=conn,
        direction="inbound",
        kind="direct",
        platform_message_id=platform_message_id,
        **fields,
    )


def test_rows_come_back_exactly_with_defaults_and_ids(tenant_a):
    conn = connection(tenant_a)
    before = timezone.now()
    with tenant_a.scope():
        contacts = copy_insert(
            [Contact(organization=tenant_a.organization, name=AWKWARD, search_vector=index_document(AWKWARD))]
        )
        ticket = Ticket(organization=tenant_a.organization, number=1, connection=conn, contact=contacts[0])
        copy_insert([ticket])
        messages = copy_insert(
            [
                _message(tenant_a, ticket, conn, f"p{i}", text=text, sentiment_score=score)
                for i, (text, score) in enumerate([(AWKWARD, -0.25), ("", None)])
            ]
        )
        assert all(m.pk and not m._state.adding for m in messages)
        stored = {m.pk: m for m in Message.objects.filter(ticket=ticket)}
        assert [stored[m.pk].text for m in messages] == [AWKWARD, ""]
        assert [stored[m.pk].sentiment_score for m in messages] == [-0.25, None]
        assert stored[messages[0].pk].automated is False and stored[messages[0].pk].created_at >= before
        fresh = Ticket.objects.get(pk=ticket.pk)
        # A constant db_default is written and kept on the instance, as bulk_create's RETURNING would.
        assert fresh.sla_state == ticket.sla_state == ""
        assert fresh.status == "new" and fresh.created_at == ticket.created_at
        assert Contact.objects.get(pk=contacts[0].pk).name == AWKWARD
        assert Contact.objects.filter(pk=contacts[0].pk, search_vector__isnull=False).exists()


def test_a_unique_violation_raises_integrity_error_and_stores_nothing(tenant_a):
    conn = connection(tenant_a)
    with tenant_a.scope():
        contact = copy_insert([Contact(organization=tenant_a.organization, name="A")])[0]
        ticket = copy_insert([Ticket(organization=tenant_a.organization, number=7, connection=conn, contact=contact)])[
            0
        ]
        copy_insert([_message(tenant_a, ticket, conn, "dup")])
        with pytest.raises(IntegrityError), transaction.atomic():
            copy_insert([_message(tenant_a, ticket, conn, "new-1"), _message(tenant_a, ticket, conn, "dup")])
        assert sorted(Message.objects.filter(ticket=ticket).values_list("platform_message_id", flat=True)) == ["dup"]


def test_expressions_are_refused(tenant_a):
    with tenant_a.scope(), pytest.raises(TypeError), transaction.atomic():
        copy_insert([Contact(organization=tenant_a.organization, name=Value("x"))])
