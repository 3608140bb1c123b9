"""`manage.py loadtest`: N paid orders through the real workflow with faults; nothing may be lost."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from orchestration.cli import positive_float, positive_int
from orders.loadtest import LoadTestOptions, run_loadtest


def rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a rate between 0 and 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a rate between 0 and 1, got {value}")
    return value


class Command(BaseCommand):
    help = (
        "Run N concurrent paid orders through the real workflow with worker processes and injected faults; "
        "exit non-zero if any order is lost or delivered twice, or any side effect happened twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--orders", type=positive_int, default=100)
        parser.add_argument("--workers", type=positive_int, default=4, help="worker processes")
        parser.add_argument("--failure-rate", type=rate, default=0.2, help="share of attempts that raise")
        parser.add_argument("--kill-rate", type=rate, default=0.05, help="share of attempts whose worker is SIGKILLed")
        parser.add_argument("--duplicate-rate", type=rate, default=0.2, help="share of payments and reports sent twice")
        parser.add_argument("--hang-rate", type=rate, default=0.0, help="share of attempts hanging past timeout")
        parser.add_argument("--db-drop-rate", type=rate, default=0.0, help="share of attempts losing their connection")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--lease", type=positive_float, default=5.0, help="lease seconds given to the workers")
        parser.add_argument("--timeout", type=positive_float, default=1800.0, help="give up after this many seconds")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        load = LoadTestOptions(
            orders=options["orders"],
            workers=options["workers"],
            failure_rate=options["failure_rate"],
            kill_rate=options["kill_rate"],
            duplicate_rate=options["duplicate_rate"],
            hang_rate=options["hang_rate"],
            db_drop_rate=options["db_drop_rate"],
            seed=options["seed"],
            lease_seconds=options["lease"],
            timeout_seconds=options["timeout"],
        )
        with tqdm(total=load.orders, desc="orders", unit="order", file=sys.stderr, disable=None) as bar:

            def progress(done: int, total: int) -> None:
                bar.n = done
                bar.refresh()

            report = run_loadtest(load, progress=progress)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
        else:
            for key, value in report.as_dict().items():
                self.stdout.write(f"{key:>24}: {value}")
        if not report.ok:
            raise CommandError(
                f"lost {report.lost}, double delivered {report.double_delivered}, "
                f"duplicate side effects {report.duplicate_side_effects}"
            )
