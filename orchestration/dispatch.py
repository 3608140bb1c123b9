"""HTTP dispatch: the engine POSTs a signed request to the agent's route, with the same semantics
as inline dispatch (in-process).

The engine side (`dispatch`) runs where a task was claimed (a cron tick, the
execute route, a worker): it signs the attempt's request with the current key
(Standard Webhooks), renews the lease while it waits, and applies the agent's
answer. The agent side (`run_dispatched`, called by the agent routes) runs the
action exactly as inline mode would and turns its outcome into a report, the
same JSON an agent sends to the callback route. So there is one semantics:

- 200 with a report: the agent ran the action within its budget; the engine
  applies the report, fenced by its own lease token and the attempt.
- The request carries the attempt's lease token (`leaseToken`); the agent sends it
  back in every report and heartbeat, which are fenced by it: no later
  attempt, continuation or generation shares it. A report without it (an agent
  written against the original body) is fenced by its attempt number, which no
  later attempt or generation reuses either.
- 202: the agent took the work and will call back (`call_back`, retried with
  bounded backoff). The engine extends the lease to the step's timeout: a
  callback that never arrives is recovered like a dead worker.
- anything else: the attempt failed; transport errors and the answers
  `retry.is_retryable_status` names (408, 425, 429, 5xx but 501 and 505) are
  retryable, other answers (a missing route, a refused signature) permanent.

`kick` is the fire-and-forget POST to /api/workflows/execute that starts ready
work at once where nothing runs after a response (Vercel); ticks are the net.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from core.logging import log_context
from core.signing import CALLBACK_ROUTE, EXECUTE_ROUTE, signed_headers
from core.tracebacks import location_of
from orchestration import clock, services
from orchestration.budget import Budget
from orchestration.conf import engine_settings
from orchestration.context import context_as_request, context_of_claim, context_of_request
from orchestration.exceptions import is_retryable
from orchestration.heartbeat import heartbeater
from orchestration.queue import ClaimedTask
from orchestration.registry import Continue, TaskContext, checked_result, get_action
from orchestration.retry import is_retryable_status

logger = logging.getLogger("orchestration.dispatch")

# The engine's own two routes: core.signing owns them (their signing keys depend on them).
EXECUTE_PATH = EXECUTE_ROUTE
CALLBACK_PATH = CALLBACK_ROUTE
# What the engine waits beyond the agent's own deadline before it gives up on an answer.
ANSWER_GRACE_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5.0
# The kick only has to reach the server: the execute route goes on without us.
KICK_TIMEOUT_SECONDS = (2.0, 0.5)
# Callback retries: 0.5, 1, 2, 4, 8 s apart (about 15 s in all), then the lease takes over.
CALLBACK_ATTEMPTS = 6
CALLBACK_BACKOFF_SECONDS = 0.5
CALLBACK_BACKOFF_CAP_SECONDS = 8.0

# Outcomes of one dispatch, named like TickReport's counters.
SUCCEEDED, FAILED, CONTINUED, STALE, DISPATCHED = "succeeded", "failed", "continued", "stale", "dispatched"


@dataclass(frozen=True)
class Report:
    """One agent report on one attempt, as the public callback body carries it."""

    type: str  # task_started | task_progress | task_completed | task_failed
    task_id: int
    attempt: int
    data: dict[str, Any] = field(default_factory=dict)
    agent_id: str = ""
    project_id: str | None = None
    # The lease token of the attempt, from the dispatch request (None: an agent that does not
    # send it back; the attempt number fences its report then).
    lease_token: str | None = None

    def as_body(self) -> dict[str, Any]:
        body = {
            "type": self.type,
            "agentId": self.agent_id,
            "projectId": self.project_id,
            "taskId": self.task_id,
            "attempt": self.attempt,
            "data": self.data,
        }
        if self.lease_token:
            body["leaseToken"] = self.lease_token
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Report:
        """From a body already validated (gateway.serializers.AgentReportSerializer)."""
        project = body.get("projectId")
        token = body.get("leaseToken")
        return cls(
            type=body["type"],
            task_id=int(body["taskId"]),
            attempt=int(body["attempt"]),
            data=dict(body.get("data") or {}),
            agent_id=str(body.get("agentId") or ""),
            project_id=str(project) if project else None,
            lease_token=str(token) if token else None,
        )


def _token(value: str | None) -> uuid.UUID | None:
    """A report's lease token (validated as a UUID where it came in over HTTP)."""
    return uuid.UUID(value) if value else None


