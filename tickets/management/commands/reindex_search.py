"""Rewrite every stored search vector with the current analyser (tickets.search), after a change of how text is
indexed (issue 16: bigrams -> words). Batched by id, each batch its own transaction; resumable: it prints the last id
of each batch and `--after ID` continues from there. Until it has run, vectors of the old format still match the old
way (settings.SEARCH_LEGACY_QUERIES), so search keeps working during the run.

    python manage.py reindex_search [--model message|contact|ticket] [--batch 500] [--after ID]
"""

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django_scopes import scopes_disabled

from tickets.models import Contact, Message, Ticket
from tickets.search import append_sql, document_expression, index_document
from tickets.services.contacts import contact_document, reading_hiragana

MODELS = ("message", "contact", "ticket")


class Command(BaseCommand):
    help = "Rewrite the search vectors of messages, contacts and tickets with the current analyser (resumable)."

    def add_arguments(self, parser):
        parser.add_argument("--model", choices=MODELS, help="only this one (default: all three, in this order)")
        parser.add_argument("--batch", type=int, default=500)
        parser.add_argument("--after", type=int, default=0, help="start after this id (to resume one --model)")

    def handle(self, *args, model=None, batch=500, after=0, **options):
        with scopes_disabled():
            for name in [model] if model else MODELS:
                self._reindex(name, batch, after if model else 0)

    def _reindex(self, name: str, batch: int, after: int) -> None:
        queryset = {"message": Message, "contact": Contact, "ticket": Ticket}[name].objects.order_by("pk")
        done = 0
        while True:
            ids = list(queryset.filter(pk__gt=after).values_list("pk", flat=True)[:batch])
            if not ids:
                break
            with transaction.atomic():
                getattr(self, f"_{name}s")(ids)
            after, done = ids[-1], done + len(ids)
            self.stdout.write(f"{name}: {done} rewritten, last id {after} (resume with --model {name} --after {after})")
        self.stdout.write(self.style.SUCCESS(f"{name}: done, {done} rewritten"))

    def _messages(self, ids: list[int]) -> None:
        for pk, text in Message.objects.filter(pk__in=ids).values_list("pk", "text"):
            Message.objects.filter(pk=pk).update(search_vector=document_expression(index_document(text)))

    def _contacts(self, ids: list[int]) -> None:
        for contact in Contact.objects.filter(pk__in=ids):
            Contact.objects.filter(pk=contact.pk).update(search_vector=document_expression(contact_document(contact)))

    def _tickets(self, ids: list[int]) -> None:
        """As the write path builds it: subject and customer name, then every message's words appended in order
        (`||` shifts each part's positions past the previous one, so phrases never span two messages)."""
        texts: dict[int, list[str]] = {pk: [] for pk in ids}
        for ticket_id, text in (
            Message.objects.filter(ticket_id__in=ids).order_by("created_at", "pk").values_list("ticket_id", "text")
        ):
            texts[ticket_id].append(text)
        tickets = Ticket.objects.filter(pk__in=ids).select_related("contact")
        for ticket in tickets.only("subject", "contact__name", "contact__reading"):
            documents = [index_document(text) for text in texts[ticket.pk]]
            expression = "%s::tsvector"  # the subject and the customer's name
            for _ in documents:
                expression = append_sql(expression)
            name = ticket.contact.name if ticket.contact_id else ""
            reading = ticket.contact.reading if ticket.contact_id else ""
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE tickets_ticket SET search_vector = {expression} WHERE id = %s",
                    [index_document(ticket.subject, name, reading, reading_hiragana(reading)), *documents, ticket.pk],
                )
