"""Celery worker processes keep their PostgreSQL connection between tasks (a new backend per ingest task doubled the
database's share of the work), and still drop one that expired or broke. Checked against Celery's own Django
fixup, which closes every connection after every task unless told otherwise."""

import time
from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from config.celery import _close_old_database_connections, _keep_database_connections, app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def worker_process():
    """What a worker process sets up when it starts (its connections' max age), undone afterwards."""
    saved = connection.settings_dict["CONN_MAX_AGE"]
    _keep_database_connections()
    connection.close()  # the next connection is opened with the worker's max age
    yield
    connection.settings_dict["CONN_MAX_AGE"] = saved


def _task(eager: bool = False):
    return SimpleNamespace(request=SimpleNamespace(is_eager=eager))


def test_the_connection_survives_celerys_after_task_cleanup():
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    opened = connection.connection
    for _ in range(5):  # what Celery runs after each task
        fixup.on_task_postrun(sender=_task())
        _close_old_database_connections(sender=_task())
    assert connection.connection is opened and not opened.closed


def test_an_expired_connection_is_closed_after_the_task():
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1  # past WORKER_DB_CONN_MAX_AGE
    _close_old_database_connections(sender=_task())
    assert connection.connection is None


def test_eager_tasks_leave_the_callers_connection_alone():
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1
    _close_old_database_connections(sender=_task(eager=True))
    assert connection.connection is not None
