"""Automatic lease renewal for the attempts this process is running (E4).

A claim grants a short lease (settings LEASE_SECONDS) rather than the step's whole
timeout, so a worker that dies is noticed within that lease, not after the
step's timeout. While the attempt runs, one daemon thread per process renews
the lease every few seconds until the step's timeout is reached; an attempt
that overruns its timeout stops being renewed, its lease runs out and it is
recovered, and its eventual report is fenced off as stale.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass

from django import db
from django.conf import settings

from orchestration import services

logger = logging.getLogger("orchestration.heartbeat")


@dataclass
class _Tracked:
    lease_token: uuid.UUID
    started: float  # time.monotonic() when the attempt started running here
    stop_renewing_at: float  # time.monotonic() at which the step's timeout is reached


class Heartbeater:
    def __init__(self) -> None:
        self._tracked: dict[int, _Tracked] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def lease_seconds(self) -> float:
        return settings.ORCHESTRATION["LEASE_SECONDS"]

    def track(self, task_id: int, lease_token: uuid.UUID, timeout_seconds: float, elapsed: float = 0.0) -> None:
        now = time.monotonic()
        with self._lock:
            self._tracked[task_id] = _Tracked(lease_token, now, now + timeout_seconds - elapsed)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="lease-heartbeat", daemon=True)
                self._thread.start()

    def untrack(self, task_id: int) -> None:
        with self._lock:
            self._tracked.pop(task_id, None)

    def _due(self) -> list[tuple[int, _Tracked]]:
        """Attempts that have run for a third of a lease and are still within their timeout."""
        now = time.monotonic()
        third = self.lease_seconds / 3
        with self._lock:
            return [
                (task_id, t)
                for task_id, t in self._tracked.items()
                if now - t.started >= third and now < t.stop_renewing_at
            ]

    def _loop(self) -> None:
        try:
            while True:
                time.sleep(max(self.lease_seconds / 3, 0.05))
                for task_id, tracked in self._due():
                    extend = min(self.lease_seconds, tracked.stop_renewing_at - time.monotonic())
                    try:
                        renewed = services.task_heartbeat(
                            task_id=task_id, lease_token=tracked.lease_token, extend_seconds=max(extend, 0.0)
                        )
                    except db.Error as exc:
                        logger.warning("lease renewal failed", extra={"task_id": task_id, "error": str(exc)})
                        db.connections.close_all()
                        continue
                    if renewed is None:  # the lease was lost: nothing more to renew for it
                        self.untrack(task_id)
                    else:
                        tracked.started = time.monotonic() - self.lease_seconds / 3
        finally:
            db.connections.close_all()


heartbeater = Heartbeater()
