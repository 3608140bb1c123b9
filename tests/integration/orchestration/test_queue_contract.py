"""The queue's contract, part one: a fixed list of operations (orchestration.queue.OPERATIONS),
each with both implementations; and the rules of inserting and claiming, held against both by
calling each one's function directly and reading the rows (tests/support/queue_contract.py says where
each runs). The completions, attempts and leases: tests/integration/orchestration/test_queue_contract_reports.py.

The engine's clock is set (the `clock` fixture) unless a rule is about the database's own clock:
with it set, both implementations read that time instead of the database's, so a rule can be
checked to the microsecond.
"""

from __future__ import annotations

import ast
import inspect
import uuid
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.utils import timezone

from orchestration import queue
from orchestration.limits import parse_limits
from orchestration.models import AgentRun, RunStatus, Task, TaskStatus, WorkflowRun
from tests.support.queue_contract import IMPLEMENTATIONS, a_run, claimed_ids, load, plain, running

pytestmark = pytest.mark.django_db


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return load(request.param)


def insert_one(impl: ModuleType, now: Any, **overrides: Any) -> Any:
    params = {
        "action": "engine.echo",
        "payload_json": '{"n": 1}',
        "priority": 0,
        "run_after": now,
        "max_attempts": 3,
        "retry_json": '{"max_attempts": 3}',
        "timeout_seconds": 20.0,
        "idempotency_key": None,
        "now": now,
        "concurrency_key": "",
    }
    return impl.insert_task(**{**params, **overrides})


def insert_many(impl: ModuleType, now: Any, payloads: list[dict[str, Any]], **overrides: Any) -> list[int]:
    params = {
        "action": "engine.echo",
        "payloads": payloads,
        "priority": 2,
        "run_after": now,
        "max_attempts": 4,
        "retry": {"max_attempts": 4},
        "timeout_seconds": 15.0,
        "idempotency_key": None,
        "now": now,
        "concurrency_key": "k",
    }
    return impl.insert_tasks(**{**params, **overrides})


# --- The guard: one list of operations, two implementations with one signature each ----------


def test_every_operation_has_both_implementations_with_one_signature() -> None:
    pg = load("queue_pg")
    portable = load("queue_portable")
    assert len(set(queue.OPERATIONS)) == len(queue.OPERATIONS)
    for name in queue.OPERATIONS:
        face, one, other = (getattr(module, name, None) for module in (queue, pg, portable))
        assert callable(one), f"queue_pg has no {name}"
        assert callable(other), f"queue_portable has no {name}"
        assert inspect.signature(one) == inspect.signature(other), name
        assert inspect.signature(face) == inspect.signature(one), f"queue.{name} differs from its implementations"


def test_each_operation_of_the_queue_hands_its_call_to_the_implementation_of_the_database(monkeypatch) -> None:
    calls = []

    class Recorder:
        def __getattr__(self, name: str) -> Any:
            return lambda **kwargs: calls.append((name, kwargs))

    monkeypatch.setattr(queue, "implementation", Recorder)
    for name in queue.OPERATIONS:
        parameters = inspect.signature(getattr(queue, name)).parameters
        getattr(queue, name)(**{p: f"<{p}>" for p in parameters})
        assert calls.pop() == (name, {p: f"<{p}>" for p in parameters})


ENGINE = Path(__file__).resolve().parents[3] / "orchestration"
QUEUE_MODULES = {"queue.py", "queue_pg.py", "queue_portable.py", "queue_shared.py"}
# Modules that may ask which database this is, each with why. LISTEN is PostgreSQL's: a worker
# listens for NOTIFY only there (the choice of a connection, not of a state transition).
MAY_ASK_THE_DATABASE = {"listener.py"}


def _asks_the_database(tree: ast.AST) -> list[int]:
    """Lines that call is_postgres() or read a connection's `vendor`."""
    lines = []
    for node in ast.walk(tree):
        called = isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Name) and node.func.id == "is_postgres")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "is_postgres")
        )
        if called or (isinstance(node, ast.Attribute) and node.attr == "vendor"):
            lines.append(node.lineno)
    return lines


def test_no_engine_module_but_the_queue_chooses_by_database() -> None:
    # A service that branched on the database would write its state transition twice, once
    # per backend: the queue's operations are where that choice is made, once.
    found = {}
    for path in sorted(ENGINE.rglob("*.py")):
        if path.name in QUEUE_MODULES | MAY_ASK_THE_DATABASE or "migrations" in path.parts:
            continue
        lines = _asks_the_database(ast.parse(path.read_text()))
        if lines:
            found[str(path.relative_to(ENGINE))] = lines
    assert found == {}