def agent_of(action: str) -> str:
    return action.split(".", 1)[0]


def agent_path(action: str) -> str:
    """`design-ia.generate` is served at /api/design-ia/generate."""
    agent, name = action.split(".", 1)
    return f"/api/{agent}/{name}"


# --- Applying reports (the callback route and the engine's own dispatch) -------------------


def apply_report(report: Report, *, lease_token: Any = None) -> bool:
    """Apply a report through the engine's services, fenced by its attempt and by a lease token:
    the engine's own (it dispatched the attempt) or the one the report carries back. False when
    the report was stale or lost its lease."""
    token = lease_token if lease_token is not None else _token(report.lease_token)
    fence = {"attempt": report.attempt, "lease_token": token}
    data = report.data
    lease = engine_settings.LEASE_SECONDS
    if report.type == "task_started":
        return services.task_heartbeat(task_id=report.task_id, extend_seconds=lease, **fence) is not None
    if report.type == "task_progress":
        alive = services.task_heartbeat(task_id=report.task_id, extend_seconds=lease, **fence) is not None
        if alive and data.get("progress"):
            services.task_progress(task_id=report.task_id, progress=data["progress"], **fence)
        return alive
    if report.type == "task_completed":
        if data.get("continue"):
            return services.task_continue(
                task_id=report.task_id, cursor=data.get("cursor"), progress=data.get("progress"), **fence
            )
        return services.task_complete(task_id=report.task_id, output=data.get("output") or {}, **fence)
    if report.type == "task_failed":
        return services.task_fail(
            task_id=report.task_id,
            error=str(data.get("error") or "The agent reported a failure"),
            retryable=bool(data.get("retryable", True)),
            error_type=str(data.get("errorType") or "AgentError"),
            traceback=str(data.get("traceback") or ""),
            location=str(data.get("location") or ""),
            retry_after=_retry_after(data.get("retryAfter")),
            **fence,
        )
    raise ValueError(f"Unknown report type {report.type!r}")


# --- Engine side -----------------------------------------------------------------------------


def dispatch(task: ClaimedTask, *, budget: Budget) -> str:
    """Send one claimed attempt to its agent route and apply the answer; returns the outcome."""
    timeout_left = task.timeout_seconds - (clock.now() - task.claimed_at).total_seconds()
    deadline = max(min(timeout_left, budget.remaining()), 1.0)
    respond_async = engine_settings.HTTP_RESPOND_ASYNC
    body = json.dumps(_request_body(task, deadline, respond_async)).encode()
    url = settings.AGENTS_BASE_URL + agent_path(task.action)
    try:
        headers = signed_headers(body, msg_id=f"dispatch_{task.id}_{task.lease_token}", route=agent_path(task.action))
    except ImproperlyConfigured as exc:
        return _fail(task, str(exc), retryable=False)
    heartbeater.track(task.id, task.lease_token, task.timeout_seconds)
    try:
        response = requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=(CONNECT_TIMEOUT_SECONDS, deadline + ANSWER_GRACE_SECONDS),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        heartbeater.untrack(task.id, task.lease_token)
        return _fail(task, f"Agent route {url} unreachable: {type(exc).__name__}", retryable=True)
    heartbeater.untrack(task.id, task.lease_token)
    if response.status_code == 202:
        # The agent calls back; until then the step's timeout, not the short lease, bounds it.
        services.task_heartbeat(task_id=task.id, lease_token=task.lease_token, extend_seconds=max(timeout_left, 1.0))
        logger.info("dispatched", extra={"action": "dispatch_async", "task_id": task.id, "attempt": task.attempt})
        return DISPATCHED
    if response.status_code != 200:
        retryable = is_retryable_status(response.status_code)
        return _fail(task, f"Agent route {url} answered {response.status_code}", retryable=retryable)
    try:
        report = Report.from_body(response.json())
    except (ValueError, KeyError, TypeError):
        return _fail(task, f"Agent route {url} answered 200 without a report", retryable=True)
    if report.task_id != task.id or report.attempt != task.attempt:
        return _fail(task, f"Agent route {url} answered for another attempt", retryable=True)
    applied = apply_report(report, lease_token=task.lease_token)
    if not applied:
        return STALE
    if report.type == "task_failed":
        return FAILED
    return CONTINUED if report.data.get("continue") else SUCCEEDED


