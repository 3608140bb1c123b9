"""`manage.py loadtest`: N paid orders through the real workflow with faults; nothing may be lost."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from loadtest.driver import run_loadtest
from loadtest.guards import describe
from loadtest.options import LoadTestError, LoadTestOptions
from orchestration.cli import positive_float, positive_int


def rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a rate between 0 and 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a rate between 0 and 1, got {text!r}")
    return value


def fraction(text: str) -> float:
    value = rate(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a share of the orders above 0 and at most 1, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {text!r}")
    return value


# What --chaos turns on (loadtest/chaos.py): the sizes.
CHAOS: dict[str, Any] = {
    "clock_skew_s": 60.0,
    "long_tasks": 10,
    "operator_rate": 0.2,
    "http_async": True,
    "backlog": 20_000,
}


def _chosen(options: dict[str, Any], name: str, default: Any) -> Any:
    return default if options[name] is None else options[name]


def _preset(options: dict[str, Any], name: str, field: str) -> Any:
    """An option given explicitly; else its --chaos preset; else off."""
    off = getattr(LoadTestOptions(), field)
    return _chosen(options, name, CHAOS[field] if options["chaos"] else off)


class Command(BaseCommand):
    help = (
        "Run N paid orders through the real workflow with worker processes and injected faults; exit non-zero "
        "if any order is lost, not finished or delivered twice, any side effect happened twice, the orders that "
        "failed are not the ones the fault plan dooms, or a killed worker's task took too long to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        d = LoadTestOptions()
        parser.add_argument("--orders", type=positive_int, default=d.orders)
        parser.add_argument("--workers", type=positive_int, default=d.workers, help="worker processes")
        parser.add_argument("--failure-rate", type=rate, default=d.failure_rate, help="share of attempts that raise")
        parser.add_argument(
            "--kill-rate", type=rate, default=d.kill_rate, help="share of attempts whose worker is SIGKILLed"
        )
        parser.add_argument(
            "--duplicate-rate",
            type=rate,
            default=d.duplicate_rate,
            help="share of payments sent twice or reordered, and of tasks sent late or duplicate callbacks",
        )
        parser.add_argument(
            "--hang-rate", type=rate, default=d.hang_rate, help="share of attempts hanging past their timeout"
        )
        parser.add_argument(
            "--db-drop-rate",
            type=rate,
            default=None,
            help=f"share of attempts (and of the driver's polls) whose database connection is dropped "
            f"(default {d.db_drop_rate}; 0 under --chaos: a connection dropped under a claim batch re-runs "
            "its finished plain tasks, on purpose, which would blur the sink's count)",
        )
        parser.add_argument("--seed", type=int, default=d.seed)
        parser.add_argument("--lease", type=positive_float, default=d.lease_seconds, help="the workers' lease seconds")
        parser.add_argument(
            "--timeout", type=positive_float, default=d.timeout_seconds, help="give up after this many seconds"
        )
        parser.add_argument(
            "--pay-rate", type=positive_float, default=d.pay_rate, help="orders paid per second while workers run"
        )
        parser.add_argument(
            "--restart-db-at",
            type=fraction,
            default=None,
            metavar="FRACTION",
            help="restart the database server once this share of the orders is finished (PostgreSQL only)",
        )
        parser.add_argument(
            "--restart-db-command",
            default=None,
            metavar="COMMAND",
            help="how to restart it (default: pg_ctlcluster --skip-systemctl-redirect <version> main restart)",
        )
        parser.add_argument(
            "--allow-existing-data",
            action="store_true",
            help="run even though the database holds projects the load test did not create (their queued "
            "work runs too, with faults): never on production",
        )
        chaos = parser.add_argument_group("the grown fault model (all on with --chaos; each one alone too)")
        chaos.add_argument(
            "--chaos",
            action="store_true",
            help=f"all of the below, at their preset (clock skew {CHAOS['clock_skew_s']:g} s, "
            f"{CHAOS['long_tasks']} long-behind-short pairs, operator rate {CHAOS['operator_rate']}, HTTP async, "
            f"backlog {CHAOS['backlog']}); an option given explicitly wins",
        )
        chaos.add_argument(
            "--clock-skew",
            type=non_negative_float,
            default=None,
            metavar="SECONDS",
            help="run each worker under faketime, its clock off by up to this much (ahead and behind, seeded)",
        )
        chaos.add_argument(
            "--long-tasks",
            type=non_negative_int,
            default=None,
            metavar="PAIRS",
            help="queue this many pairs of plain tasks, a quick one then one outlasting the lease, in one claim",
        )
        chaos.add_argument(
            "--operator-rate",
            type=rate,
            default=None,
            help="share of orders an operator cancels, replays (from failed, from scratch) or retries in flight",
        )
        chaos.add_argument(
            "--http-async",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="half the workers dispatch over HTTP to a gunicorn server answering 202 and calling back "
            "through a proxy that delays, duplicates and reorders the callbacks",
        )
        chaos.add_argument(
            "--backlog",
            type=non_negative_int,
            default=None,
            metavar="TASKS",
            help="queue this many plain tasks of distinct project:<n> keys under the limit project:*=2",
        )
        parser.add_argument("--keep-artifacts", action="store_true", help="keep worker logs and sinks after success")
        parser.add_argument("--dry-run", action="store_true", help="check the target and print the plan; run nothing")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        load = LoadTestOptions(
            orders=options["orders"],
            workers=options["workers"],
            failure_rate=options["failure_rate"],
            kill_rate=options["kill_rate"],
            duplicate_rate=options["duplicate_rate"],
            hang_rate=options["hang_rate"],
            db_drop_rate=_chosen(options, "db_drop_rate", 0.0 if options["chaos"] else LoadTestOptions.db_drop_rate),
            seed=options["seed"],
            lease_seconds=options["lease"],
            timeout_seconds=options["timeout"],
            pay_rate=options["pay_rate"],
            restart_db_at=options["restart_db_at"],
            restart_db_command=options["restart_db_command"],
            allow_existing_data=options["allow_existing_data"],
            keep_artifacts=options["keep_artifacts"],
            clock_skew_s=_preset(options, "clock_skew", "clock_skew_s"),
            long_tasks=_preset(options, "long_tasks", "long_tasks"),
            operator_rate=_preset(options, "operator_rate", "operator_rate"),
            http_async=_preset(options, "http_async", "http_async"),
            backlog=_preset(options, "backlog", "backlog"),
        )
        _interrupt_on_sigterm()
        try:
            if options["dry_run"]:
                self.stdout.write(json.dumps(describe(load), indent=None if options["json"] else 2))
                return
            with tqdm(total=load.orders, desc="orders", unit="order", file=sys.stderr, disable=None) as bar:

                def progress(done: int, total: int) -> None:
                    bar.n = done
                    bar.refresh()

                report = run_loadtest(load, progress=progress)
        except LoadTestError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            raise CommandError("interrupted: the workers and the agents' server were stopped", returncode=130) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), default=str))
        else:
            for key, value in report.as_dict().items():
                self.stdout.write(f"{key:>26}: {value}")
        if not report.ok:
            raise CommandError("load test failed: " + "; ".join(report.failures))


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a CI timeout, `kill`, a container stopping) ends the run as Ctrl-C does: through
    the driver's `finally` blocks, which stop the worker processes, the agents' server and the
    claim journal's trigger. Python's default for SIGTERM exits at once and leaves them running
    on the database."""

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the clean-up short
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)