def test_the_guard_sees_each_way_of_asking_which_database_it_is() -> None:
    assert _asks_the_database(ast.parse("queue.is_postgres()"))
    assert _asks_the_database(ast.parse("is_postgres()"))
    assert _asks_the_database(ast.parse("if connection.vendor == 'sqlite': pass"))
    assert not _asks_the_database(ast.parse("queue.claim(limit=1, worker='w', now=now)"))


def _project_modules() -> list[Path]:
    """Every module of the project's packages but the tests (theirs may call one directly)."""
    packages = [p for p in sorted(ENGINE.parent.iterdir()) if (p / "__init__.py").is_file() and p.name != "tests"]
    return [path for package in packages for path in sorted(package.rglob("*.py"))]


def test_only_the_queues_face_imports_its_implementations() -> None:
    # Services call queue.<operation>; which implementation runs is the queue's to say.
    implementations = {"orchestration." + name.removesuffix(".py") for name in QUEUE_MODULES - {"queue.py"}}
    found = {}
    for path in _project_modules():
        if path.parent == ENGINE and path.name in QUEUE_MODULES:
            continue
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
        if names & implementations:
            found[str(path.relative_to(ENGINE.parent))] = sorted(names & implementations)
    assert found == {}


def test_the_implementation_is_the_one_of_the_connections_database() -> None:
    from django.db import connection

    expected = "queue_pg" if connection.vendor == "postgresql" else "queue_portable"
    assert queue.implementation().__name__ == f"orchestration.{expected}"


# --- insert_task -----------------------------------------------------------------------------


def test_insert_task_stores_one_queued_task_and_returns_it_as_stored(impl, clock) -> None:
    now = clock.now()
    inserted = insert_one(impl, now, priority=3, concurrency_key="k", idempotency_key="once")
    task = Task.objects.get(id=inserted.id)
    assert (task.status, task.action, task.input, task.priority, task.run_after) == (
        TaskStatus.QUEUED,
        "engine.echo",
        {"n": 1},
        3,
        now,
    )
    assert (task.max_attempts, task.retry, task.timeout_seconds) == (3, {"max_attempts": 3}, 20.0)
    assert (task.idempotency_key, task.concurrency_key, task.attempt, task.run_id, task.step) == (
        "once",
        "k",
        0,
        None,
        "",
    )
    assert (inserted.run_after, inserted.created_at) == (task.run_after, task.created_at)


def test_insert_task_with_a_key_that_exists_inserts_nothing_and_returns_none(impl, clock) -> None:
    first = insert_one(impl, clock.now(), idempotency_key="once")
    assert insert_one(impl, clock.now(), idempotency_key="once", payload_json='{"n": 2}') is None
    assert list(Task.objects.values_list("id", "input")) == [(first.id, {"n": 1})]


def test_insert_task_without_run_after_is_due_at_once(impl) -> None:
    inserted = insert_one(impl, timezone.now(), run_after=None)
    assert inserted.run_after <= timezone.now() + timedelta(seconds=1)
    assert claimed_ids(impl, timezone.now() + timedelta(seconds=1)) == [inserted.id]


def test_insert_task_due_later_is_not_claimed_before(impl, clock) -> None:
    later = clock.now() + timedelta(seconds=30)
    inserted = insert_one(impl, clock.now(), run_after=later)
    assert claimed_ids(impl, later - timedelta(microseconds=1)) == []
    assert claimed_ids(impl, later) == [inserted.id]


# --- insert_tasks ----------------------------------------------------------------------------


def test_insert_tasks_returns_the_ids_in_the_payloads_order(impl, clock) -> None:
    ids = insert_many(impl, clock.now(), [{"n": 2}, {"n": 1}, {"n": 3}])
    rows = {t.id: t for t in Task.objects.all()}
    assert [rows[i].input for i in ids] == [{"n": 2}, {"n": 1}, {"n": 3}]
    assert {
        (t.status, t.priority, t.max_attempts, t.retry["max_attempts"], t.concurrency_key) for t in rows.values()
    } == {(TaskStatus.QUEUED, 2, 4, 4, "k")}


def test_insert_tasks_of_no_payload_inserts_nothing(impl, clock) -> None:
    assert insert_many(impl, clock.now(), []) == []
    assert not Task.objects.exists()


def test_insert_tasks_with_a_key_inserts_one_task_at_most(impl, clock) -> None:
    [first] = insert_many(impl, clock.now(), [{"n": 1}, {"n": 2}], idempotency_key="batch")
    assert insert_many(impl, clock.now(), [{"n": 3}], idempotency_key="batch") == []
    assert list(Task.objects.values_list("id", "input")) == [(first, {"n": 1})]


