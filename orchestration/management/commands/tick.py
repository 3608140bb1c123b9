"""`manage.py tick`: one pass of the engine within a time budget (cron outside Vercel)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from orchestration.budget import Budget
from orchestration.cli import positive_float, positive_int
from orchestration.execution import tick


class Command(BaseCommand):
    help = "Recover expired leases, repair stalled runs, then run due tasks until the budget is spent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--budget", type=positive_float, default=55.0, help="seconds this pass may take (default 55)"
        )
        parser.add_argument("--max-tasks", type=positive_int, default=None, help="stop after claiming this many tasks")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        report = tick(budget=Budget.seconds(options["budget"]), max_tasks=options["max_tasks"])
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
        else:
            self.stdout.write(f"tick: {report}")
