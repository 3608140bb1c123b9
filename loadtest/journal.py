"""The load test's claim journal: what each attempt's claim saw of its run, written by the database.

A trigger on the engine's attempt rows (orchestration_agentrun) records, for every attempt a
claim opens on a workflow run's task, the status and generation of that run as the claiming
transaction sees it, at the moment of the claim. Nothing in the engine writes it and no clock
of a worker stamps it, so neither a skewed host nor the engine's own bookkeeping can fool it:

- an attempt opened while its run had already failed for good (or been cancelled) is work
  for a dead run: `work_for_failed_runs`;
- a legitimate replay or retry sets the run back to running first, in its own committed
  transaction, so the claims after it see a running run and are not counted.

On PostgreSQL the trigger's read is a statement of the claiming transaction (read committed:
it sees every commit before it, and its own transaction's changes); on SQLite one writer at
a time makes it exact. The journal is the load test's own table, created for a run and
dropped after its verdict, in a database the guards already proved to be a scratch one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db import connection

from orchestration.models import RunStatus

TABLE = "loadtest_claim_journal"  # named literally in the statements below
ENDED = (RunStatus.FAILED, RunStatus.CANCELLED)

_PG_INSTALL = """
CREATE TABLE IF NOT EXISTS loadtest_claim_journal (
    agent_run_id bigint PRIMARY KEY,
    task_id bigint NOT NULL,
    run_id uuid NOT NULL,
    attempt integer NOT NULL,
    run_status text,
    run_generation integer,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE OR REPLACE FUNCTION loadtest_claim_journal_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO loadtest_claim_journal (agent_run_id, task_id, run_id, attempt, run_status, run_generation)
    SELECT NEW.id, NEW.task_id, NEW.run_id, NEW.attempt, w.status, w.generation
    FROM orchestration_workflowrun AS w WHERE w.id = NEW.run_id;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS loadtest_claim_journal_claims ON orchestration_agentrun;
CREATE TRIGGER loadtest_claim_journal_claims AFTER INSERT ON orchestration_agentrun
    FOR EACH ROW WHEN (NEW.outcome = 'running' AND NEW.run_id IS NOT NULL)
    EXECUTE FUNCTION loadtest_claim_journal_record();
TRUNCATE loadtest_claim_journal;
"""
_PG_UNINSTALL = """
DROP TRIGGER IF EXISTS loadtest_claim_journal_claims ON orchestration_agentrun;
DROP FUNCTION IF EXISTS loadtest_claim_journal_record();
DROP TABLE IF EXISTS loadtest_claim_journal;
"""
_SQLITE_INSTALL = [
    """CREATE TABLE IF NOT EXISTS loadtest_claim_journal (
        agent_run_id integer PRIMARY KEY, task_id integer NOT NULL, run_id char(32) NOT NULL,
        attempt integer NOT NULL, run_status text, run_generation integer,
        at text NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')))""",
    "DROP TRIGGER IF EXISTS loadtest_claim_journal_claims",
    """CREATE TRIGGER loadtest_claim_journal_claims AFTER INSERT ON orchestration_agentrun
        WHEN NEW.outcome = 'running' AND NEW.run_id IS NOT NULL
        BEGIN
            INSERT INTO loadtest_claim_journal (agent_run_id, task_id, run_id, attempt, run_status, run_generation)
            SELECT NEW.id, NEW.task_id, NEW.run_id, NEW.attempt, w.status, w.generation
            FROM orchestration_workflowrun AS w WHERE w.id = NEW.run_id;
        END""",
    "DELETE FROM loadtest_claim_journal",
]
_SQLITE_UNINSTALL = [
    "DROP TRIGGER IF EXISTS loadtest_claim_journal_claims",
    "DROP TABLE IF EXISTS loadtest_claim_journal",
]


def install() -> None:
    """Create the journal and its trigger (again: a run that crashed may have left them)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_INSTALL)
        else:
            for statement in _SQLITE_INSTALL:
                cursor.execute(statement)


def uninstall() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_UNINSTALL)
        else:
            for statement in _SQLITE_UNINSTALL:
                cursor.execute(statement)


def claims_for_ended_runs(run_ids: list[Any]) -> list[dict[str, Any]]:
    """The attempts opened on these runs' tasks while the run had already failed or been cancelled."""
    wanted = {str(r).replace("-", "") for r in run_ids}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT agent_run_id, task_id, run_id, attempt, run_status, run_generation FROM loadtest_claim_journal "
            "WHERE run_status IN (%s, %s) ORDER BY agent_run_id",
            list(ENDED),
        )
        names = [c[0] for c in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return [row for row in rows if str(row["run_id"]).replace("-", "") in wanted]


def claims_recorded() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM loadtest_claim_journal")
        return int(cursor.fetchone()[0])


def summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(str(r["run_status"]) for r in rows))