# --- insert_run ------------------------------------------------------------------------------


def run_and_steps(key: str | None = None) -> tuple[WorkflowRun, list[dict[str, Any]]]:
    run = WorkflowRun(
        id=uuid.uuid4(),
        workflow="contract",
        version=2,
        definition={"name": "contract"},
        input={"order": 7},
        idempotency_key=key,
        status=RunStatus.RUNNING,
        created_at=timezone.now(),
    )
    steps = [
        {
            "step": name,
            "action": "engine.noop",
            "needs": needs,
            "status": TaskStatus.WAITING if needs else TaskStatus.QUEUED,
            "priority": 1,
            "max_attempts": 2,
            "retry": {"max_attempts": 2},
            "timeout_seconds": 9.0,
            "input": run.input,
            "idempotency_key": f"{run.id}:{name}:g1",
            "concurrency_key": f"step:{name}",
        }
        for name, needs in (("a", []), ("b", ["a"]))
    ]
    return run, steps


def test_insert_run_stores_the_run_and_its_steps_queued_or_waiting(impl, clock) -> None:
    run, steps = run_and_steps()
    assert impl.insert_run(run=run, steps=steps, now=clock.now()) is True
    stored = WorkflowRun.objects.get(id=run.id)
    assert (stored.status, stored.workflow, stored.version, stored.input, stored.generation) == (
        RunStatus.RUNNING,
        "contract",
        2,
        {"order": 7},
        1,
    )
    tasks = {t.step: t for t in Task.objects.filter(run=run)}
    assert {name: t.status for name, t in tasks.items()} == {"a": TaskStatus.QUEUED, "b": TaskStatus.WAITING}
    assert tasks["b"].needs == ["a"] and tasks["b"].input == {"order": 7}
    assert {(t.run_after, t.priority, t.max_attempts, t.timeout_seconds) for t in tasks.values()} == {
        (clock.now(), 1, 2, 9.0)
    }
    assert tasks["a"].idempotency_key == f"{run.id}:a:g1" and tasks["a"].concurrency_key == "step:a"


def test_insert_run_with_a_key_that_exists_inserts_nothing(impl, clock) -> None:
    first, steps = run_and_steps(key="order-7")
    assert impl.insert_run(run=first, steps=steps, now=clock.now())
    second, steps = run_and_steps(key="order-7")
    assert impl.insert_run(run=second, steps=steps, now=clock.now()) is False
    assert list(WorkflowRun.objects.values_list("id", flat=True)) == [first.id]
    assert Task.objects.count() == 2


# --- claim -----------------------------------------------------------------------------------


def test_a_claim_takes_by_priority_then_due_time_then_id(impl, clock) -> None:
    now = clock.now()
    older = plain(now - timedelta(seconds=5))
    late_first, late_second = plain(now), plain(now)
    urgent = plain(now, priority=5)
    taken = [claimed_ids(impl, now, limit=1) for _ in range(5)]
    assert taken == [[urgent.id], [older.id], [late_first.id], [late_second.id], []]


def test_a_claim_takes_only_due_queued_tasks(impl, clock) -> None:
    now = clock.now()
    due = plain(now)
    plain(now + timedelta(seconds=1))
    plain(now, status=TaskStatus.WAITING)
    plain(now, status=TaskStatus.SUCCEEDED)
    assert claimed_ids(impl, now) == [due.id]
    assert claimed_ids(impl, now) == [], "a running task is not claimed again"


def test_a_claim_takes_at_most_its_limit_and_nothing_for_no_limit(impl, clock) -> None:
    for _ in range(3):
        plain(clock.now())
    assert impl.claim(limit=0, worker="w", now=clock.now()) == []
    assert len(impl.claim(limit=2, worker="w", now=clock.now())) == 2
    assert len(impl.claim(limit=2, worker="w", now=clock.now())) == 1


def test_a_claim_takes_one_workflow_step_and_every_plain_task_and_hands_the_step_first(impl, clock) -> None:
    now = clock.now()
    _, steps = a_run(now, {"a": [], "b": [], "c": []})
    first, second = plain(now), plain(now)
    claimed = impl.claim(limit=10, worker="w", now=now)
    assert [t.id for t in claimed] == [steps["a"].id, first.id, second.id]
    assert claimed[0].step == "a" and claimed[0].run_id == str(steps["a"].run_id)
    assert claimed_ids(impl, now) == [steps["b"].id]


