"""Helpers shared by every system's module (standard library and psycopg only: they run in
both virtualenvs): databases, worker processes, peak RSS, bounded waits."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
LOG_DIR = BENCH_DIR / "results" / "logs"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def db_url(name: str) -> str:
    """DATABASE_URL's server with database `name` (the benchmarks never touch any other database)."""
    parts = urlsplit(server_url())
    if parts.hostname not in ("127.0.0.1", "localhost", "::1", None, ""):
        raise SystemExit(f"benchmarks run against a local PostgreSQL only, not {parts.hostname!r}")
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


def libpq_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql+psycopg://", "pgsql://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def connect(name: str, *, autocommit: bool = True) -> Any:
    import psycopg

    return psycopg.connect(libpq_url(db_url(name)), autocommit=autocommit, connect_timeout=10)


def reset_database(name: str) -> None:
    """Drop and recreate a dedicated benchmark database."""
    if not name.startswith("bench_"):
        raise ValueError(f"refusing to drop {name!r}: benchmark databases are named bench_*")
    with connect("postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def postgres_version() -> str:
    with connect("postgres") as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


# --- Processes -------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(pid: int) -> list[int]:
    children = _children_map()
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def peak_rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Workers:
    """Worker processes started for one measurement, in their own process group, with a
    sampler of each process's peak RSS (VmHWM) until they are stopped."""

    def __init__(self, label: str, commands: list[list[str]], *, env: dict[str, str], cwd: Path = ROOT) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.label = label
        self.procs: list[subprocess.Popen] = []
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self.log_paths = []
        full_env = {**os.environ, **env}
        pyspy = os.environ.get("BENCH_PYSPY")  # profiling: path to py-spy; collapsed stacks in results/logs
        for index, command in enumerate(commands):
            log_path = LOG_DIR / f"{label}-{index}.log"
            if pyspy:
                out = LOG_DIR / f"{label}-{index}.pyspy.txt"
                command = [
                    pyspy,
                    "record",
                    *(["--idle"] if os.environ.get("BENCH_PYSPY_IDLE") else []),  # waits too: where wall time goes
                    "--format",
                    "raw",
                    "--subprocesses",
                    "--rate",
                    "500",
                    "-o",
                    str(out),
                    "--",
                    *command,
                ]
            self.log_paths.append(log_path)
            log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
            self.procs.append(
                subprocess.Popen(
                    command, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        self.started = time.time()
        self._sampler = threading.Thread(target=self._sample_loop, daemon=True)
        self._sampler.start()

    def sample(self) -> None:
        for proc in self.procs:
            for pid in process_tree(proc.pid):
                kb = peak_rss_kb(pid)
                if kb is not None:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), kb)

    def _sample_loop(self) -> None:
        while not self._stop.wait(0.25):
            self.sample()

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def check_alive(self) -> None:
        for p, path in zip(self.procs, self.log_paths, strict=True):
            if p.poll() is not None:
                tail = path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.label}: worker exited with {p.returncode}; log tail:\n{tail}")

    def stop(self, timeout: float = 15.0) -> dict[str, Any]:
        """SIGTERM the process groups, SIGKILL what is left after `timeout`; returns the RSS figures."""
        self.sample()
        self._stop.set()
        for p in self.procs:
            if p.poll() is None:
                # py-spy writes its profile on SIGINT (every worker here stops on either).
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGINT if os.environ.get("BENCH_PYSPY") else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        return self.rss()

    def rss(self) -> dict[str, Any]:
        values = sorted(self.peaks.values())
        return {
            "peak_rss_mb_max_process": round(values[-1] / 1024, 1) if values else None,
            "peak_rss_mb_sum": round(sum(values) / 1024, 1) if values else None,
            "processes": len(values),
        }

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, interval: float, what: str, check: Callable[[], None] | None = None
) -> Any:
    """Poll `predicate` until it returns something truthy; raise TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class VerificationError(AssertionError):
    """Lost or duplicated work: the figure of this run is void."""


def verify(condition: bool, message: str) -> None:
    if not condition:
        raise VerificationError(message)


# --- A system module's command line -----------------------------------------------------


class Recorder:
    """Collects the raw per-run values of one system; written as JSON for the orchestrator."""

    def __init__(self, system: str) -> None:
        self.system = system
        self.metrics: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []
        self.errors: dict[str, str] = {}
        self.settings: dict[str, Any] = {}

    def add(self, metric: str, value: float | None, **extra: Any) -> None:
        entry = self.metrics.setdefault(metric, {"runs": [], "extra": []})
        entry["runs"].append(value)
        if extra:
            entry["extra"].append(extra)
        print(
            f"  [{self.system}] {metric}: {value if value is None else round(value, 3)} {extra or ''}",
            file=sys.stderr,
            flush=True,
        )

    def error(self, figure: str, exc: BaseException) -> None:
        self.errors[figure] = f"{type(exc).__name__}: {exc}"
        print(f"  [{self.system}] {figure} FAILED: {exc}", file=sys.stderr, flush=True)

    def dump(self, path: str) -> None:
        Path(path).write_text(
            json.dumps(
                {
                    "system": self.system,
                    "metrics": self.metrics,
                    "errors": self.errors,
                    "notes": self.notes,
                    "settings": self.settings,
                },
                indent=1,
                default=str,
            )
        )


def parse_args(argv: list[str] | None = None) -> Any:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated figures")
    parser.add_argument("--db", required=True)
    return parser.parse_args(argv)


FIGURES = ("enqueue", "drain", "latency", "chain", "order", "health", "cold_start", "vercel_cold_start")


def sizes(quick: bool) -> dict[str, int]:
    """How much work each figure does (the issue's sizes; --quick for a smoke run)."""
    if quick:
        return {
            "enqueue": 300,
            "drain": 300,
            "latency": 20,
            "chain": 5,
            "orders": 10,
            "order_window": 5,
            "cold": 2,
            "health_seconds": 2,
        }
    return {
        "enqueue": 5000,
        "drain": 5000,
        "latency": 200,
        "chain": 30,
        "orders": 100,
        "order_window": 50,
        "cold": 10,
        "health_seconds": 10,
    }


def run_figures(recorder: Recorder, args: Any, figures: dict[str, Callable[[], None]]) -> None:
    # SIGTERM from the orchestrator (its time limit) unwinds through the `with Workers` blocks,
    # so no worker outlives the harness; what was measured so far is already on disk.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wanted = [f for f in args.only.split(",") if f] or list(figures)
    for name, func in figures.items():
        if name not in wanted:
            continue
        print(f"[{recorder.system}] {name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            func()
        except Exception as exc:  # one figure's failure must not void the others
            recorder.error(name, exc)
        print(f"[{recorder.system}] {name} done in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
        recorder.dump(args.out)
    recorder.dump(args.out)


def ts(value: Any) -> float:
    """A database timestamp (aware datetime) as Unix seconds."""
    return value.timestamp()


IDLE_GAP_SECONDS = (0.005, 0.055)


def latency_loop(
    count: int, submit: Callable[[], Any], finished_at: Callable[[Any], float | None], *, poll: float = 0.002
) -> tuple[list[float], list[float]]:
    """Submit one task at a time to an idle worker; returns (ms to the system's own finished
    timestamp, ms until the harness saw it finished) for each.

    Before each submission the worker is left idle for a random 5-55 ms (same seeded sequence
    for every system): a polling worker is then caught at a random point of its interval instead
    of phase-locked to the harness, and a LISTENing one is really back to waiting."""
    import random

    rng = random.Random(count)
    stamped, seen = [], []
    for _ in range(count):
        time.sleep(rng.uniform(*IDLE_GAP_SECONDS))
        t0 = time.time()
        handle = submit()
        done = wait_until(lambda h=handle: finished_at(h), timeout=10, interval=poll, what="a task to finish")
        t1 = time.time()
        stamped.append((done - t0) * 1000)
        seen.append((t1 - t0) * 1000)
    return stamped, seen
