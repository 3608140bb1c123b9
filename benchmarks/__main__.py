"""`python -m benchmarks` (`make bench`): prepare the databases and the peers' virtualenv, run
every system's figures in one go on this machine, print one table, write results/latest.{json,md}.

    python -m benchmarks                 # the full run (3 runs per figure)
    python -m benchmarks --quick         # small sizes, 1 run: a smoke test of the harness
    python -m benchmarks --only drain    # figures and/or systems, comma-separated
    python -m benchmarks --runs 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import common, report

PEERS_VENV = common.BENCH_DIR / ".venv-peers"
PEERS_REQUIREMENTS = common.BENCH_DIR / "peers" / "requirements.txt"
RESULTS = common.BENCH_DIR / "results"

# system -> (module, database, uses the peers' virtualenv)
SYSTEMS = {
    "ours": ("benchmarks.ours", "bench_ours", False),
    "procrastinate": ("benchmarks.procrastinate_peer", "bench_procrastinate", True),
    "django-tasks-db": ("benchmarks.djtasks_peer", "bench_djtasks", True),
    "celery-redis": ("benchmarks.celery_peer", "bench_celery_unused", True),
}
ALIASES = {"djtasks": "django-tasks-db", "celery": "celery-redis"}
SYSTEM_TIMEOUT_SECONDS = 480

METHOD = [
    "enqueue: N no-op tasks from one process, one call per task (ours `enqueue`, `defer`, `enqueue()`, `delay()`), "
    "then in one bulk call where the API has one (ours `enqueue_many`, Procrastinate `batch_defer`).",
    "drain: N tasks queued first, then K worker processes started; N / (last finish - first start) from the "
    "system's own timestamps, so process start-up is excluded (Celery: first to last finish).",
    "latency: one task at a time to an idle worker (a random 5-55 ms idle gap before each), from just before the "
    "enqueue call to the finish timestamp the system writes (same clock); the JSON also has the time the harness "
    "saw it finished (polling every 2 ms).",
    "chain: 5 steps, each started when the previous finished (ours: a 5-step workflow; peers: each task enqueues "
    "the next; Celery: `chain`), from the first enqueue to the last step's finish.",
    "order: the order workflow's DAG (6 steps, critical path 5) with no-op agents, 2 worker processes, 100 orders "
    "kept 50 in flight, paid_at -> delivered_at; engine time per step = wall time x worker processes / steps run.",
    "health: gunicorn serving config.wsgi, wrk from a second process, 50 connections for 10 s; as deployed"
    " (one database probe answers a process's checks for 1 s), with a probe on every request, and a bare"
    " WSGI app on the same server (the floor).",
    "cold start: a new Python process timing `import config.wsgi` to the first 200 of GET /api/health "
    "through the WSGI callable (no network).",
    "Vercel cold start: the built api/index function called through Vercel's handler in a fresh Python 3.12 "
    "process with its bundled files only, from spawn to the first 200 of GET /api/health (needs .ci/vercel-build.sh).",
    "every run checks in the system's own records that every task ran exactly once; a run that fails the "
    "check has no figure.",
]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_peers_venv() -> Path:
    python = PEERS_VENV / "bin" / "python"
    digest = hashlib.sha256(PEERS_REQUIREMENTS.read_bytes()).hexdigest()[:12]
    stamp = PEERS_VENV / f".installed-{digest}"
    if stamp.exists() and python.exists():
        return python
    log(f"installing the peers into {PEERS_VENV.relative_to(common.ROOT)} (pinned: {PEERS_REQUIREMENTS.name})")
    if not python.exists():
        base = shutil.which("python3") or sys.executable
        subprocess.run([base, "-m", "venv", str(PEERS_VENV)], check=True, timeout=300)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(PEERS_REQUIREMENTS)], check=True, timeout=900)
    for old in PEERS_VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return python


def machine() -> dict[str, str | int | float]:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    info: dict[str, str | int | float] = {
        "nproc": os.cpu_count() or 0,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "postgresql": common.postgres_version(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
    try:
        out = subprocess.run(["redis-cli", "INFO", "server"], capture_output=True, text=True, timeout=5).stdout
        info["redis"] = next(x.split(":", 1)[1].strip() for x in out.splitlines() if x.startswith("redis_version"))
    except (OSError, StopIteration, subprocess.SubprocessError):
        pass
    return info


def versions(peers_python: Path | None) -> dict[str, str]:
    from importlib.metadata import version

    found = {
        "ours": _git_revision(),
        "Django": version("django"),
        "psycopg": version("psycopg"),
        "gunicorn": version("gunicorn"),
    }
    if peers_python is not None:
        out = subprocess.run(
            [str(peers_python), "-m", "pip", "freeze"], capture_output=True, text=True, timeout=60
        ).stdout
        for line in out.splitlines():
            name, _, ver = line.partition("==")
            if name.lower() in {"procrastinate", "django-tasks", "django-tasks-db", "celery", "kombu", "redis"}:
                found[name] = ver
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=5)
        found["wrk"] = (out.stdout + out.stderr).split()[1] if (out.stdout + out.stderr).split()[1:] else "?"
    return found


def _git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=common.ROOT, capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=common.ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return rev.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def run_system(system: str, python: Path, args: argparse.Namespace, figures: list[str]) -> dict:
    module, database, _ = SYSTEMS[system]
    if database != "bench_celery_unused":
        common.reset_database(database)
    out = RESULTS / "logs" / f"{system}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    command = [str(python), "-m", module, "--db", database, "--out", str(out), "--runs", str(args.runs)]
    if args.quick:
        command.append("--quick")
    if figures:
        command += ["--only", ",".join(figures)]
    env = {**os.environ, "PYTHONPATH": str(common.ROOT)}
    log(f"{system}: {' '.join(command[1:])}")
    child = subprocess.Popen(command, cwd=common.ROOT, env=env)
    try:
        code = child.wait(timeout=SYSTEM_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        log(f"{system}: over its {SYSTEM_TIMEOUT_SECONDS} s; stopping it (its workers stop with it)")
        child.terminate()
        try:
            code = child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait(timeout=10)
    if code != 0:
        log(f"{system}: exited with {code}")
    if not out.exists():
        return {"system": system, "metrics": {}, "errors": {"all": f"exited with {code} before any figure"}}
    result = json.loads(out.read_text())
    if code != 0:
        result.setdefault("errors", {})["time limit"] = f"stopped after {SYSTEM_TIMEOUT_SECONDS} s (exit {code})"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and 1 run: check the harness works")
    parser.add_argument(
        "--only", default="", help=f"comma-separated figures {common.FIGURES} and/or systems {list(SYSTEMS)}"
    )
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 3; 1 with --quick)")
    parser.add_argument("--out", default=str(RESULTS), help="where latest.json and latest.md go")
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    wanted = [ALIASES.get(w, w) for w in args.only.split(",") if w]
    systems = [s for s in SYSTEMS if s in wanted] or list(SYSTEMS)
    figures = [f for f in wanted if f in common.FIGURES]
    unknown = [w for w in wanted if w not in SYSTEMS and w not in common.FIGURES]
    if unknown:
        parser.error(f"unknown figure or system {unknown}")
    if figures and not set(figures) & {"enqueue", "drain", "latency", "chain"}:
        systems = [s for s in systems if s == "ours"]  # the other figures are ours alone

    started = time.monotonic()
    load_start = os.getloadavg()[0]
    peers_python = ensure_peers_venv() if any(SYSTEMS[s][2] for s in systems) else None
    results = {}
    for system in systems:
        python = peers_python if SYSTEMS[system][2] else Path(sys.executable)
        results[system] = run_system(system, python, args, figures)
    aggregate = report.build(results, systems)
    meta = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
        "runs": args.runs,
        "quick": args.quick,
        "machine": machine(),
        "versions": versions(peers_python),
        "load_start": round(load_start, 2),
        "load_end": round(os.getloadavg()[0], 2),
        "load_note": os.environ.get("BENCH_LOAD_NOTE", ""),
        "duration_seconds": round(time.monotonic() - started, 1),
        "method": METHOD,
    }
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latest.json").write_text(
        json.dumps({"meta": meta, "aggregate": aggregate, "raw": results}, indent=1, default=str)
    )
    (out_dir / "latest.md").write_text(report.markdown(aggregate, systems, meta, results))
    print(report.terminal(aggregate, systems))
    log(f"done in {meta['duration_seconds']} s: {out_dir / 'latest.md'}, {out_dir / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
