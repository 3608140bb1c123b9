"""Our engine's figures (runs in the project's own virtualenv).

`python -m benchmarks.ours --db bench_ours --out FILE [--quick] [--runs N] [--only a,b]`
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import common, http_load
from benchmarks.stats import percentile

CLAIM_BATCH = os.environ.get("BENCH_CLAIM_BATCH_SIZE", "50")
WORKER_ENV: dict[str, str] = {}


def configure(db: str) -> None:
    WORKER_ENV.update(
        {
            "DATABASE_URL": common.db_url(db),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "ENGINE_ACTION_MODULES": "benchmarks.actions",
            "ENGINE_CLAIM_BATCH_SIZE": CLAIM_BATCH,
            "LOG_LEVEL": "WARNING",
            "DEBUG": "0",
            "PYTHONPATH": str(common.ROOT),
        }
    )
    os.environ.update(WORKER_ENV)
    import django

    django.setup()


def migrate() -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=common.ROOT,
        env={**os.environ, **WORKER_ENV},
        check=True,
        timeout=300,
    )


def truncate() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE orchestration_task, orchestration_workflowrun, orchestration_agentrun, orders_project"
            " RESTART IDENTITY CASCADE"
        )


def workers(label: str, processes: int) -> common.Workers:
    command = [sys.executable, "manage.py", "run_worker", "--processes", str(processes)]
    return common.Workers(f"ours-{label}", [command], env=WORKER_ENV)


def verify_plain(n: int) -> None:
    """Every task ran once: n succeeded tasks, each on its first attempt, n closed attempts."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE attempt = 1)"
            " FROM orchestration_task"
        )
        total, ok, first = cur.fetchone()
        cur.execute(
            "SELECT count(*), count(DISTINCT task_id), count(*) FILTER (WHERE outcome = 'succeeded')"
            " FROM orchestration_agentrun"
        )
        attempts, distinct, succeeded = cur.fetchone()
    common.verify(
        total == n and ok == n and first == n, f"tasks: {total} total, {ok} succeeded, {first} first try (want {n})"
    )
    common.verify(
        attempts == n and distinct == n and succeeded == n,
        f"attempts: {attempts} rows for {distinct} tasks, {succeeded} succeeded (want {n})",
    )


def succeeded_count() -> int:
    from orchestration.models import Task

    return Task.objects.filter(status="succeeded").count()


# --- Figures ---------------------------------------------------------------------------


def fig_enqueue(rec: common.Recorder, args: Any) -> None:
    from orchestration import services
    from orchestration.models import Task

    n = common.sizes(args.quick)["enqueue"]
    for _ in range(args.runs):
        truncate()
        t = time.perf_counter()
        for _ in range(n):
            services.enqueue("engine.noop")
        one = n / (time.perf_counter() - t)
        common.verify(Task.objects.filter(status="queued").count() == n, "enqueue one by one lost tasks")
        truncate()
        payloads = [{} for _ in range(n)]
        t = time.perf_counter()
        ids = services.enqueue_many("engine.noop", payloads)
        bulk = n / (time.perf_counter() - t)
        common.verify(len(ids) == n and Task.objects.filter(status="queued").count() == n, "bulk enqueue lost tasks")
        rec.add("enqueue_one", one)
        rec.add("enqueue_bulk", bulk)
    truncate()


def fig_drain(rec: common.Recorder, args: Any) -> None:
    from django.db import connection

    from orchestration import services

    n = common.sizes(args.quick)["drain"]
    for k in (1, 2):
        for _ in range(args.runs):
            truncate()
            services.enqueue_many("engine.noop", [{} for _ in range(n)])
            with workers(f"drain{k}", k) as w:
                common.wait_until(
                    lambda: succeeded_count() >= n, timeout=300, interval=0.05, what=f"{n} tasks", check=w.check_alive
                )
                rss = w.stop()
            with connection.cursor() as cur:
                cur.execute("SELECT min(started_at), max(finished_at) FROM orchestration_task")
                first, last = cur.fetchone()
            verify_plain(n)
            rec.add(f"drain_{k}", n / (common.ts(last) - common.ts(first)), **rss)
            rec.add(f"rss_drain_{k}", rss["peak_rss_mb_max_process"])
    truncate()


