"""Celery 5.6 on Redis (the third peer): `delay()` (no bulk publish), `celery worker -c K`
(prefork, K child processes; Redis BLPOP wake-up), `chain()` for the chain.
Celery has no database record of finished work: each task records its run in Redis
(see peers/celery_app.py), which is what verification reads. Runs in benchmarks/.venv-peers."""

from __future__ import annotations

import os
import sys
from typing import Any

from benchmarks import common, peer_base


class CeleryRedis(peer_base.Peer):
    name = "celery-redis"
    has_bulk = False

    def setup(self, db: str) -> None:
        self.env = {"PYTHONPATH": str(common.ROOT)}
        from benchmarks.peers import celery_app

        self.app = celery_app
        self.redis = celery_app._redis
        self.redis.ping()
        self.settings = {
            "worker": "celery worker --pool prefork -c K --without-gossip --without-mingle --without-heartbeat",
            "broker": celery_app.REDIS_URL,
            "drain": "throughput counted from the first to the last task's finish (Celery records no start)",
        }

    def truncate(self) -> None:
        self.redis.flushdb()  # the benchmarks' own Redis database (BENCH_REDIS_URL, default db 13)

    def enqueue_one(self) -> Any:
        return self.app.noop.delay().id

    def queued(self) -> int:
        return self.redis.llen("bench")

    def worker_commands(self, processes: int) -> list[list[str]]:
        return [
            [
                sys.executable, "-m", "celery", "-A", "benchmarks.peers.celery_app", "worker", "--pool", "prefork",
                "-c", str(processes), "-Q", "bench", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "-l", "WARNING",
            ]
        ]  # fmt: skip

    def worker_env(self) -> dict[str, str]:
        return {**self.env, "BENCH_REDIS_URL": os.environ.get("BENCH_REDIS_URL", self.app.REDIS_URL)}

    def finished_count(self) -> int:
        return self.redis.hlen("bench:finished")

    def span(self, n: int) -> tuple[float, float, int]:
        times = [float(v) for v in self.redis.hvals("bench:finished")]
        return min(times), max(times), len(times) - 1

    def verify_once(self, n: int) -> None:
        counts = [int(v) for v in self.redis.hvals("bench:ran")]
        common.verify(
            len(counts) == n and all(c == 1 for c in counts),
            f"{len(counts)} tasks ran, {sum(counts)} runs, want {n} once each",
        )

    def finished_at(self, task_id: Any) -> float | None:
        value = self.redis.hget("bench:finished", task_id)
        return float(value) if value else None

    def start_chain(self, chain: int) -> Any:
        from celery import chain as celery_chain

        return celery_chain(*(self.app.noop.si() for _ in range(5))).apply_async().id

    def chain_finished_at(self, task_id: Any) -> float | None:
        return self.finished_at(task_id)

    def verify_chains(self, chains: int) -> None:
        self.verify_once(chains * 5)


if __name__ == "__main__":
    peer_base.main(CeleryRedis())
