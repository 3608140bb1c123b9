"""The load test's own plain task, importable by workers and the agents' HTTP server through
ENGINE_ACTION_MODULES=orders.loadtest_actions.

`engine.loadtest-sink` does one visible side effect, then (for a long task) takes its time:
it appends one line to the sink file named in its input, with the task, attempt and
idempotency key, before it sleeps. The driver counts the lines: a task whose action ran
twice has two. It is named under the `engine` agent so the HTTP dispatch can reach it too
(gateway/views/agents.py serves only the known agents' routes).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from orchestration.registry import TaskContext, action

SINK_ACTION = "engine.loadtest-sink"


@action(SINK_ACTION)
def sink(ctx: TaskContext) -> dict[str, Any]:
    line = {
        "task": ctx.task_id,
        "attempt": ctx.attempt,
        "key": ctx.idempotency_key,
        "pid": os.getpid(),
        "t": time.time(),  # this process's clock (skewed under faketime): the driver corrects it by pid
    }
    # One short line per write() in append mode: lines from concurrent processes never interleave.
    with open(ctx.input["sink"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
    seconds = float(ctx.input.get("seconds", 0))
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))
        ctx.heartbeat()  # a long task renews its own lease, as a real long agent call does
    return {"task": ctx.task_id, "attempt": ctx.attempt, "key": ctx.idempotency_key}
