"""The NOTIFY that wakes idle workers when work is queued on PostgreSQL (sent by the insert's own
statement), and the setting that turns it off: ENGINE_NOTIFY=0 sends none (a pooler that may not
pass it, a benchmark that polls)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from orchestration import queue, services
from tests.conftest import database_url_of_test_db, postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]

MARKER = "test_queue_pg_notify_marker"


def mark(n: int) -> None:
    """A notification of our own on another channel, from the engine's connection, after its
    commit: a listener hears the connection's notifications in commit order, so whatever the
    engine sent before the marker has arrived by the time the marker has (no waiting on silence)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_notify(%s, %s)", [MARKER, str(n)])


def heard_until(listener: psycopg.Connection, marks: int) -> list[str]:
    """The channels heard, in order, up to the `marks`-th marker."""
    heard: list[str] = []
    for note in listener.notifies(timeout=5):
        heard.append("mark" if note.channel == MARKER else note.channel)
        if heard.count("mark") == marks:
            break
    return heard


@pytest.mark.parametrize("notify", [True, False], ids=["notify-on", "notify-off"])
def test_queueing_work_wakes_the_listening_workers_once_each_time_and_only_with_notify_on(settings, notify) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "NOTIFY": notify}
    url = "postgresql://" + database_url_of_test_db().split("://", 1)[1]
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {queue.NOTIFY_CHANNEL}")
        listener.execute(f"LISTEN {MARKER}")
        services.enqueue("engine.noop")
        mark(1)
        services.enqueue_many("engine.noop", [{}, {}])
        mark(2)
        services.run_start(workflow="test-diamond")
        mark(3)
        queue.notify_ready()
        mark(4)
        heard = heard_until(listener, marks=4)
    woken = queue.NOTIFY_CHANNEL
    expected = [woken, "mark"] * 4 if notify else ["mark"] * 4
    assert heard == expected
