"""Django's Tasks framework (django-tasks 0.12 for Django 5.2) on django-tasks-db 0.13's
database backend: `task.enqueue()` (no bulk API) and `manage.py db_worker`, which polls
(no LISTEN): --interval BENCH_DJTASKS_INTERVAL (default 0.05 s; its own default is 1 s).
Runs in benchmarks/.venv-peers."""

from __future__ import annotations

import os
import sys
from typing import Any

from benchmarks import common, peer_base

INTERVAL = os.environ.get("BENCH_DJTASKS_INTERVAL", "0.05")


class DjangoTasksDB(peer_base.Peer):
    name = "django-tasks-db"
    has_bulk = False

    def setup(self, db: str) -> None:
        self.setup_django(db, "benchmarks.peers.djtasks_settings")
        from django_tasks_db.models import DBTaskResult

        from benchmarks.peers import djtasks_tasks

        self.tasks = djtasks_tasks
        self.model = DBTaskResult
        self.settings = {"worker": f"manage.py db_worker --interval {INTERVAL} (polling)", "bulk": "no bulk API"}

    def truncate(self) -> None:
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute(f"TRUNCATE {self.model._meta.db_table}")

    def enqueue_one(self) -> Any:
        return self.tasks.noop.enqueue().id

    def queued(self) -> int:
        return self.model.objects.filter(status="READY").count()

    def worker_commands(self, processes: int) -> list[list[str]]:
        return [
            [
                sys.executable,
                "-m",
                "django",
                "db_worker",
                "--interval",
                INTERVAL,
                "--no-startup-delay",
                "--no-reload",
                "-v",
                "0",
            ]
            for _ in range(processes)
        ]

    def worker_env(self) -> dict[str, str]:
        return self.env

    def finished_count(self) -> int:
        return self.model.objects.filter(status="SUCCESSFUL").count()

    def span(self, n: int) -> tuple[float, float, int]:
        from django.db.models import Max, Min

        agg = self.model.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
        return agg["first"].timestamp(), agg["last"].timestamp(), n

    def verify_once(self, n: int) -> None:
        rows = list(self.model.objects.values_list("status", "worker_ids"))
        ok = sum(1 for status, _ in rows if status == "SUCCESSFUL")
        once = sum(1 for _, workers in rows if len(workers) == 1)
        common.verify(
            len(rows) == ok == once == n, f"{len(rows)} results, {ok} successful, {once} claimed once, want {n}"
        )

    def finished_at(self, result_id: Any) -> float | None:
        row = self.model.objects.filter(id=result_id, status="SUCCESSFUL").values_list("finished_at", flat=True).first()
        return row.timestamp() if row else None

    def start_chain(self, chain: int) -> Any:
        self.tasks.chain_step.enqueue(chain=chain, step=0)
        return chain

    def chain_finished_at(self, chain: int) -> float | None:
        row = (
            self.model.objects.filter(
                status="SUCCESSFUL",
                args_kwargs__kwargs__chain=chain,
                args_kwargs__kwargs__step=self.tasks.CHAIN_STEPS - 1,
            )
            .values_list("finished_at", flat=True)
            .first()
        )
        return row.timestamp() if row else None

    def verify_chains(self, chains: int) -> None:
        self.verify_once(chains * self.tasks.CHAIN_STEPS)


if __name__ == "__main__":
    peer_base.main(DjangoTasksDB())
