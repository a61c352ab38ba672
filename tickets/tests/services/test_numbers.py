"""Ticket numbers come from a sequence per organization, created with its first ticket."""

import threading

import pytest
from django.db import connection, transaction
from django_scopes import scope

from accounts.models import Organization
from tickets.services.numbers import ticket_numbers_next


@pytest.mark.django_db(transaction=True)
def test_first_tickets_arriving_together_share_the_new_sequence():
    organization = Organization.objects.create(name="Numbers", slug="numbers-race")
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SEQUENCE IF EXISTS "tickets_number_org_{organization.pk}"')
    workers = 6
    start = threading.Barrier(workers)
    numbers, errors = [], []

    def first_ticket():
        try:
            start.wait()
            with scope(organization=organization), transaction.atomic():
                numbers.extend(ticket_numbers_next(organization, 1))
        except Exception as exc:  # noqa: BLE001 — reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_ticket) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, workers + 1))
