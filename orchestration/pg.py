"""Running the queue's statements on PostgreSQL through Django's own connection: one at a time, or
several in one round trip (psycopg's pipeline mode). Server-side binding, so psycopg prepares
them, unless the pooler in front cannot keep prepared statements (ENGINE_PREPARE_STATEMENTS=0).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg.pq import ExecStatus

from orchestration.conf import engine_settings

TUPLES_OK = ExecStatus.TUPLES_OK


def execute(sql: str, params: dict[str, Any]) -> list[tuple]:
    """Run one of the queue's statements on Django's connection and return its rows.

    Through a server-binding psycopg cursor, so psycopg prepares it on the connection at its
    first use (Django's own cursors bind client-side and never prepare): parsing and planning
    these CTEs cost more than running them. Protocol-level prepared statements work through
    Neon's pooler (and PgBouncer >= 1.21 with `max_prepared_statements`); for a pooler without
    them, the PREPARE setting (ENGINE_PREPARE_STATEMENTS=0) turns them off.
    Django's checks, error wrapping and query log apply as with `connection.cursor()`.
    """
    db = connections[DEFAULT_DB_ALIAS]
    raw = _raw_connection(db)
    started = time.monotonic()
    with db.wrap_database_errors, psycopg.Cursor(raw) as cur:
        cur.execute(sql, params, prepare=_prepare_statements())
        rows = cur.fetchall() if cur.pgresult is not None and cur.pgresult.status == TUPLES_OK else []
    if db.queries_logged:
        db.queries_log.append({"sql": f"{sql} -- {params!r}", "time": f"{time.monotonic() - started:.3f}"})
    return rows


def execute_pipelined(statements: list[tuple[str, dict[str, Any]]]) -> list[list[tuple]]:
    """Run several statements in one round trip (psycopg's pipeline mode, with the BEGIN of
    the caller's transaction if it has not started yet); returns each one's rows. The server
    runs them in order, each with its own snapshot, as if sent one by one."""
    db = connections[DEFAULT_DB_ALIAS]
    raw = _raw_connection(db)
    prepare = _prepare_statements()
    started = time.monotonic()
    cursors = []
    with db.wrap_database_errors:
        with raw.pipeline():
            for sql, params in statements:
                cur = psycopg.Cursor(raw)
                cur.execute(sql, params, prepare=prepare)
                cursors.append(cur)
        results = [cur.fetchall() if cur.description is not None else [] for cur in cursors]
        for cur in cursors:
            cur.close()
    if db.queries_logged:
        elapsed = f"{time.monotonic() - started:.3f}"
        for sql, params in statements:
            db.queries_log.append({"sql": f"{sql} -- {params!r} (pipelined)", "time": elapsed})
    return results


def _raw_connection(db: Any) -> Any:
    """Django's psycopg connection, checked as `connection.cursor()` checks it."""
    db.validate_thread_sharing()
    db.validate_no_broken_transaction()
    db.close_if_health_check_failed()
    db.ensure_connection()
    raw = db.connection
    if raw.prepare_threshold is None and _prepare_statements():
        # Django turns psycopg's preparation off on its connections; with this threshold psycopg
        # prepares only what is executed with prepare=True (ours; Django's cursors never are).
        raw.prepare_threshold = _PREPARE_ONLY_WHEN_ASKED
    return raw


_PREPARE_ONLY_WHEN_ASKED = 2**31 - 1


def _prepare_statements() -> bool:
    return engine_settings.PREPARE
