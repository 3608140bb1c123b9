"""`manage.py rollup_metrics`: roll up the last 5-minute window and catch up any missed one
(the last 24 h), prune, check alerts (cron). `--since` recomputes older windows too."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from metrics.rollups import rollup_windows
from orchestration import clock

_RELATIVE = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str, *, now: datetime) -> datetime:
    """'90m', '6h', '2d' (that long before now) or an ISO 8601 moment with its time zone."""
    relative = _RELATIVE.match(value.strip())
    if relative:
        try:
            return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
        except OverflowError:
            raise CommandError(f"--since {value!r}: that reaches back before the year 1") from None
    moment = parse_datetime(value.strip())
    if moment is None:
        raise CommandError(f"--since {value!r}: give a duration (90m, 6h, 2d) or an ISO 8601 date-time")
    if moment.tzinfo is None:
        raise CommandError(f"--since {value!r}: give the time zone too (e.g. 2026-11-24T08:00:00+00:00)")
    return moment


class Command(BaseCommand):
    help = (
        "Roll up the last complete 5-minute window and every window of the last 24 h that has none "
        "(safe to run twice), prune old attempts, check alerts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the latest window's figures as one JSON object")
        parser.add_argument(
            "--since",
            metavar="WHEN",
            help="also recompute every window from WHEN (90m, 6h, 2d or ISO 8601), within the raw rows' retention",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = clock.now()
        since = parse_since(options["since"], now=now) if options["since"] else None
        try:
            rows = rollup_windows(now=now, since=since)
        except ValueError as exc:  # a --since the raw rows cannot support
            raise CommandError(str(exc)) from exc
        row = rows[-1]
        if options["json"]:
            figures = {
                "window_start": row.window_start.isoformat(),
                "windows_written": len(rows),
                "first_window_start": rows[0].window_start.isoformat(),
                "attempts": row.attempts,
                "error_rate": row.error_rate,
                "queue_depth": row.queue_depth,
                "oldest_waiting_seconds": row.oldest_waiting_seconds,
                "orders_late": row.orders_late,
                "pruned_agent_runs": row.pruned_agent_runs,
            }
            self.stdout.write(json.dumps(figures))
            return
        if options["verbosity"] >= 2:
            for earlier in rows[:-1]:
                self.stdout.write(f"caught up {earlier.window_start:%Y-%m-%d %H:%M}: {earlier.attempts} attempts")
        self.stdout.write(
            f"rollup {row.window_start:%Y-%m-%d %H:%M}: {row.attempts} attempts, "
            f"error rate {row.error_rate:.1%}, queue {row.queue_depth} "
            f"(oldest {row.oldest_waiting_seconds:.0f} s), {row.orders_late} late, "
            f"{row.pruned_agent_runs} old attempts pruned"
            + (
                f"; {len(rows) - 1} earlier window(s) filled in from {rows[0].window_start:%H:%M}"
                if len(rows) > 1
                else ""
            )
        )
