"""Procrastinate 3.10 through its Django contrib: `defer`, `batch_defer`, and
`manage.py procrastinate worker` (LISTEN/NOTIFY wake-up, defaults otherwise).
Runs in benchmarks/.venv-peers."""

from __future__ import annotations

import sys
from typing import Any

from benchmarks import common, peer_base


class Procrastinate(peer_base.Peer):
    name = "procrastinate"
    has_bulk = True

    def setup(self, db: str) -> None:
        self.setup_django(db, "benchmarks.peers.procrastinate_settings")
        from benchmarks.peers import procrastinate_tasks

        self.tasks = procrastinate_tasks
        self.settings = {
            "worker": "manage.py procrastinate worker (concurrency 1, LISTEN/NOTIFY)",
            "task": "async def noop()",
        }

    def sql(self, query: str, params: Any = None) -> list[tuple]:
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def truncate(self) -> None:
        self.sql("TRUNCATE procrastinate_jobs, procrastinate_events RESTART IDENTITY CASCADE")

    def enqueue_one(self) -> Any:
        return self.tasks.noop.defer()

    def enqueue_bulk(self, n: int) -> None:
        self.tasks.noop.batch_defer(*({} for _ in range(n)))

    def queued(self) -> int:
        return self.sql("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")[0][0]

    def worker_commands(self, processes: int) -> list[list[str]]:
        return [[sys.executable, "-m", "django", "procrastinate", "worker"] for _ in range(processes)]

    def worker_env(self) -> dict[str, str]:
        return self.env

    def finished_count(self) -> int:
        return self.sql("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'")[0][0]

    def span(self, n: int) -> tuple[float, float, int]:
        first, last = self.sql(
            "SELECT min(at) FILTER (WHERE type = 'started'), max(at) FILTER (WHERE type = 'succeeded')"
            " FROM procrastinate_events"
        )[0]
        return first.timestamp(), last.timestamp(), n

    def verify_once(self, n: int) -> None:
        jobs, ok = self.sql("SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') FROM procrastinate_jobs")[0]
        started, distinct = self.sql(
            "SELECT count(*), count(DISTINCT job_id) FROM procrastinate_events WHERE type = 'started'"
        )[0]
        common.verify(jobs == ok == n, f"jobs: {jobs} total, {ok} succeeded, want {n}")
        common.verify(started == distinct == n, f"{started} starts for {distinct} jobs, want {n}")

    def finished_at(self, job_id: Any) -> float | None:
        rows = self.sql("SELECT at FROM procrastinate_events WHERE job_id = %s AND type = 'succeeded'", [job_id])
        return rows[0][0].timestamp() if rows else None

    def start_chain(self, chain: int) -> Any:
        self.tasks.chain_step.defer(chain=chain, step=0)
        return chain

    def chain_finished_at(self, chain: int) -> float | None:
        rows = self.sql(
            "SELECT e.at FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id"
            " WHERE j.task_name = 'chain_step' AND (j.args->>'chain')::int = %s"
            " AND (j.args->>'step')::int = %s AND e.type = 'succeeded'",
            [chain, self.tasks.CHAIN_STEPS - 1],
        )
        return rows[0][0].timestamp() if rows else None

    def verify_chains(self, chains: int) -> None:
        self.verify_once(chains * self.tasks.CHAIN_STEPS)


if __name__ == "__main__":
    peer_base.main(Procrastinate())
