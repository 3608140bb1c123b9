"""The proxy between the agents' HTTP server and the engine's callback route (`--http-async`): it
delivers the agents' callbacks late, some twice, some followed by a report of an attempt that has
ended; and the count of stale reports the engine's inbox shows applied."""

from __future__ import annotations

import heapq
import json
import random
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import requests
from django.conf import settings
from django.db import connections
from django.db.models import Q
from standardwebhooks.webhooks import Webhook

from gateway.models import EventSource, EventStatus, WebhookEvent
from orchestration.models import Task, TaskStatus, WorkflowRun

if TYPE_CHECKING:
    from loadtest.chaos import Chaos

STALE_PREFIX = "msg_lt_"  # every report the driver sends as known stale has a webhook-id starting so
DUPLICATE_PREFIX = "dup_lt_"  # a copy of an agent's callback: one of the two may be applied
CALLBACK_THREADS = 4
HOLD_SECONDS = 120.0  # how long a superseded callback waits for the new generation to reuse its attempt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    msg_id: str = ""
    body: dict[str, Any] | None = None
    run_id: Any = None
    generation: int | None = None  # the run's generation when the agent sent it
    known_stale: bool = False
    then: list[_Delivery] | None = None  # sent after this one was answered (reordering)
    held_since: float | None = None