def fig_latency(rec: common.Recorder, args: Any) -> None:
    from orchestration import services
    from orchestration.models import Task

    count = common.sizes(args.quick)["latency"]

    def finished(task_id: int) -> float | None:
        row = Task.objects.filter(id=task_id, status="succeeded").values_list("finished_at", flat=True).first()
        return common.ts(row) if row else None

    for _ in range(args.runs):
        truncate()
        with workers("latency", 1) as w:
            # Warm up (imports, connections, LISTEN), then let the worker go idle.
            common.latency_loop(5, lambda: services.enqueue("engine.noop").id, finished)
            time.sleep(0.5)
            stamped, seen = common.latency_loop(count, lambda: services.enqueue("engine.noop").id, finished)
            w.check_alive()
        verify_plain(count + 5)
        rec.add("latency_p50", percentile(stamped, 50), seen_p50=percentile(seen, 50))
        rec.add("latency_p95", percentile(stamped, 95), seen_p95=percentile(seen, 95))
    truncate()


def fig_chain(rec: common.Recorder, args: Any) -> None:
    from orchestration import services
    from orchestration.models import WorkflowRun

    count = common.sizes(args.quick)["chain"]

    def finished(run_id: Any) -> float | None:
        row = WorkflowRun.objects.filter(id=run_id, status="succeeded").values_list("finished_at", flat=True).first()
        return common.ts(row) if row else None

    def submit() -> Any:
        return services.run_start(workflow="bench.chain", input={}).id

    for _ in range(args.runs):
        truncate()
        with workers("chain", 1) as w:
            common.latency_loop(2, submit, finished)
            time.sleep(0.5)
            stamped, seen = common.latency_loop(count, submit, finished)
            w.check_alive()
        total = (count + 2) * 5
        from orchestration.models import Task

        common.verify(
            Task.objects.filter(status="succeeded", attempt=1).count() == total == Task.objects.count(),
            "chain: a step did not run exactly once",
        )
        rec.add("chain_p50", percentile(stamped, 50), seen_p50=percentile(seen, 50), p95=percentile(stamped, 95))
    truncate()


def _mark_paid(project_id: Any) -> None:
    """orders.services.project_mark_paid, with the zero-work copy of the order workflow."""
    from django.db import transaction

    from orchestration import clock
    from orchestration.services import run_start
    from orders.models import Project, ProjectStatus

    with transaction.atomic():
        project = Project.objects.select_for_update().get(id=project_id)
        project.status = ProjectStatus.PAID
        project.paid_at = clock.now()
        project.save(update_fields=["status", "paid_at", "updated_at"])
        run_start(
            workflow="bench.order",
            project=project,
            input={"project_id": str(project.id)},
            idempotency_key=f"order:{project.id}",
        )


def fig_order(rec: common.Recorder, args: Any) -> None:
    from benchmarks.actions import BENCH_ORDER_WORKFLOW, critical_path_length
    from orchestration.models import Task
    from orders.models import Project, ProjectStatus
    from orders.services import project_create

    size = common.sizes(args.quick)
    total, window, processes = size["orders"], size["order_window"], 2
    steps = len(BENCH_ORDER_WORKFLOW.steps)
    depth = critical_path_length(BENCH_ORDER_WORKFLOW)
    rec.settings["order"] = {"worker_processes": processes, "steps": steps, "critical_path": depth, "in_flight": window}
    for _ in range(args.runs):
        truncate()
        ids = [project_create(business_name=f"Bench {i}", contact_email=f"b{i}@bench.example").id for i in range(total)]
        with workers("order", processes) as w:
            started = 0
            while started < min(window, total):
                _mark_paid(ids[started])
                started += 1
            deadline = time.monotonic() + 300
            while True:
                delivered = Project.objects.filter(status=ProjectStatus.DELIVERED).count()
                if delivered >= total:
                    break
                while started < total and started - delivered < window:
                    _mark_paid(ids[started])
                    started += 1
                w.check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError("orders did not all deliver within 300 s")
                time.sleep(0.005)
            w.stop()
        rows = list(Project.objects.values_list("paid_at", "delivered_at"))
        latencies = [(common.ts(d) - common.ts(p)) * 1000 for p, d in rows]
        wall = max(common.ts(d) for _, d in rows) - min(common.ts(p) for p, _ in rows)
        common.verify(
            Task.objects.filter(status="succeeded", attempt=1).count() == total * steps == Task.objects.count(),
            "order: a step did not run exactly once",
        )
        rec.add("order_p50", percentile(latencies, 50))
        rec.add("order_p95", percentile(latencies, 95))
        # Zero-work agents: all of a step's time is the engine's. Worker-ms per step executed.
        rec.add("order_overhead_per_step", wall * 1000 * processes / (total * steps), wall_s=wall)
        rec.add("order_solo_per_step", percentile(latencies, 50) / depth)
    truncate()