def _request_body(task: ClaimedTask, deadline: float, respond_async: bool) -> dict[str, Any]:
    # The context the agent's action will get, as the inline executor would build it.
    ctx = context_of_claim(task, deadline=clock.monotonic() + deadline)
    return {
        **context_as_request(ctx),
        "deadlineSeconds": round(deadline, 3),
        "respond": "async" if respond_async else "sync",
        "callbackUrl": settings.AGENTS_BASE_URL + CALLBACK_PATH,
        "leaseToken": str(task.lease_token),  # sent back with every report: the fence, never reused
    }


def _fail(task: ClaimedTask, error: str, *, retryable: bool) -> str:
    logger.warning("dispatch failed", extra={"action": "dispatch_failed", "task_id": task.id, "error": error})
    applied = services.task_fail(
        task_id=task.id,
        lease_token=task.lease_token,
        error=error,
        error_type="DispatchError",
        location=agent_path(task.action),
        retryable=retryable,
    )
    return FAILED if applied else STALE


# --- Agent side ------------------------------------------------------------------------------


def run_dispatched(request: dict[str, Any], *, budget: Budget) -> Report:
    """Run the action of a dispatch request (already verified) within `budget` and report.

    Mirrors the inline executor: the same result check, the same is_retryable.
    """
    task_id, attempt = int(request["taskId"]), int(request["attempt"])
    base = {"task_id": task_id, "attempt": attempt, "agent_id": agent_of(request["action"])}
    base["project_id"] = request.get("projectId")
    base["lease_token"] = str(request["leaseToken"]) if request.get("leaseToken") else None
    deadline = min(budget.deadline, clock.monotonic() + float(request.get("deadlineSeconds") or 0))
    try:
        func = get_action(request["action"])
        ctx = _agent_context(request, deadline)
        # The agent's log lines carry the attempt's ids, as in the inline executor.
        with log_context(task_id=task_id, attempt=attempt, run_id=request.get("runId"), project_id=base["project_id"]):
            result = checked_result(func(ctx))
        if isinstance(result, Continue):
            return Report(
                "task_completed", data={"continue": True, "cursor": result.cursor, "progress": result.progress}, **base
            )
        return Report("task_completed", data={"output": result}, **base)
    except Exception as exc:  # noqa: BLE001 - classified by is_retryable, retried only within the policy
        return Report("task_failed", data=_failure(exc, retryable=is_retryable(exc)), **base)


def _agent_context(request: dict[str, Any], deadline: float) -> TaskContext:
    task_id, attempt = int(request["taskId"]), int(request["attempt"])
    ctx = context_of_request(
        request,
        deadline=deadline,
    )
    lease = engine_settings.LEASE_SECONDS
    token = _token(str(request["leaseToken"])) if request.get("leaseToken") else None

    # The agent runs in this deployment: it renews the lease of its attempt (fenced by the
    # lease token of its request, and the attempt number) as a callback would.
    def heartbeat() -> bool:
        renewed = services.task_heartbeat(task_id=task_id, attempt=attempt, lease_token=token, extend_seconds=lease)
        return renewed is not None

    def report_progress(progress: dict[str, Any]) -> None:
        services.task_progress(task_id=task_id, attempt=attempt, lease_token=token, progress=progress)

    ctx.heartbeat = heartbeat
    ctx.report_progress = report_progress
    return ctx