class CallbackProxy:
    """Takes the agents' callbacks (answering 200 at once, as a queueing ingress would) and
    delivers them to the engine late, some twice under a fresh webhook-id, some followed by a
    progress report of the same attempt (a report that arrives after the attempt's end)."""

    def __init__(self, chaos: Chaos, target: str) -> None:
        self.chaos = chaos
        self.target = target
        self.rng = random.Random(f"{chaos.options.seed}:callbacks")
        self.max_delay = chaos.options.lease_seconds * 1.5
        self.heap: list[_Delivery] = []
        self.seq = 0
        self.cond = threading.Condition()
        self.stopping = False
        self.superseded: list[str] = []  # ids sent after their run's generation moved on
        self.duplicates: list[tuple[str, str]] = []  # (the agent's webhook-id, its copy's)
        self.stats: Counter[str] = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the http.server API's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"received": true}')
                try:
                    proxy.accept(self.headers.get("webhook-id") or f"cb_{uuid.uuid4().hex}", json.loads(raw))
                finally:
                    connections.close_all()  # this handler thread's connection only

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.threads = [threading.Thread(target=self.server.serve_forever, name="cb-proxy", daemon=True)]
        self.threads += [
            threading.Thread(target=self._deliver_loop, name=f"cb-deliver-{n}", daemon=True)
            for n in range(CALLBACK_THREADS)
        ]
        for thread in self.threads:
            thread.start()

    def accept(self, msg_id: str, body: dict[str, Any]) -> None:
        row = Task.objects.filter(id=body.get("taskId")).values("run_id", "run__generation").first() or {}
        run_id, generation = row.get("run_id"), row.get("run__generation")
        with self.cond:
            self.stats["received"] += 1
            now = time.monotonic()
            main = self._new(now + self.rng.uniform(0, self.max_delay), msg_id, body, run_id, generation)
            if self.rng.random() < self.chaos.options.duplicate_rate:
                # The agent sending it again under a new webhook-id (a retry whose answer was lost). Either
                # copy may arrive first; the engine may apply one of the two, never both.
                self.stats["duplicated"] += 1
                again = f"{DUPLICATE_PREFIX}{uuid.uuid4().hex}"
                self.duplicates.append((msg_id, again))
                self._push(self._new(now + self.rng.uniform(0, self.max_delay), again, body, run_id, generation))
            final = body.get("type") == "task_failed" or (
                body.get("type") == "task_completed" and not (body.get("data") or {}).get("continue")
            )
            if final and self.rng.random() < self.chaos.options.duplicate_rate:
                # A progress report of the same attempt, sent once the engine answered its final report:
                # the attempt has ended by then, so it is stale.
                self.stats["reordered"] += 1
                late = {**body, "type": "task_progress", "data": {"progress": {"done": 0, "total": 1}}}
                main.then = [self._new(0, f"{STALE_PREFIX}after_{uuid.uuid4().hex}", late, run_id, generation, True)]
            self._push(main)

    def _new(
        self, due: float, msg_id: str, body: dict[str, Any], run_id: Any, gen: int | None, stale: bool = False
    ) -> _Delivery:
        self.seq += 1
        return _Delivery(due, self.seq, msg_id, body, run_id, gen, stale)

    def _push(self, item: _Delivery) -> None:
        heapq.heappush(self.heap, item)
        self.cond.notify()

    def _deliver_loop(self) -> None:
        try:
            while True:
                with self.cond:
                    while not self.stopping and (not self.heap or self.heap[0].due > time.monotonic()):
                        self.cond.wait(timeout=0.1)
                    if self.stopping and not self.heap:
                        return
                    if self.heap[0].due > time.monotonic():
                        continue
                    item = heapq.heappop(self.heap)
                if self._hold(item):
                    continue
                self._send(item)
                for follower in item.then or ():
                    self._send(follower)
        finally:
            connections.close_all()

    def _hold(self, item: _Delivery) -> bool:
        """A callback whose run was replayed since it was sent waits (up to HOLD_SECONDS) for the new
        generation to run the same attempt number: the moment a report fenced by attempt alone fools it."""
        if item.run_id is None or item.generation is None or self.stopping:
            return False
        now_gen = WorkflowRun.objects.filter(id=item.run_id).values_list("generation", flat=True).first()
        if now_gen is None or now_gen == item.generation:
            return False
        reused = Task.objects.filter(
            id=item.body["taskId"], status=TaskStatus.RUNNING, attempt__gte=item.body["attempt"]
        ).exists()
        held_since = item.held_since or time.monotonic()
        if reused or time.monotonic() - held_since > HOLD_SECONDS:
            self.superseded.append(item.msg_id)
            return False
        item.held_since, item.due = held_since, time.monotonic() + 0.5
        with self.cond:
            self._push(item)
        return True

    def _send(self, item: _Delivery) -> None:
        raw = json.dumps(item.body).encode()
        give_up = time.monotonic() + 60
        while True:
            moment = datetime.now(UTC)
            headers = {
                "Content-Type": "application/json",
                "webhook-id": item.msg_id,
                "webhook-timestamp": str(int(moment.timestamp())),
                "webhook-signature": Webhook(settings.WEBHOOK_SECRET).sign(item.msg_id, moment, raw.decode()),
            }
            try:
                response = requests.post(self.target, data=raw, headers=headers, timeout=(5, 60))
                status = response.status_code
            except requests.RequestException:
                status = 599
            with self.cond:
                self.stats["delivered" if status < 300 else f"answered_{status}"] += 1
            if (status < 500 and status != 429) or time.monotonic() > give_up or self.stopping:
                return
            time.sleep(0.5)

    def stop(self) -> None:
        with self.cond:
            # Deliver what is left at once: a report the engine never gets is a lease recovery, not a verdict.
            for item in self.heap:
                item.due = 0
            heapq.heapify(self.heap)
            self.stopping = True
            self.cond.notify_all()
        for thread in self.threads[1:]:
            thread.join(timeout=90)
        self.server.shutdown()
        self.server.server_close()


def stale_applied(proxy: CallbackProxy | None, task_ids: set[int]) -> int:
    """Reports on this run's tasks applied although they were stale when sent, as the engine's
    inbox recorded them: the driver's late reports, callbacks the proxy delivered after their
    run's generation moved on, and agent callbacks applied twice (the agent's copy and the proxy's)."""
    superseded = set(proxy.superseded) if proxy else set()
    duplicates = proxy.duplicates if proxy else []
    watched = Q(external_id__startswith=STALE_PREFIX) | Q(
        external_id__in=[*superseded, *(i for pair in duplicates for i in pair)]
    )
    rows = WebhookEvent.objects.filter(watched, source=EventSource.AGENT, status=EventStatus.PROCESSED)
    applied = {
        external_id
        for external_id, payload in rows.values_list("external_id", "payload")
        if isinstance(payload, dict) and payload.get("taskId") in task_ids  # this run's, not an earlier one's
    }
    late = sum(i.startswith(STALE_PREFIX) for i in applied)
    return late + len(superseded & applied) + sum(a in applied and b in applied for a, b in duplicates)
