"""Actions used by the engine's tests, importable by worker processes through
ENGINE_ACTION_MODULES=tests.actions. Each leaves evidence the tests can read."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from orchestration.exceptions import PermanentError, RetryableError
from orchestration.registry import Continue, TaskContext, action
from orchestration.retry import RetryPolicy
from orchestration.workflows import Step, Workflow, register_workflow


def _log_execution(ctx: TaskContext) -> None:
    """Append one line per execution to the file named in the payload (O_APPEND writes are atomic)."""
    path = ctx.input.get("log")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{ctx.task_id} {ctx.attempt} {os.getpid()}\n")


@action("test.record")
def record(ctx: TaskContext) -> dict[str, Any]:
    _log_execution(ctx)
    return {"task": ctx.task_id}


@action("test.sleep")
def sleep(ctx: TaskContext) -> dict[str, Any]:
    """Sleeps `seconds`, then records itself: a worker killed meanwhile leaves no record."""
    marker = ctx.input.get("started")
    if marker:
        with open(marker, "a") as fh:
            fh.write(f"{ctx.task_id} {ctx.attempt} {os.getpid()}\n")
    began = time.time()
    time.sleep(float(ctx.input.get("seconds", 1)))
    _log_execution(ctx)
    # Its own window, inside the attempt's: between the claim's commit and the completion's.
    return {"slept": ctx.input.get("seconds", 1), "window": [began, time.time()]}


@action("test.flaky")
def flaky(ctx: TaskContext) -> dict[str, Any]:
    """Fails with a retryable error until attempt `succeed_on`."""
    if ctx.attempt < int(ctx.input.get("succeed_on", 2)):
        raise RetryableError(f"transient failure on attempt {ctx.attempt}")
    return {"attempt": ctx.attempt}


@action("test.permanent")
def permanent(ctx: TaskContext) -> dict[str, Any]:
    raise PermanentError("the brief is invalid")


@action("test.crash")
def crash(ctx: TaskContext) -> dict[str, Any]:
    raise RuntimeError("unexpected bug")


@action("test.fail_unless")
def fail_unless(ctx: TaskContext) -> dict[str, Any]:
    """Fails for good unless the flag file named in the input exists (replay tests)."""
    if not os.path.exists(ctx.input["flag"]):
        raise PermanentError("flag missing")
    return {"ok": True, "inputs": sorted(ctx.inputs)}


@action("test.fail_unless_named")
def fail_unless_named(ctx: TaskContext) -> dict[str, Any]:
    """Fails for good unless the flag file `<flags>/<step>` exists: each step has its own fix."""
    if not os.path.exists(os.path.join(ctx.input["flags"], ctx.step)):
        raise PermanentError(f"flag for {ctx.step} missing")
    return {"ok": True}


@action("test.chunks")
def chunks(ctx: TaskContext) -> dict[str, Any] | Continue:
    """Processes `chunks` chunks of `cost` seconds each, checkpointing when the budget runs short."""
    done = list(ctx.cursor or [])
    total = int(ctx.input.get("chunks", 3))
    cost = float(ctx.input.get("cost", 0.6))
    while len(done) < total:
        if done and ctx.time_left() < cost:
            return Continue(cursor=done, progress={"done": len(done), "total": total})
        advance = ctx.input.get("_advance")
        if advance is None:
            time.sleep(cost)
        else:  # a fake clock: the test moves time forward instead of sleeping
            _CLOCK_ADVANCERS[advance](cost)
        done.append(len(done))
    return {"chunks": done}


_CLOCK_ADVANCERS: dict[str, Any] = {}


DIAMOND = register_workflow(
    Workflow(
        name="test-diamond",
        version=1,
        steps=(
            Step("start", "engine.echo"),
            Step("left", "engine.echo", needs=("start",)),
            Step("right", "engine.echo", needs=("start",)),
            Step("join", "engine.echo", needs=("left", "right")),
        ),
    )
)

FRAGILE = register_workflow(
    Workflow(
        name="test-fragile",
        version=1,
        steps=(
            Step("a", "engine.echo"),
            Step("b", "engine.echo"),
            Step("c", "test.fail_unless", needs=("a",), retry=RetryPolicy(max_attempts=1)),
            Step("d", "engine.echo", needs=("c", "b")),
        ),
    )
)

VERSIONED = register_workflow(Workflow(name="test-versioned", version=1, steps=(Step("only", "engine.echo"),)))

# Two branches that can both fail (each on its own flag file), joined at the end.
TWO_FRAGILE = register_workflow(
    Workflow(
        name="test-two-fragile",
        version=1,
        steps=(
            Step("a", "engine.echo"),
            Step("left", "test.fail_unless_named", needs=("a",), retry=RetryPolicy(max_attempts=1)),
            Step("right", "test.fail_unless_named", needs=("a",), retry=RetryPolicy(max_attempts=1)),
            Step("join", "engine.echo", needs=("left", "right")),
        ),
    )
)

SLOW = register_workflow(
    Workflow(
        name="test-slow",
        version=1,
        steps=(
            Step("first", "engine.echo"),
            Step(
                "slow",
                "test.sleep",
                needs=("first",),
                timeout_seconds=60.0,
                retry=RetryPolicy(max_attempts=3, base_seconds=0.1, cap_seconds=0.2),
            ),
            Step("last", "engine.echo", needs=("slow",)),
        ),
    )
)


# 50 orders sharing one rate-limited provider: each run's `call` step counts
# against the "provider:fake" key, whatever its agent.
SHARED_PROVIDER = register_workflow(
    Workflow(
        name="test-shared-provider",
        version=1,
        steps=(
            Step("prepare", "engine.echo"),
            Step("call", "test.sleep", needs=("prepare",), concurrency_key="provider:fake"),
            Step("finish", "engine.echo", needs=("call",)),
        ),
    )
)


@action("test.flaky_upstream")
def flaky_upstream(ctx: TaskContext) -> dict[str, Any]:
    """A dependency answering garbage once: a ValueError from outside is not a bug of ours."""
    if ctx.attempt < 2:
        json.loads("<html>502 Bad Gateway</html>")
    return {"attempt": ctx.attempt}


@action("test.unstorable_output")
def unstorable_output(ctx: TaskContext) -> dict[str, Any]:
    return {"when": object()}