# The README's production recommendation for a host like this one: one gthread worker per core,
# one thread each when the database is local (the work is CPU; more threads only queue on the GIL).
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", str(os.cpu_count() or 2)))
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "1"))
# Persistent database connections for the server (the product's default, CONN_MAX_AGE=0, opens
# one per request: about 300 req/s here instead of about 2,000).
HEALTH_CONN_MAX_AGE = os.environ.get("BENCH_HEALTH_CONN_MAX_AGE", "60")


# The servers the health figure loads, each under the same gunicorn settings and client:
# (metric prefix, WSGI app, extra environment).
HEALTH_SERVERS = [
    # The product as deployed: one database probe answers a process's checks for 1 s.
    ("health", "config.wsgi:application", {}),
    # The same with a database round trip on every request.
    ("health_each", "config.wsgi:application", {"HEALTH_DATABASE_CHECK_SECONDS": "0"}),
    # The floor: a WSGI app that only answers 200, under the same server and client.
    ("health_floor", "benchmarks.hello_wsgi:application", {}),
]


def fig_health(rec: common.Recorder, args: Any) -> None:
    seconds = common.sizes(args.quick)["health_seconds"]
    tool = shutil.which("wrk")
    rec.settings["health"] = {
        "server": f"gunicorn {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads (gthread)",
        "client": "wrk -t2 -c50" if tool else "python threads (50)",
        "seconds": seconds,
        "conn_max_age": HEALTH_CONN_MAX_AGE,
        "database_probe": "shared for 1 s per process (HEALTH_DATABASE_CHECK_SECONDS=1, the default); "
        "health_each: 0 (every request); health_floor: benchmarks/hello_wsgi.py",
    }
    for prefix, app, extra in HEALTH_SERVERS:
        port = http_load.free_port()
        url = f"http://127.0.0.1:{port}/api/health"
        command = [
            sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}",
            "--workers", str(GUNICORN_WORKERS), "--worker-class", "gthread", "--threads", str(GUNICORN_THREADS),
            "--log-level", "warning",
        ]  # fmt: skip
        env = {**WORKER_ENV, "CONN_MAX_AGE": HEALTH_CONN_MAX_AGE, **extra}
        with common.Workers(f"ours-gunicorn-{prefix}", [command], env=env) as server:
            status = common.wait_until(
                lambda url=url: http_load.get(url) or None,
                timeout=30,
                interval=0.1,
                what="gunicorn",
                check=server.check_alive,
            )
            if status != 200:
                raise RuntimeError(f"GET /api/health answered {status}: the endpoint is not there yet")
            for _ in range(args.runs):
                rps, p50, p99, errors = (
                    http_load.wrk(tool, url, seconds) if tool else http_load.python_load(url, seconds)
                )
                common.verify(errors == 0, f"{prefix}: {errors} failed requests")
                rec.add(f"{prefix}_rps", rps)
                rec.add(f"{prefix}_p50", p50)
                rec.add(f"{prefix}_p99", p99)
            rss = server.stop()
        if prefix == "health":
            rec.settings["health"]["server_rss"] = rss