def _failure(exc: BaseException, *, retryable: bool) -> dict[str, Any]:
    failure = {
        "error": str(exc) or type(exc).__name__,
        "retryable": retryable,
        "errorType": type(exc).__name__,
        "traceback": "".join(traceback.format_exception(exc))[-20_000:],
        "location": location_of(exc),
    }
    if getattr(exc, "retry_after", None) is not None:  # EffectInProgress: retry after the other's hold
        failure["retryAfter"] = float(exc.retry_after)
    return failure


def _retry_after(value: Any) -> float | None:
    """A report's `retryAfter` (seconds), if it is a sane number; anything else is ignored."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value <= 86_400 else None


def call_back(report: Report, url: str, *, sleep: Callable[[float], None] = time.sleep) -> bool:
    """POST a report to the callback route, retrying failures with bounded backoff.

    One webhook-id for every try: the receiver deduplicates on it. True once a
    2xx or a definitive answer (a 4xx, a 501: one `is_retryable_status` does not
    retry) arrived; False when every try failed (the task's lease then recovers
    the attempt).
    """
    body = json.dumps(report.as_body()).encode()
    msg_id = f"report_{report.task_id}_{report.attempt}_{report.type}_{time.time_ns()}"
    delay = CALLBACK_BACKOFF_SECONDS
    for attempt in range(1, CALLBACK_ATTEMPTS + 1):
        try:
            response = requests.post(
                url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    **signed_headers(body, msg_id=msg_id, route=CALLBACK_PATH),
                },
                timeout=(CONNECT_TIMEOUT_SECONDS, 30.0),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            outcome = type(exc).__name__
        else:
            if not is_retryable_status(response.status_code):
                return response.status_code < 300 or _log_refused(report, response.status_code)
            outcome = str(response.status_code)
        logger.warning(
            "callback failed",
            extra={"action": "callback_retry", "task_id": report.task_id, "try": attempt, "outcome": outcome},
        )
        if attempt < CALLBACK_ATTEMPTS:
            sleep(delay)
            delay = min(delay * 2, CALLBACK_BACKOFF_CAP_SECONDS)
    return False


def _log_refused(report: Report, status: int) -> bool:
    logger.error("callback refused", extra={"action": "callback_refused", "task_id": report.task_id, "status": status})
    return True


# --- Kicking the execute route ---------------------------------------------------------------


def kick(run_id: Any = None) -> None:
    """Ask /api/workflows/execute to run ready work now (of one run, or any). Fire and forget:
    a lost kick only delays the work until the next tick."""
    if not engine_settings.KICK:
        return
    body = json.dumps({"runId": str(run_id) if run_id else None}).encode()
    try:
        requests.post(
            settings.AGENTS_BASE_URL + EXECUTE_PATH,
            data=body,
            headers={
                "Content-Type": "application/json",
                **signed_headers(body, msg_id=f"kick_{time.time_ns()}", route=EXECUTE_PATH),
            },
            timeout=KICK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.Timeout:
        pass  # the normal case: the route keeps running without us
    except (requests.RequestException, ImproperlyConfigured) as exc:
        logger.warning("kick failed", extra={"action": "kick_failed", "error": type(exc).__name__})
        return
    logger.info("kicked", extra={"action": "kick", "run_id": str(run_id) if run_id else None})


def kick_on_commit(run_id: Any = None) -> None:
    """Kick once the current transaction has committed (the work must be visible first)."""
    transaction.on_commit(lambda: kick(run_id))
