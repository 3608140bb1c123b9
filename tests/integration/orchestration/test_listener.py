"""How an idle worker hears that work is ready (orchestration/listener.py): on its own
connection when that is direct, on a connection of its own over the direct URL when its
Django connection goes through a pooler; no notification lost, none of its own waking it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from django.test import override_settings

from orchestration import queue
from orchestration.listener import DedicatedListener, SharedListener, open_listener
from tests.conftest import database_url_of_test_db, postgres_only

pytestmark = pytest.mark.django_db(transaction=True)


def libpq_url() -> str:
    return "postgresql://" + database_url_of_test_db().split("://", 1)[1]


def notify_from_another_session() -> None:
    with psycopg.connect(libpq_url(), autocommit=True) as other:
        other.execute(f"NOTIFY {queue.NOTIFY_CHANNEL}")


@pytest.fixture
def shared() -> Iterator[SharedListener]:
    with override_settings(DATABASE_URL=libpq_url(), DIRECT_DATABASE_URL=libpq_url()):
        listener = open_listener()
    assert isinstance(listener, SharedListener)
    yield listener
    listener.close()
    connection.close()


def test_on_sqlite_there_is_nothing_to_listen_on_and_the_worker_polls() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: Postgres listens")
    assert open_listener() is None


@postgres_only
def test_a_worker_on_a_direct_connection_listens_on_the_connection_it_claims_with(shared: SharedListener) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_listening_channels()")
        assert [row[0] for row in cur.fetchall()] == [queue.NOTIFY_CHANNEL]
    assert not shared.subscribe(), "already listening on this connection: nothing new to claim"


@postgres_only
def test_a_worker_behind_a_pooler_listens_on_the_direct_url() -> None:
    with override_settings(DATABASE_URL="postgres://app@pooler.example:6432/app", DIRECT_DATABASE_URL=libpq_url()):
        listener = open_listener()
    try:
        assert isinstance(listener, DedicatedListener)
        notify_from_another_session()
        assert listener.wait(5)
    finally:
        listener.close()


@postgres_only
def test_the_shared_listener_sleeps_through_its_own_notify_and_wakes_for_another_sessions(
    shared: SharedListener,
) -> None:
    queue.notify_ready()  # this connection's own (autocommit: sent now)
    assert not shared.wait(0.3), "its own commit: its loop claims that work itself"
    notify_from_another_session()
    started = time.monotonic()
    assert shared.wait(5)
    assert time.monotonic() - started < 1


@postgres_only
def test_a_notify_that_arrives_while_the_connection_runs_a_claim_is_not_lost(shared: SharedListener) -> None:
    with connection.cursor() as cur:
        notify_from_another_session()
        cur.execute("SELECT pg_sleep(0.2)")  # the NOTIFY reaches the connection during this statement
    assert shared.wait(0.5)


@postgres_only
def test_after_django_replaces_its_connection_the_worker_listens_again_before_it_waits(
    shared: SharedListener,
) -> None:
    old_pid = connection.connection.info.backend_pid
    connection.close()  # what the worker does after a database error
    assert shared.subscribe(), "a new connection: claim before waiting (no NOTIFY reached it)"
    assert connection.connection.info.backend_pid != old_pid
    notify_from_another_session()
    assert shared.wait(5)


@postgres_only
def test_a_shared_connection_the_server_kills_wakes_the_worker_instead_of_hanging(shared: SharedListener) -> None:
    pid = connection.connection.info.backend_pid
    with psycopg.connect(libpq_url(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    started = time.monotonic()
    assert shared.wait(10)
    assert time.monotonic() - started < 5
    assert shared.subscribe(), "listening again on a new connection"
    assert connection.connection.info.backend_pid != pid