COLD_START_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import config.wsgi
environ = {
    "REQUEST_METHOD": "GET", "PATH_INFO": "/api/health", "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": sys.stdin.buffer,
    "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": True,
    "wsgi.run_once": False, "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
}
status = []
body = b"".join(config.wsgi.application(environ, lambda s, h, e=None: status.append(s)))
t1 = time.perf_counter()
print(json.dumps({"status": status[0], "import_to_200_ms": (t1 - t0) * 1000}))
"""


def fig_cold_start(rec: common.Recorder, args: Any) -> None:
    count = common.sizes(args.quick)["cold"]
    imports, execs = [], []
    for _ in range(count):
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", COLD_START_SCRIPT],
            cwd=common.ROOT, env={**os.environ, **WORKER_ENV}, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        exec_ms = (time.perf_counter() - t) * 1000
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if not result["status"].startswith("200"):
            raise RuntimeError(f"GET /api/health answered {result['status']}: the endpoint is not there yet")
        imports.append(result["import_to_200_ms"])
        execs.append(exec_ms)
    rec.add("cold_start_p50", percentile(imports, 50), exec_to_200_p50=percentile(execs, 50), samples=len(imports))


def fig_vercel_cold_start(rec: common.Recorder, args: Any) -> None:
    """The function `vercel build` made for every other route (api/index), laid out as Vercel
    unpacks it and called through Vercel's handler in a fresh Python 3.12 process: from the
    process's spawn to the first answer of GET /api/health. Needs a build: VERCEL_BUILT_PROJECT
    (default /tmp/vercel-check-null, what `.ci/vercel-build.sh` leaves); skipped without one."""
    import tempfile

    from tests.support import built_functions

    project = Path(os.environ.get("VERCEL_BUILT_PROJECT", "/tmp/vercel-check-null"))
    functions = {fn.name: fn for fn in built_functions.load(project)} if project.is_dir() else {}
    if "api/index" not in functions:
        print(f"vercel_cold_start: no build in {project} (run .ci/vercel-build.sh): skipped", file=sys.stderr)
        return
    function = functions["api/index"]
    env = {
        "VERCEL": "1",
        "DJANGO_PRODUCTION": "1",
        "SECRET_KEY": "bench-" + "k3y-0f-fifty-plus-characters-with-variety-9876543210",
        "ALLOWED_HOSTS": "factory.example",
        "DATABASE_URL": common.db_url(args.db),  # the benchmark's database, as for `cold_start`
        "LOG_LEVEL": "WARNING",
    }
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        root = function.lay_out(Path(tmp) / "task")
        for _ in range(common.sizes(args.quick)["cold"]):
            (answer,) = built_functions.invoke(function, root, [built_functions.request("GET", "/api/health")], env)
            if answer.status != 200:
                raise RuntimeError(f"the built function answered {answer.status}: {answer.body[:500]}")
            samples.append(answer.since_spawn_ms)
    rec.add(
        "vercel_cold_start_p50",
        percentile(samples, 50),
        samples=len(samples),
        unzipped_mb=round(function.unzipped_bytes() / 1024 / 1024, 1),
        runtime=function.config["runtime"],
    )


def main() -> None:
    args = common.parse_args()
    rec = common.Recorder("ours")
    configure(args.db)
    migrate()
    rec.settings.update(
        {
            "claim_batch_size": int(CLAIM_BATCH),
            "wake_up": "LISTEN/NOTIFY",
            "worker": "manage.py run_worker --processes K",
            "concurrency_limits": os.environ.get("ENGINE_CONCURRENCY_LIMITS", "default (design-ia=8,ads-management=8)"),
        }
    )
    figures = {
        "enqueue": lambda: fig_enqueue(rec, args),
        "drain": lambda: fig_drain(rec, args),
        "latency": lambda: fig_latency(rec, args),
        "chain": lambda: fig_chain(rec, args),
        "order": lambda: fig_order(rec, args),
        "health": lambda: fig_health(rec, args),
        "cold_start": lambda: fig_cold_start(rec, args),
        "vercel_cold_start": lambda: fig_vercel_cold_start(rec, args),
    }
    common.run_figures(rec, args, figures)


if __name__ == "__main__":
    main()
