"""How an idle worker hears that work is ready: LISTEN/NOTIFY on Postgres.

Every commit that makes work ready sends a NOTIFY on `queue.NOTIFY_CHANNEL`. A worker with
nothing due blocks in `wait()` until another session's NOTIFY arrives (its own are skipped:
its loop claims that work itself), the timeout ends, or the connection breaks.

Two ways to listen, picked by `open_listener()`:

- `SharedListener`, when the worker's own database connection is direct (no
  `DIRECT_DATABASE_URL` apart from `DATABASE_URL`: a VM, a laptop, a worker beside its
  Postgres). It LISTENs on the connection the worker claims with, so a NOTIFY wakes the very
  server process that then runs the claim: one process fewer on the wake-up path (measured
  on 2 cores: about 0.5 ms of the 2 ms from enqueue to done, see benchmarks/README.md).
- `DedicatedListener`, when the worker's connection goes through a pooler (Neon's `-pooler`
  endpoint is PgBouncer in transaction mode, where LISTEN does not survive): its own
  autocommit connection on `DIRECT_DATABASE_URL`.

A notification that arrives while the shared connection runs another statement is not lost:
psycopg keeps it and `notifies()` yields it first. After Django replaces its connection (a
database error, a restart), the new one listens again before the worker next waits; what was
committed in between is found by the claim the worker runs before it waits.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from django import db
from django.conf import settings

from orchestration import queue

logger = logging.getLogger("orchestration.worker")


class ListenerLost(Exception):
    """The listening connection broke; the worker polls until it can listen again."""


class SharedListener:
    """LISTEN on the worker's own Django connection (this thread's `db.connection`)."""

    def __init__(self) -> None:
        self._conn: Any = None  # the psycopg connection that holds our LISTEN

    def subscribe(self) -> bool:
        """Listen on the current connection; True when that took a new LISTEN (the connection
        is new since the last one): work committed before it sent its NOTIFY to nobody, so
        the caller claims before it waits."""
        db.connection.ensure_connection()
        raw = db.connection.connection
        if raw is self._conn and not raw.closed:
            return False
        with db.connection.wrap_database_errors:
            raw.execute(f"LISTEN {queue.NOTIFY_CHANNEL}")
        self._conn = raw
        return True

    def wait(self, timeout: float) -> bool:
        """True when another session's NOTIFY arrives within `timeout` seconds."""
        conn = self._conn
        try:
            own = conn.info.backend_pid
            return any(note.pid != own for note in conn.notifies(timeout=timeout))
        except psycopg.Error:
            # The worker's own connection broke: Django replaces it at the next claim, and the
            # next subscribe() listens on the new one. Wake now rather than sleep on a dead socket.
            db.connection.close()
            self._conn = None
            return True

    def close(self) -> None:
        self._conn = None  # the connection is Django's: closed with the others


class DedicatedListener:
    """LISTEN on a connection of its own (over the direct URL, when the worker's own goes
    through a pooler)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        # The server process of the worker's Django connection, whose NOTIFYs are the worker's own.
        self._own_pid: int | None = None

    @classmethod
    def connect(cls, url: str) -> DedicatedListener:
        conn = psycopg.connect(_conninfo(url), autocommit=True, connect_timeout=5)
        conn.execute(f"LISTEN {queue.NOTIFY_CHANNEL}")
        return cls(conn)

    def subscribe(self) -> bool:
        return False  # listening since connect(); a broken connection raises ListenerLost in wait()

    def wait(self, timeout: float) -> bool:
        own = _backend_pid(db.connection)
        try:
            return any(note.pid != own for note in self._conn.notifies(timeout=timeout))
        except psycopg.Error as exc:
            raise ListenerLost(str(exc)) from exc

    def close(self) -> None:
        self._conn.close()


Listener = SharedListener | DedicatedListener


def open_listener(*, subscribe: bool = True) -> Listener | None:
    """The listener this worker should use, or None (SQLite; LISTEN unavailable: poll).

    `subscribe=False` (after the database was lost): a shared listener LISTENs before the
    worker next waits, on whatever connection Django has by then, instead of now."""
    if db.connection.vendor != "postgresql":
        return None
    try:
        if settings.DIRECT_DATABASE_URL == settings.DATABASE_URL:
            listener: Listener = SharedListener()
            if subscribe:
                listener.subscribe()
            return listener
        return DedicatedListener.connect(settings.DIRECT_DATABASE_URL)
    except (psycopg.Error, db.Error) as exc:
        logger.warning("LISTEN unavailable; polling", extra={"action": "listen_unavailable", "error": str(exc)})
        return None


def _backend_pid(connection: Any) -> int | None:
    """The server process of Django's connection in this thread (None: not connected)."""
    raw = connection.connection
    return raw.info.backend_pid if raw is not None and not raw.closed else None


def _conninfo(url: str) -> str:
    # dj-database-url accepts scheme variants that libpq does not.
    for prefix in ("postgresql+psycopg://", "pgsql://", "postgis://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url
