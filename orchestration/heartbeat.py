"""Automatic lease renewal for the attempts this process is running.

A claim grants a short lease (engine_settings.LEASE_SECONDS) rather than the step's whole
timeout, so a worker that dies is noticed within that lease, not after the
step's timeout. While the attempt runs, one daemon thread per process renews
the lease every few seconds until the step's timeout is reached; an attempt
that overruns its timeout stops being renewed, its lease runs out and it is
recovered, and its eventual report is fenced off as stale.

An attempt is tracked by its lease (task id and lease token), never by its task id
alone: a continuation of the same task claimed again by this process holds a new
token, and the answer to a renewal of the old one ("lease lost") must not stop the
new one's renewals. An attempt that finished but whose success waits for its batch's
completion (execution.py) stays tracked, past its timeout, until that completion: the
work is done and this process is alive, so the lease must not run out under it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass

from django import db

from orchestration import services
from orchestration.conf import engine_settings

logger = logging.getLogger("orchestration.heartbeat")

Lease = tuple[int, uuid.UUID]  # (task id, lease token): one attempt's hold on its task


@dataclass
class _Tracked:
    started: float  # time.monotonic() when the attempt started running here (or was last renewed)
    stop_renewing_at: float  # time.monotonic() at which the step's timeout is reached


class Heartbeater:
    def __init__(self) -> None:
        self._tracked: dict[Lease, _Tracked] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def lease_seconds(self) -> float:
        return engine_settings.LEASE_SECONDS

    def track(
        self,
        task_id: int,
        lease_token: uuid.UUID,
        timeout_seconds: float,
        elapsed: float = 0.0,
        *,
        start_thread: bool = True,
    ) -> None:
        """Renew this attempt's lease until its step's timeout (`start_thread` False: the
        caller drives `due` and `renew` itself, as tests do)."""
        now = time.monotonic()
        with self._lock:
            self._tracked[(task_id, lease_token)] = _Tracked(now, now + timeout_seconds - elapsed)
            if start_thread and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._loop, name="lease-heartbeat", daemon=True)
                self._thread.start()

    def hold_until_completed(self, task_id: int, lease_token: uuid.UUID) -> None:
        """The attempt succeeded; its completion is deferred to its batch's: renew until then,
        whatever its timeout (the caller untracks it once the completion is written)."""
        with self._lock:
            tracked = self._tracked.get((task_id, lease_token))
            if tracked is not None:
                tracked.stop_renewing_at = math.inf

    def untrack(self, task_id: int, lease_token: uuid.UUID) -> None:
        with self._lock:
            self._tracked.pop((task_id, lease_token), None)

    def tracked_tokens(self) -> set[uuid.UUID]:
        with self._lock:
            return {token for _, token in self._tracked}

    def due(self) -> list[tuple[Lease, _Tracked]]:
        """Attempts that have run for a third of a lease and are still within their timeout."""
        now = time.monotonic()
        third = self.lease_seconds / 3
        with self._lock:
            return [
                (lease, t)
                for lease, t in self._tracked.items()
                if now - t.started >= third and now < t.stop_renewing_at
            ]

    def renew(self, due: list[tuple[Lease, _Tracked]]) -> None:
        """Renew each of `due` (as `due()` returned it, maybe a while ago); forget a lease lost."""
        for (task_id, token), tracked in due:
            extend = min(self.lease_seconds, tracked.stop_renewing_at - time.monotonic())
            try:
                renewed = services.task_heartbeat(task_id=task_id, lease_token=token, extend_seconds=max(extend, 0.0))
            except db.Error as exc:
                logger.warning("lease renewal failed", extra={"task_id": task_id, "error": str(exc)})
                db.connections.close_all()
                continue
            if renewed is None:  # this lease was lost: nothing more to renew for it (only it)
                self.untrack(task_id, token)
            else:
                tracked.started = time.monotonic() - self.lease_seconds / 3

    def _loop(self) -> None:
        try:
            while True:
                time.sleep(max(self.lease_seconds / 3, 0.05))
                self.renew(self.due())
        finally:
            db.connections.close_all()


heartbeater = Heartbeater()
