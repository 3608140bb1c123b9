"""The load test's traffic into the back office, as its senders would send it: payments through the
Stripe-signed payment webhook (some twice, at once, or reordered) and late, duplicate and reordered
agent callbacks through the signed callback route."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import connections
from django.db.models import Q
from django.test import Client
from standardwebhooks.webhooks import Webhook

from loadtest.callbacks import STALE_PREFIX
from loadtest.options import LoadTestOptions
from loadtest.report import Reporting
from orchestration import clock, dispatch
from orchestration.models import Task, TaskStatus
from orders.models import Project

PAYMENT_WEBHOOK = "/api/payments/webhook"
CALLBACK_WEBHOOK = "/api/orchestration/webhooks"
# Senders' addresses (documentation ranges): Stripe delivers from a dozen published addresses and
# the agents from many function instances, so the per-client throttle sees several clients.
STRIPE_SENDERS = tuple(f"192.0.2.{n}" for n in range(1, 13))
AGENT_SENDERS = tuple(f"198.51.100.{n}" for n in range(1, 17))
HTTP_RETRY_SECONDS = 120.0  # how long it keeps redelivering a webhook answered 429 or 5xx
PAYMENT_SCENARIOS = ("same_event_twice", "same_event_at_once", "completed_then_async", "async_then_unpaid_completed")
REPORT_TYPES = ("task_started", "task_progress", "task_completed", "task_failed")


def in_process_client() -> Client:
    # Django's test client, on purpose: the load test is a tool, and its webhooks must reach the
    # views of this process (the real middleware, signature checks and throttles) without a server
    # to start; raise_request_exception=False makes a view's crash a 500, as a server answers it.
    return Client(raise_request_exception=False)


class Traffic(Reporting):
    """The driver's senders (a part of load-test drivers)."""

    options: LoadTestOptions
    client: Client
    host: str
    paid: int
    started: float
    projects: list[Project]
    payment_delivered: dict[Any, bool]
    run_ids: list[Any]
    seen_for_reports: set[int]
    report_queue: list[tuple[int, str, int, str, Any]]
    reports_since: datetime

    def _pay_due(self) -> None:
        due = min(self.options.orders, int((time.monotonic() - self.started) * self.options.pay_rate) + 1)
        stop_at = time.monotonic() + 0.3  # the workers' kills must not wait for a long batch
        while self.paid < due and time.monotonic() < stop_at:
            self._pay(self.paid)
            self.paid += 1

    def _pay(self, index: int) -> None:
        project = self.projects[index]
        rng = random.Random(f"{self.options.seed}:pay:{index}")
        session = f"cs_lt_{project.id.hex}"
        sender = STRIPE_SENDERS[index % len(STRIPE_SENDERS)]
        completed = _stripe_event(project, "checkout.session.completed", session, paid=True)
        if rng.random() >= self.options.duplicate_rate:
            self._deliver_payment(self.client, project, completed, sender)
            return
        self.count("duplicate_payments_sent")
        scenario = rng.choice(PAYMENT_SCENARIOS)
        if scenario == "same_event_twice":
            self._deliver_payment(self.client, project, completed, sender)
            self._deliver_payment(self.client, project, completed, sender)
        elif scenario == "same_event_at_once":
            threads = [
                threading.Thread(target=self._deliver_in_thread, args=(project, completed, sender)) for _ in range(2)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=HTTP_RETRY_SECONDS + 30)
        elif scenario == "completed_then_async":
            self._deliver_payment(self.client, project, completed, sender)
            succeeded = _stripe_event(project, "checkout.session.async_payment_succeeded", session, paid=True)
            self._deliver_payment(self.client, project, succeeded, sender)
        else:  # a delayed payment method whose events arrive the wrong way round
            succeeded = _stripe_event(project, "checkout.session.async_payment_succeeded", session, paid=True)
            self._deliver_payment(self.client, project, succeeded, sender)
            unpaid = _stripe_event(project, "checkout.session.completed", session, paid=False)
            self._deliver_payment(self.client, project, unpaid, sender)

    def _deliver_in_thread(self, project: Project, event: dict[str, Any], sender: str) -> None:
        try:
            self._deliver_payment(in_process_client(), project, event, sender)
        finally:
            connections.close_all()  # this thread's connection only

    def _deliver_payment(self, client: Client, project: Project, event: dict[str, Any], sender: str) -> None:
        self.count("payment_events_sent")

        def sign(body: bytes) -> dict[str, str]:
            header = stripe.WebhookSignature.generate_signature_header(body.decode(), settings.STRIPE_WEBHOOK_SECRET)
            return {"HTTP_STRIPE_SIGNATURE": header}

        answer = self._post(client, PAYMENT_WEBHOOK, event, sign=sign, sender=sender, what=f"payment {event['id']}")
        paid = event["data"]["object"]["payment_status"] == "paid"
        with self.lock:
            delivered = self.payment_delivered.get(project.id, False)
            self.payment_delivered[project.id] = delivered or (answer is not None and paid)

    def _post(
        self,
        client: Client,
        path: str,
        body: dict[str, Any],
        *,
        sign: Callable[[bytes], dict[str, str]],
        sender: str,
        what: str,
    ) -> dict[str, Any] | None:
        """POST a signed JSON body; redeliver on 429 and 5xx, as Stripe and the agents do."""
        raw = json.dumps(body).encode()
        delay = 0.2
        give_up = time.monotonic() + HTTP_RETRY_SECONDS
        while True:
            response = client.post(
                path, data=raw, content_type="application/json", REMOTE_ADDR=sender, HTTP_HOST=self.host, **sign(raw)
            )
            status = response.status_code
            if status == 200:
                return response.json()
            if status == 429:
                self.count("http_throttled")
            elif status >= 500:
                self.count("http_server_errors")
                connections.close_all()  # the database may be why: reconnect on the next delivery
            if (status != 429 and status < 500) or time.monotonic() + delay > give_up:
                self.fail(f"{what}: POST {path} answered {status}: {response.content[:300]!r}")
                return None
            wait = float(response.get("Retry-After") or delay) if status == 429 else delay
            time.sleep(min(wait, 5.0))
            delay = min(delay * 2, 5.0)

    def _send_stale_reports(self, *, budget: float) -> None:
        if not self.options.duplicate_rate or not self.run_ids:
            return
        since, self.reports_since = self.reports_since - timedelta(seconds=2), clock.now()
        # Finished tasks (reports after completion) and tasks on a later attempt (reports from an
        # older one): reports no attempt holding the task could send, so none may be applied.
        candidates = Task.objects.filter(run_id__in=self.run_ids).filter(
            Q(status=TaskStatus.SUCCEEDED, finished_at__gte=since)
            | Q(attempt__gte=2, status__in=[TaskStatus.QUEUED, TaskStatus.RUNNING])
        )
        for task_id, action, attempt, status, project_id in candidates.values_list(
            "id", "action", "attempt", "status", "run__subject_id"
        ):
            if task_id not in self.seen_for_reports:
                self.seen_for_reports.add(task_id)
                if random.Random(f"{self.options.seed}:report:{task_id}").random() < self.options.duplicate_rate:
                    self.report_queue.append((task_id, action, attempt, status, project_id))
        stop_at = time.monotonic() + budget
        while self.report_queue and time.monotonic() < stop_at:
            self._stale_burst(*self.report_queue.pop(0))

    def _stale_burst(self, task_id: int, action: str, attempt: int, status: str, project_id: Any) -> None:
        rng = random.Random(f"{self.options.seed}:burst:{task_id}")
        if status == TaskStatus.SUCCEEDED:
            kinds = list(REPORT_TYPES)  # all four, for the last attempt, after completion, shuffled
            rng.shuffle(kinds)
            reports = [(kind, attempt) for kind in kinds]
        else:
            reports = [(rng.choice(REPORT_TYPES), attempt - 1)]  # a late report from the previous attempt
        sent = [self.send_report(task_id, action, project_id, kind=kind, attempt=old) for kind, old in reports]
        msg_id, body = rng.choice(sent)
        # The same delivery again: deduplicated on webhook-id.
        self._deliver_report(msg_id, body, AGENT_SENDERS[task_id % len(AGENT_SENDERS)])

    def send_report(
        self, task_id: int, action: str, project_id: Any, *, kind: str, attempt: int
    ) -> tuple[str, dict[str, Any]]:
        """Send one report that no attempt holding the task could send (a late one, or one from an
        earlier generation). Its webhook-id says so, for the verdict to find it in the inbox."""
        body = {
            "type": kind,
            "agentId": dispatch.agent_of(action),
            "projectId": str(project_id),
            "taskId": task_id,
            "attempt": attempt,
            "data": _report_data(kind),
        }
        msg_id = f"{STALE_PREFIX}{uuid.uuid4().hex}"
        self._deliver_report(msg_id, body, AGENT_SENDERS[task_id % len(AGENT_SENDERS)])
        return msg_id, body

    def _deliver_report(self, msg_id: str, body: dict[str, Any], sender: str) -> None:
        self.count("stale_reports_sent")

        def sign(raw: bytes) -> dict[str, str]:
            moment = datetime.now(UTC)
            return {
                "HTTP_WEBHOOK_ID": msg_id,
                "HTTP_WEBHOOK_TIMESTAMP": str(int(moment.timestamp())),
                "HTTP_WEBHOOK_SIGNATURE": Webhook(settings.WEBHOOK_SECRET).sign(msg_id, moment, raw.decode()),
            }

        what = f"{body['type']} for attempt {body['attempt']} of task {body['taskId']}"
        answer = self._post(self.client, CALLBACK_WEBHOOK, body, sign=sign, sender=sender, what=what)
        if answer is not None and answer.get("applied"):
            self.count("stale_reports_applied")
            self.fail(f"a stale {what} was applied: {answer}")


def _stripe_event(project: Project, kind: str, session: str, *, paid: bool) -> dict[str, Any]:
    """A Checkout event in Stripe's shape (the fields the webhook reads, and a few it keeps)."""
    return {
        "id": f"evt_lt_{uuid.uuid4().hex}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "data": {
            "object": {
                "id": session,
                "object": "checkout.session",
                "mode": "payment",
                "client_reference_id": str(project.id),
                "amount_total": settings.ORDER_PRICE_CENTS,
                "currency": settings.ORDER_CURRENCY,
                "payment_status": "paid" if paid else "unpaid",
            }
        },
    }


def _report_data(kind: str) -> dict[str, Any]:
    if kind == "task_completed":
        return {"output": {"late": True}}
    if kind == "task_failed":
        # Permanent: were it applied, the order would die of it, which the verdict would see.
        return {"error": "late failure from an old attempt", "retryable": False, "errorType": "LateReport"}
    if kind == "task_progress":
        return {"progress": {"done": 1, "total": 1}}
    return {}


def request_host() -> str:
    """A Host header the settings allow (the webhook views run in this process)."""
    for host in settings.ALLOWED_HOSTS:
        if host not in ("*",) and not host.startswith("."):
            return host
    return "localhost"
