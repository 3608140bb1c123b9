"""The long-running worker, for hosting outside Vercel.

Each process loops on `tick`; with nothing due it waits for a NOTIFY on
Postgres (orchestration/listener.py: on its own connection when that is direct,
else over the direct URL, since LISTEN does not survive PgBouncer's transaction
mode) or, failing that, polls. SIGTERM stops claiming, lets the current task
finish and hands unstarted claimed tasks back; a second SIGTERM exits at once
(the lease covers whatever was running).
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from django import db

from orchestration import queue, services
from orchestration.budget import Budget
from orchestration.execution import TickReport, default_worker_name, tick
from orchestration.listener import Listener, ListenerLost, open_listener

logger = logging.getLogger("orchestration.worker")

RECOVERY_INTERVAL_SECONDS = 1.0
# How long an idle worker waits before claiming again when due work exists that it could not take.
BLOCKED_RETRY_SECONDS = 0.05
MAX_RECONNECT_DELAY_SECONDS = 5.0


@dataclass(frozen=True)
class WorkerOptions:
    poll_interval: float = 1.0
    tick_seconds: float = 30.0  # how long one tick may run before recovery runs again
    listen: bool = True
    max_tasks: int | None = None  # exit after this many (tests, batch jobs)
    idle_exit: bool = False  # exit once nothing is due or running (drain mode)


class Worker:
    def __init__(self, options: WorkerOptions, *, name: str | None = None) -> None:
        self.options = options
        self.name = name or default_worker_name()
        self.stopping = False
        self.total = TickReport()
        self._wake = threading.Event()
        self._listener: Listener | None = None
        self.database_failures = 0

    def request_stop(self, *_: Any) -> None:
        if self.stopping:  # second signal: leave now; leases cover the rest
            os._exit(1)
        self.stopping = True
        self._wake.set()

    def run(self) -> TickReport:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        if self.options.listen:
            self._listener = open_listener()
        logger.info("worker started", extra={"action": "worker_start", "worker": self.name})
        last_recovery = float("-inf")
        try:
            while not self.stopping:
                left = None if self.options.max_tasks is None else self.options.max_tasks - self.total.claimed
                if left is not None and left <= 0:
                    break
                # Lease recovery costs two queries: once a second per worker is plenty. An idle
                # worker runs it before it waits (below), so work that wakes it is claimed at once.
                recover = time.monotonic() - last_recovery >= RECOVERY_INTERVAL_SECONDS
                if recover:
                    last_recovery = time.monotonic()
                try:
                    report = tick(
                        # No deadline of its own: the step's timeout bounds each attempt, and
                        # the tick stops claiming after tick_seconds (recovery's turn).
                        budget=Budget.seconds(math.inf),
                        claim_for=self.options.tick_seconds,
                        max_tasks=left,
                        worker=self.name,
                        should_stop=lambda: self.stopping,
                        recover=recover,
                    )
                except db.Error as exc:
                    # The database went away (restart, failover, dropped connection). Whatever
                    # this process held is covered by its leases; reconnect with backoff.
                    self._database_lost(exc)
                    continue
                self.database_failures = 0
                self.total.add(report)
                if report.claimed == 0:
                    try:
                        # Drain mode ends with the work, not with one empty claim: a claim comes
                        # back empty while due work waits for a limited key's free slot or another
                        # worker's claim, and a running step may still make the next ones ready.
                        if self.options.idle_exit and not queue.work_in_hand():
                            break
                        if time.monotonic() - last_recovery >= RECOVERY_INTERVAL_SECONDS:
                            last_recovery = time.monotonic()
                            self._recover()
                            continue  # what it queued again may be due now
                        self._wait_for_work()
                    except db.Error as exc:
                        self._database_lost(exc)
        finally:
            if self._listener is not None:
                self._listener.close()
            db.connections.close_all()
        logger.info("worker stopped", extra={"action": "worker_stop", "worker": self.name, **self.total.as_dict()})
        return self.total

    def _database_lost(self, exc: Exception) -> None:
        self.database_failures += 1
        delay = min(MAX_RECONNECT_DELAY_SECONDS, 0.2 * 2 ** min(self.database_failures, 6))
        logger.error(
            "database error; reconnecting",
            extra={"action": "worker_db_error", "worker": self.name, "error": str(exc), "retry_in": delay},
        )
        db.connections.close_all()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._wake.wait(delay)
        if self.options.listen and not self.stopping:
            self._listener = open_listener(subscribe=False)

    def _recover(self) -> None:
        """The tick's safety net (expired leases, stalled runs), run while there is nothing to do."""
        report = TickReport(recovered=services.recover_expired_leases(), repaired=services.repair_stalled_runs())
        self.total.add(report)

    def _wait_for_work(self) -> None:
        """Sleep until NOTIFY says work is ready, the earliest retry falls due, or the poll interval ends."""
        timeout = self.options.poll_interval
        until_due = queue.seconds_until_next_due()
        if until_due is not None:
            # Already due, yet the claim just took none of it: its keys are at their limits, or
            # another worker is claiming those rows. A freed slot sends no NOTIFY, so look again
            # soon, but not at once: waiting zero here was a busy loop against the database.
            timeout = min(timeout, until_due if until_due > 0 else BLOCKED_RETRY_SECONDS)
        if self._listener is not None and self._listener.subscribe():
            return  # listening on a new connection: what was committed before, no one heard
        deadline = time.monotonic() + timeout
        while not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._listener is None:
                self._wake.wait(left)
                return
            try:
                # Slices of at most a second keep SIGTERM responsive while blocked in the driver.
                if self._notified(timeout=min(left, 1.0)):
                    return
            except ListenerLost as exc:
                logger.warning("LISTEN connection lost; polling", extra={"action": "listen_lost", "error": str(exc)})
                self._listener.close()
                self._listener = None

    def _notified(self, *, timeout: float) -> bool:
        """True when another session's NOTIFY arrives within `timeout`. Ours are skipped: this
        process sends one when its own commit makes work ready, and its tick loop claims that
        work right after (or was handed it by the completion), so waking for it would only
        cost an empty claim, late, while work from elsewhere waits behind it."""
        return self._listener.wait(timeout)


