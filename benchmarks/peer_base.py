"""The figures every peer measures the same way (enqueue, drain, latency, chain): each peer
module supplies how to enqueue, start workers, read finish times and check exactly-once."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks import common
from benchmarks.stats import percentile


class Peer:
    name = "peer"
    has_bulk = False

    def setup(self, db: str) -> None: ...

    def setup_django(self, db: str, settings_module: str) -> None:
        """For a Django-based peer: point this process at its settings and database, set Django
        up, and migrate its tables (in a child process, as its own manage.py would)."""
        self.env = {
            "BENCH_DB_URL": common.db_url(db),
            "DJANGO_SETTINGS_MODULE": settings_module,
            "PYTHONPATH": str(common.ROOT),
        }
        os.environ.update(self.env)
        import django

        django.setup()
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
            cwd=common.ROOT, env={**os.environ, **self.env}, check=True, timeout=300,
        )  # fmt: skip

    def truncate(self) -> None: ...
    def enqueue_one(self) -> Any: ...
    def enqueue_bulk(self, n: int) -> None:
        # Called only when `has_bulk`: a peer without a bulk API gets no bulk figure (a dash).
        raise NotImplementedError(f"{self.name} has no bulk enqueue (has_bulk is False)")

    def queued(self) -> int: ...
    def worker_commands(self, processes: int) -> list[list[str]]: ...
    def worker_env(self) -> dict[str, str]: ...
    def finished_count(self) -> int: ...
    def span(self, n: int) -> tuple[float, float, int]:
        """(first start, last finish, tasks counted in between) in Unix seconds."""

    def verify_once(self, n: int) -> None: ...
    def finished_at(self, handle: Any) -> float | None: ...
    def start_chain(self, chain: int) -> Any: ...
    def chain_finished_at(self, handle: Any) -> float | None: ...
    def verify_chains(self, chains: int) -> None: ...


def workers(peer: Peer, label: str, processes: int) -> common.Workers:
    return common.Workers(f"{peer.name}-{label}", peer.worker_commands(processes), env=peer.worker_env())


def fig_enqueue(peer: Peer, rec: common.Recorder, args: Any) -> None:
    n = common.sizes(args.quick)["enqueue"]
    for _ in range(args.runs):
        peer.truncate()
        t = time.perf_counter()
        for _ in range(n):
            peer.enqueue_one()
        one = n / (time.perf_counter() - t)
        common.verify(peer.queued() == n, f"enqueue one by one: {peer.queued()} queued, want {n}")
        rec.add("enqueue_one", one)
        if peer.has_bulk:
            peer.truncate()
            t = time.perf_counter()
            peer.enqueue_bulk(n)
            bulk = n / (time.perf_counter() - t)
            common.verify(peer.queued() == n, f"bulk enqueue: {peer.queued()} queued, want {n}")
            rec.add("enqueue_bulk", bulk)
    peer.truncate()


def fig_drain(peer: Peer, rec: common.Recorder, args: Any) -> None:
    n = common.sizes(args.quick)["drain"]
    for k in (1, 2):
        for _ in range(args.runs):
            peer.truncate()
            if peer.has_bulk:
                peer.enqueue_bulk(n)
            else:
                for _ in range(n):
                    peer.enqueue_one()
            common.verify(peer.queued() == n, "drain: the queue was not filled")
            with workers(peer, f"drain{k}", k) as w:
                common.wait_until(
                    lambda: peer.finished_count() >= n,
                    timeout=600,
                    interval=0.05,
                    what=f"{n} tasks",
                    check=w.check_alive,
                )
                rss = w.stop()
            first, last, counted = peer.span(n)
            peer.verify_once(n)
            rec.add(f"drain_{k}", counted / (last - first), **rss)
            rec.add(f"rss_drain_{k}", rss["peak_rss_mb_max_process"])
    peer.truncate()


def fig_latency(peer: Peer, rec: common.Recorder, args: Any) -> None:
    count = common.sizes(args.quick)["latency"]
    for _ in range(args.runs):
        peer.truncate()
        with workers(peer, "latency", 1) as w:
            common.latency_loop(5, peer.enqueue_one, peer.finished_at)
            time.sleep(0.5)
            stamped, seen = common.latency_loop(count, peer.enqueue_one, peer.finished_at)
            w.check_alive()
        peer.verify_once(count + 5)
        rec.add("latency_p50", percentile(stamped, 50), seen_p50=percentile(seen, 50))
        rec.add("latency_p95", percentile(stamped, 95), seen_p95=percentile(seen, 95))
    peer.truncate()


def fig_chain(peer: Peer, rec: common.Recorder, args: Any) -> None:
    count = common.sizes(args.quick)["chain"]
    ids = itertools.count(1)
    for _ in range(args.runs):
        peer.truncate()
        with workers(peer, "chain", 1) as w:
            submit = lambda: peer.start_chain(next(ids))  # noqa: E731
            common.latency_loop(2, submit, peer.chain_finished_at)
            time.sleep(0.5)
            stamped, seen = common.latency_loop(count, submit, peer.chain_finished_at)
            w.check_alive()
        peer.verify_chains(count + 2)
        rec.add("chain_p50", percentile(stamped, 50), seen_p50=percentile(seen, 50), p95=percentile(stamped, 95))
    peer.truncate()


def main(peer: Peer) -> None:
    args = common.parse_args()
    rec = common.Recorder(peer.name)
    peer.setup(args.db)
    rec.settings.update(getattr(peer, "settings", {}))
    figures = {
        "enqueue": lambda: fig_enqueue(peer, rec, args),
        "drain": lambda: fig_drain(peer, rec, args),
        "latency": lambda: fig_latency(peer, rec, args),
        "chain": lambda: fig_chain(peer, rec, args),
    }
    common.run_figures(rec, args, figures)