def test_a_claim_of_one_run_takes_only_that_runs_tasks(impl, clock) -> None:
    now = clock.now()
    plain(now, priority=9)
    run, steps = a_run(now, {"a": []})
    a_run(now, {"other": []})
    assert claimed_ids(impl, now, run_id=run.id) == [steps["a"].id]


def test_a_claim_leases_each_task_to_the_worker_and_opens_its_attempt(impl, clock, settings) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "LEASE_SECONDS": 25}
    now = clock.now()
    short, long = plain(now, timeout_seconds=10.0), plain(now, timeout_seconds=60.0, attempt=2)
    claimed = impl.claim(limit=10, worker="worker-1", now=now)
    assert len({t.lease_token for t in claimed}) == 1, "one token per claim"
    token = claimed[0].lease_token
    rows = {t.id: t for t in Task.objects.all()}
    assert {(r.status, r.lease_token, r.claimed_by, r.started_at) for r in rows.values()} == {
        (TaskStatus.RUNNING, token, "worker-1", now)
    }
    assert rows[short.id].lease_expires_at == now + timedelta(seconds=10), "the step's timeout"
    assert rows[long.id].lease_expires_at == now + timedelta(seconds=25), "the engine's lease at most"
    assert (rows[short.id].attempt, rows[long.id].attempt) == (1, 3)
    attempts = AgentRun.objects.order_by("task_id")
    assert [(a.task_id, a.attempt, a.lease_token, a.worker, a.outcome, a.started_at) for a in attempts] == [
        (short.id, 1, token, "worker-1", "running", now),
        (long.id, 3, token, "worker-1", "running", now),
    ]
    assert {(t.attempt, t.lease_expires_at, t.claimed_at, t.idempotency_key) for t in claimed if t.id == short.id} == {
        (1, now + timedelta(seconds=10), now, f"task:{short.id}")
    }


def test_a_claim_of_a_continuation_goes_on_with_the_same_attempt(impl, clock) -> None:
    started = clock.now() - timedelta(minutes=1)
    task = plain(clock.now(), attempt=2, resume=True, cursor={"page": 3}, started_at=started)
    claimed = running(impl, clock.now(), task)
    task.refresh_from_db()
    assert (claimed.attempt, claimed.cursor, task.attempt, task.resume, task.started_at) == (
        2,
        {"page": 3},
        2,
        False,
        started,
    )


def test_a_claim_hands_over_what_the_executor_needs(impl, clock) -> None:
    now = clock.now()
    run, steps = a_run(now, {"a": [], "b": ["a"]})
    Task.objects.filter(id=steps["a"].id).update(status=TaskStatus.SUCCEEDED, output={"k": 1})
    Task.objects.filter(id=steps["b"].id).update(status=TaskStatus.QUEUED, input={"order": 1}, max_attempts=5)
    [claimed] = impl.claim(limit=1, worker="w", now=now)
    assert (claimed.id, claimed.run_id, claimed.step, claimed.action, claimed.needs) == (
        steps["b"].id,
        str(run.id),
        "b",
        "engine.noop",
        ["a"],
    )
    assert (claimed.input, claimed.max_attempts, claimed.timeout_seconds) == ({"order": 1}, 5, 60.0)
    # The claim may read the needed steps' outputs itself (None: the executor reads them).
    assert claimed.inputs in (None, {"a": {"k": 1}})


def test_a_claim_keeps_each_limited_key_within_its_free_slots_one_task_per_key(impl, clock, settings) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "CONCURRENCY_LIMITS": parse_limits("full=1,roomy=3")}
    now = clock.now()
    plain(now, concurrency_key="full", status=TaskStatus.RUNNING, lease_expires_at=now + timedelta(minutes=1))
    plain(now, concurrency_key="full")
    roomy = [plain(now, concurrency_key="roomy") for _ in range(2)]
    free = plain(now, concurrency_key="unlimited")
    assert claimed_ids(impl, now) == [roomy[0].id, free.id]
    assert claimed_ids(impl, now) == [roomy[1].id]
    assert claimed_ids(impl, now) == []


def test_a_fenced_off_attempt_holds_its_slot_until_its_lease_runs_out(impl, clock, settings) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "CONCURRENCY_LIMITS": parse_limits("k=1")}
    now = clock.now()
    plain(now, concurrency_key="k", status=TaskStatus.CANCELLED, lease_expires_at=now + timedelta(seconds=5))
    waiting = plain(now, concurrency_key="k")
    assert claimed_ids(impl, now) == []
    assert claimed_ids(impl, now + timedelta(seconds=5)) == [waiting.id]