def _child_main(index: int, options: WorkerOptions) -> None:
    # Forked with SIGTERM/SIGINT blocked and the supervisor's handlers: put the defaults back
    # before unblocking, so a stop sent while this child started simply ends it (it holds
    # nothing yet) instead of running the supervisor's handler in the wrong process.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    Worker(options, name=f"{default_worker_name()}/{index}").run()


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


# A child that keeps crashing is restarted after 0.5 s, 1 s, 2 s ... at most 30 s apart; one
# that ran for a minute before exiting starts again from the shortest delay.
RESTART_DELAY_SECONDS = (0.5, 30.0)
RESTART_RESET_AFTER_SECONDS = 60.0


def run_processes(processes: int, options: WorkerOptions) -> int:
    """Run `processes` workers and supervise them until SIGTERM; crashed ones are restarted
    with a bounded backoff."""
    if processes == 1:
        Worker(options).run()
        return 0
    db.connections.close_all()  # never share a connection across fork
    ctx = multiprocessing.get_context("fork")
    children: dict[int, multiprocessing.process.BaseProcess] = {}
    started_at: dict[int, float] = {}
    failures: dict[int, int] = {}
    stopping = threading.Event()

    def stop(*_: Any) -> None:
        # Only a flag; the loop below passes the stop on to the children.
        stopping.set()

    def pass_stop_on() -> None:
        for child in list(children.values()):
            if child.is_alive() and child.pid:
                os.kill(child.pid, signal.SIGTERM)

    def spawn(index: int) -> None:
        child = ctx.Process(target=_child_main, args=(index, options), name=f"worker-{index}")
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)  # no stop lands mid-fork
        try:
            child.start()
            children[index] = child
            started_at[index] = time.monotonic()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)

    # Before the first fork: a SIGTERM that lands while children start must still reach them.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(processes):
        if stopping.is_set():
            break
        spawn(index)
    passed_on = False
    while children:
        if stopping.is_set() and not passed_on:
            pass_stop_on()
            passed_on = True
        for index, child in list(children.items()):
            child.join(timeout=0.2)
            if child.is_alive():
                continue
            del children[index]
            finished_normally = child.exitcode == 0 and (options.idle_exit or options.max_tasks is not None)
            if stopping.is_set() or finished_normally:
                continue
            if time.monotonic() - started_at[index] >= RESTART_RESET_AFTER_SECONDS:
                failures[index] = 0
            failures[index] = failures.get(index, 0) + 1
            low, high = RESTART_DELAY_SECONDS
            delay = min(high, low * 2 ** (failures[index] - 1))
            logger.error(
                "worker process exited; restarting",
                extra={"action": "worker_restart", "index": index, "exitcode": child.exitcode, "delay_s": delay},
            )
            if not stopping.wait(delay):
                spawn(index)
    return 0
