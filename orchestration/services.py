"""The engine's public surface: every state change of runs and tasks, imported from here.

Views, admin actions, commands, agents and tests call these keyword-only
functions, never the models' internals. Each function is one transaction; each
transition is a conditional UPDATE fenced by the attempt's lease token (or its
attempt number, for agents calling back over HTTP without the token), so a report
from an attempt that no longer holds the task changes nothing and is recorded as
stale. Neither ever repeats: a token is new for every claim, and attempt
numbers go on counting through replays and retries (`Task.attempt_base`).

Lease times are the database's: on Postgres the ORM's filters and updates of
leases and due times use `queue.db_now()` (the database's `now()`), never the host's
clock.

The functions live by what they are for: `starting` (enqueue, start a run), `reports` (what
an attempt reports, and recovery), `acts` (what an operator does), on the shared `transitions`.
"""

from __future__ import annotations

from orchestration import clock, queue
from orchestration.acts import Actor, replay_plan, run_cancel, run_replay, task_retry
from orchestration.reports import (
    recover_expired_leases,
    repair_stalled_runs,
    task_complete,
    task_complete_and_claim_next,
    task_complete_batch,
    task_continue,
    task_fail,
    task_heartbeat,
    task_progress,
    task_release,
)
from orchestration.rules import run_can_cancel, run_can_replay, task_can_retry
from orchestration.starting import DEFAULT_TIMEOUT_SECONDS, enqueue, enqueue_many, run_start
from orchestration.transitions import Fence

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "Actor",
    "Fence",
    "clock",
    "enqueue",
    "enqueue_many",
    "queue",
    "recover_expired_leases",
    "repair_stalled_runs",
    "replay_plan",
    "run_can_cancel",
    "run_can_replay",
    "run_cancel",
    "run_replay",
    "run_start",
    "task_can_retry",
    "task_complete",
    "task_complete_and_claim_next",
    "task_complete_batch",
    "task_continue",
    "task_fail",
    "task_heartbeat",
    "task_progress",
    "task_release",
    "task_retry",
]
