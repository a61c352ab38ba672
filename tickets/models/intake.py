"""Idempotency keys of the REST API's intake (`POST .../tickets/`, `POST .../tickets/<id>/messages/`): a retried request
with the same `Idempotency-Key` gets the first answer back and creates nothing (tickets/services/api_intake.py)."""

from django.contrib.postgres.indexes import BrinIndex
from django.db import models

from tickets.models.core import scoped


class IdempotencyKey(models.Model):
    """The first answer to a request made with an `Idempotency-Key` header, kept 24 hours (pruned by beat).

    Keys are per organization and per caller (`principal`: "token:<id>" for an API token, "user:<id>" for a signed-in
    member), so two integrations cannot replay each other's answers. `fingerprint` is a hash of the method, path and
    body: the same key with another request is refused. The row is inserted in the transaction that does the work and
    carries its answer when that commits, so a concurrent retry waits on the unique key and then reads the answer; a
    request that fails leaves no row."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    principal = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField()

    objects = scoped()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "principal", "key"], name="tickets_idempotency_key_unique")
        ]
        indexes = [
            # Pruning by age: rows arrive in time order, so a BRIN index is a few pages.
            BrinIndex(fields=["created_at"], name="tickets_idempotency_created"),
        ]

    def __str__(self) -> str:
        return f"{self.principal}:{self.key}"
