"""Vectors written by the bigram segmenter (before issue 16) keep matching after the deploy, the old way, until
`manage.py reindex_search` rewrites them; the command rebuilds messages, contacts and tickets as the write path does."""

import pytest
from django.core.management import call_command
from django.db import connection

from tickets.models import Message, Ticket
from tickets.search import filter_matching, iter_runs, quote_lexeme, run_tokens
from tickets.tests.test_search import add_message, make_ticket

pytestmark = pytest.mark.django_db

TEXT = "口座引き落としがまだ届いていません"


def bigram_vector(text: str) -> str:
    """The tsvector literal the bigram segmenter wrote (positions 1.., no version mark)."""
    tokens = [token for run in iter_runs(text) for token in run_tokens(run)]
    return " ".join(f"{quote_lexeme(token)}:{position}" for position, token in enumerate(tokens, 1))


@pytest.fixture
def old_message(tenant_a):
    ticket = make_ticket(tenant_a)
    with tenant_a.scope():
        message = add_message(ticket, TEXT)
        Message.objects.filter(pk=message.pk).update(search_vector=bigram_vector(TEXT))
        Ticket.objects.filter(pk=ticket.pk).update(search_vector=bigram_vector(TEXT))
    return message


def found(tenant, query: str, model=Message) -> bool:
    with tenant.scope():
        return filter_matching(model.objects.all(), query).exists()


def test_old_vectors_still_match_before_the_reindex(tenant_a, old_message):
    assert found(tenant_a, "届いて") and found(tenant_a, "引き落とし") and found(tenant_a, "届いて", Ticket)
    assert not found(tenant_a, "返金")


def test_without_the_legacy_query_old_vectors_would_stop_matching(tenant_a, old_message, settings):
    settings.SEARCH_LEGACY_QUERIES = False
    assert not found(tenant_a, "届いて")


def test_legacy_query_leaves_new_vectors_to_the_new_query(tenant_a):
    """The bigram query of 日 is the prefix '日':*, which the new lexeme 日本 would match: a new vector carries the
    mark, so only the new query (the word 日) applies to it."""
    ticket = make_ticket(tenant_a)
    with tenant_a.scope():
        add_message(ticket, "日本から送ります")
    assert not found(tenant_a, "日")
    assert found(tenant_a, "日本")


def test_reindex_rewrites_messages_contacts_and_tickets(tenant_a, old_message):
    assert not found(tenant_a, "引落し")  # the old vector knows no normalized forms
    with tenant_a.scope():
        add_message(old_message.ticket, "配送料について")
    call_command("reindex_search", batch=1, stdout=open("/dev/null", "w"))
    assert found(tenant_a, "引落し") and found(tenant_a, "引落し", Ticket)
    assert found(tenant_a, "配送", Ticket)  # every message's words on the ticket
    assert found(tenant_a, "山田", Ticket)  # the customer's name
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tickets_message WHERE NOT search_vector @@ %s::tsquery", ["'#morph1'"])
        assert cursor.fetchone()[0] == 0


def test_reindex_resumes_after_an_id(tenant_a, old_message):
    call_command("reindex_search", model="message", after=old_message.pk, stdout=open("/dev/null", "w"))
    assert not found(tenant_a, "引落し")  # that message was before the resume point
    call_command("reindex_search", model="message", after=old_message.pk - 1, stdout=open("/dev/null", "w"))
    assert found(tenant_a, "引落し")
