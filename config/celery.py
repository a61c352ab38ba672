"""The Celery application. Tasks take ids, never model instances; `core.task_base.TenantTask` hands a task its
organization (from the `organization_id` keyword) inside that organization's scope."""

import functools
import os

from celery import Celery
from celery.signals import task_postrun, worker_init, worker_process_init
from celery.worker.consumer import Consumer as CeleryConsumer
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tsunagu")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("inbound", "outbound", "default", "analytics")]
# A broker (Redis) restart must not end the worker: it reconnects for as long as it takes (Celery's default gives up
# after 100 tries, a few minutes at the pace below), at startup too.
app.conf.broker_connection_retry = True
app.conf.broker_connection_retry_on_startup = True
app.conf.broker_connection_max_retries = None
app.conf.worker_consumer = "config.celery:Consumer"
app.autodiscover_tasks()

# Seconds between the worker's tries to reach the broker again: Celery waits 2, 4, 6 … up to 30 s, so a Redis
# restart of 2 s cost 6 s before tasks flowed again; one try per second at most costs Redis nothing.
RECONNECT_INTERVALS = {"interval_start": 0.25, "interval_step": 0.25, "interval_max": 1.0}


class Consumer(CeleryConsumer):
    """Celery's consumer, reconnecting to the broker after RECONNECT_INTERVALS rather than Celery's fixed 2 s steps
    (its `ensure_connection` call takes no intervals from the settings)."""

    def ensure_connected(self, conn):
        conn.ensure_connection = functools.partial(conn.ensure_connection, **RECONNECT_INTERVALS)
        return super().ensure_connected(conn)


@worker_init.connect
def _load_language_models(**_kwargs) -> None:
    """Load the language and sentiment analyzers once in the parent, so forked worker processes share the memory
    (about 110 MB) instead of each loading it on their first message."""
    from automation.nlp import warm_up  # the Celery app is built before Django's apps are ready

    warm_up()


@worker_process_init.connect
def _keep_database_connections(**_kwargs) -> None:
    """Worker processes keep their PostgreSQL connection between tasks (DB_CONN_MAX_AGE stays 0 for the ASGI
    server, as Django advises). A new backend per task, its catalog caches rebuilt, cost PostgreSQL more than the
    ingest task itself. Celery's Django fixup closes every connection after every task unless CELERY_DB_REUSE_MAX
    is set (settings); `_close_old_database_connections` then closes only broken and expired ones."""
    from django.db import connections

    for alias in connections:
        settings_dict = connections[alias].settings_dict
        if "pool" not in settings_dict["OPTIONS"]:  # a pool (DB_POOL=1) already keeps connections
            settings_dict["CONN_MAX_AGE"] = int(os.environ.get("WORKER_DB_CONN_MAX_AGE", "300"))


@task_postrun.connect
def _close_old_database_connections(sender=None, **_kwargs) -> None:
    """After each task, as Django does after each request: close a connection that broke or outlived its max age."""
    if sender is None or getattr(sender.request, "is_eager", False):  # eager (tests): the caller's connection
        return
    from django.db import close_old_connections

    close_old_connections()
