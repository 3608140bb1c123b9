"""`manage.py rollup_metrics`: roll up the last 5-minute window, prune, check alerts (cron)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from metrics.rollups import rollup


class Command(BaseCommand):
    help = "Roll up the last complete 5-minute window (safe to run twice), prune old attempts, check alerts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the window's figures as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        row = rollup()
        if options["json"]:
            figures = {
                "window_start": row.window_start.isoformat(),
                "attempts": row.attempts,
                "error_rate": row.error_rate,
                "queue_depth": row.queue_depth,
                "oldest_waiting_seconds": row.oldest_waiting_seconds,
                "orders_late": row.orders_late,
                "pruned_agent_runs": row.pruned_agent_runs,
            }
            self.stdout.write(json.dumps(figures))
            return
        self.stdout.write(
            f"rollup {row.window_start:%Y-%m-%d %H:%M}: {row.attempts} attempts, "
            f"error rate {row.error_rate:.1%}, queue {row.queue_depth} "
            f"(oldest {row.oldest_waiting_seconds:.0f} s), {row.orders_late} late, "
            f"{row.pruned_agent_runs} old attempts pruned"
        )
