"""`manage.py run_worker`: long-running workers for hosting outside Vercel."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from orchestration.cli import positive_float, positive_int
from orchestration.conf import engine_settings
from orchestration.worker import WorkerOptions, run_processes


class Command(BaseCommand):
    help = "Run worker processes that claim and run tasks until SIGTERM (woken by LISTEN/NOTIFY on Postgres)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--processes", type=positive_int, default=1, help="worker processes (default 1)")
        parser.add_argument(
            "--poll-interval", type=positive_float, default=None, help="seconds between polls when idle"
        )
        parser.add_argument("--no-listen", action="store_true", help="poll only; do not LISTEN for NOTIFY")
        parser.add_argument(
            "--max-tasks", type=positive_int, default=None, help="each process exits after this many tasks"
        )
        parser.add_argument(
            "--drain", action="store_true", help="exit once nothing is due or running (batch jobs, tests)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        poll = options["poll_interval"] or engine_settings.POLL_INTERVAL_SECONDS
        worker_options = WorkerOptions(
            poll_interval=poll,
            listen=not options["no_listen"],
            max_tasks=options["max_tasks"],
            idle_exit=options["drain"],
        )
        self.stdout.write(f"run_worker: {options['processes']} process(es); SIGTERM stops them gracefully")
        run_processes(options["processes"], worker_options)
