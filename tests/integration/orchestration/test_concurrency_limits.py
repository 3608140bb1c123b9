"""Concurrency limits per key: a claim never runs more attempts of a key than its limit."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings

from orchestration import queue, services, transitions
from orchestration.conf import engine_settings
from orchestration.exceptions import InvalidLimits, InvalidWorkflow
from orchestration.limits import concurrency_key, parse_limits
from orchestration.models import AgentRun, Task, TaskStatus
from orchestration.workflows import Step, Workflow
from tests.conftest import postgres_only, start_worker

# --- Parsing and matching (no database) ----------------------------------------------


@pytest.mark.parametrize(
    ("spec", "key", "expected"),
    [
        ("design-ia=8", "design-ia", 8),
        ("design-ia=8", "ads-management", None),
        ("design-ia=8", "", None),
        ("project:*=2", "project:7f3a", 2),
        ("project:*=2", "projects", None),
        ("provider:*=5, provider:llm=2", "provider:llm", 2),  # an exact key beats a prefix
        ("p*=9, provider:*=3", "provider:vercel", 3),  # the longest prefix wins
        (" design-ia = 4 ,, ", "design-ia", 4),
        ("", "design-ia", None),
    ],
)
def test_limit_of_a_key(spec: str, key: str, expected: int | None) -> None:
    assert parse_limits(spec).limit_of(key) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("design-ia", "'design-ia' is not 'key=limit'"),
        ("=3", "'=3' is not 'key=limit'"),
        ("design-ia=many", "limit of 'design-ia' must be a whole number, got 'many'"),
        ("design-ia=0", "limit of 'design-ia' must be at least 1, got 0"),
        ("*=3", "'*' may only end a non-empty prefix"),
        ("a*b=3", "'*' may only end a prefix"),
    ],
)
def test_a_bad_limits_spec_names_the_bad_entry(spec: str, message: str) -> None:
    with pytest.raises(InvalidLimits, match=message.replace("*", r"\*")):
        parse_limits(spec)


def test_a_bad_limits_variable_stops_start_up_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import runpy

    from django.core import checks

    from orchestration.checks import refuse_bad_settings

    monkeypatch.setenv("ENGINE_CONCURRENCY_LIMITS", "design-ia=-1")
    read = runpy.run_path(str(settings.BASE_DIR / "config" / "settings.py"))  # what a new process reads
    with override_settings(ORCHESTRATION=read["ORCHESTRATION"]):
        [error] = checks.run_checks(tags=["orchestration"])  # what `manage.py check` and run_worker run first
        with pytest.raises(ImproperlyConfigured, match=r"\(orchestration\.E002\) ENGINE_CONCURRENCY_LIMITS"):
            refuse_bad_settings()  # what config/wsgi.py runs
    assert error.id == "orchestration.E002"
    assert error.is_serious()
    assert error.msg.startswith("ENGINE_CONCURRENCY_LIMITS (ORCHESTRATION['CONCURRENCY_LIMITS']) is invalid: limit of")


def test_like_patterns_escape_wildcards_in_keys() -> None:
    assert parse_limits("a_b=1,c%*=2").like_patterns() == ["a\\_b", "c\\%%"]


def test_key_templates_name_the_agent_the_run_or_the_project() -> None:
    assert concurrency_key("{agent}", action="design-ia.generate") == "design-ia"
    assert concurrency_key("{action}", action="design-ia.generate") == "design-ia.generate"
    assert concurrency_key("project:{project}", action="a.b", project_id="p1") == "project:p1"
    assert concurrency_key("run:{run}", action="a.b") == "run:-"


def test_a_step_with_an_unknown_placeholder_is_refused_at_registration() -> None:
    with pytest.raises(InvalidWorkflow, match=r"Step 'x' of 'w': concurrency key '\{customer\}'"):
        Workflow(name="w", version=1, steps=(Step("x", "a.b", concurrency_key="{customer}"),))


# --- Claims, on whichever database runs the suite --------------------------------------


def limited(spec: str):
    return override_settings(ORCHESTRATION={**settings.ORCHESTRATION, "CONCURRENCY_LIMITS": parse_limits(spec)})


def claimed_keys(batch) -> list[str]:
    return list(Task.objects.filter(id__in=[t.id for t in batch]).values_list("concurrency_key", flat=True))


@pytest.mark.django_db
def test_a_claim_never_takes_more_of_a_key_than_its_limit(clock) -> None:
    services.enqueue_many("engine.noop", [{} for _ in range(10)], concurrency_key="provider:x")
    with limited("provider:x=3"):
        batches = [queue.claim(limit=10, worker=f"w{i}", now=clock.now()) for i in range(4)]
        assert [len(b) for b in batches] == [1, 1, 1, 0]
        services.task_complete(task_id=batches[0][0].id, output={}, lease_token=batches[0][0].lease_token)
        again = queue.claim(limit=10, worker="w5", now=clock.now())
    assert len(again) == 1, "a finished attempt frees its slot"


@pytest.mark.django_db
def test_one_claim_takes_at_most_one_attempt_of_a_limited_key(clock) -> None:
    """A worker runs its batch one task after another: hoarding slots would idle the others."""
    services.enqueue_many("engine.noop", [{} for _ in range(5)], concurrency_key="provider:x")
    services.enqueue_many("engine.noop", [{} for _ in range(5)], concurrency_key="provider:y")
    with limited("provider:*=5"):
        batch = queue.claim(limit=10, worker="w", now=clock.now())
    assert sorted(claimed_keys(batch)) == ["provider:x", "provider:y"]


@pytest.mark.django_db
@pytest.mark.parametrize("spec", ["provider:x=2", "provider:*=2"], ids=["exact-key", "prefix"])
def test_a_key_at_its_limit_does_not_block_other_work_behind_it(clock, spec: str) -> None:
    """Its backlog at the head of the queue is left out of the claim's window (the full keys
    are read from the limits, exact and by prefix), so the window reaches the work behind it."""
    services.enqueue_many("engine.noop", [{} for _ in range(20)], concurrency_key="provider:x")
    later = clock.now() + timedelta(seconds=1)
    free = services.enqueue_many("engine.noop", [{} for _ in range(4)], run_after=later)
    clock.advance(1)
    with limited(spec):
        batches = [queue.claim(limit=5, worker="w", now=clock.now()) for _ in range(4)]
    taken = [t.id for batch in batches for t in batch]
    assert set(free) <= set(taken), "unlimited work behind a full key is still claimed"
    assert claimed_keys([t for b in batches for t in b]).count("provider:x") == 2


@pytest.mark.django_db
def test_a_prefix_limit_applies_to_each_key_separately(clock) -> None:
    for project in ("p1", "p2"):
        services.enqueue_many("engine.noop", [{} for _ in range(3)], concurrency_key=f"project:{project}")
    with limited("project:*=1"):
        batch = queue.claim(limit=10, worker="w", now=clock.now())
    assert sorted(claimed_keys(batch)) == ["project:p1", "project:p2"]


@pytest.mark.django_db
def test_unlisted_keys_are_unlimited(clock) -> None:
    services.enqueue_many("engine.noop", [{} for _ in range(6)], concurrency_key="provider:y")
    with limited("provider:x=1"):
        assert len(queue.claim(limit=10, worker="w", now=clock.now())) == 6


@pytest.mark.django_db
def test_a_dead_workers_attempt_holds_its_slot_until_its_lease_is_recovered(clock) -> None:
    services.enqueue_many("engine.noop", [{} for _ in range(3)], concurrency_key="provider:x")
    with limited("provider:x=1"):
        assert len(queue.claim(limit=10, worker="dies", now=clock.now())) == 1
        clock.advance(engine_settings.LEASE_SECONDS / 2)
        assert queue.claim(limit=10, worker="w", now=clock.now()) == []
        clock.advance(engine_settings.LEASE_SECONDS)
        assert services.recover_expired_leases() == 1
        assert len(queue.claim(limit=10, worker="w", now=clock.now())) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("stop", ["cancel", "fail-fast"])
def test_a_fenced_off_attempt_keeps_its_slot_until_its_lease_runs_out(clock, stop: str) -> None:
    """A cancel (or fail-fast) fences a running attempt off at once, but it may still be
    executing: its key's slot stays taken until it reports or its lease runs out."""
    from orchestration.services import Actor

    run = services.run_start(workflow="test-shared-provider", input={"seconds": 0})
    services.enqueue("engine.noop", concurrency_key="engine")  # behind the run's first step
    with limited("engine=1"):
        [step] = queue.claim(limit=10, worker="w", now=clock.now())
        assert step.run_id == str(run.id)
        if stop == "cancel":
            services.run_cancel(run=run, actor=Actor(label="test"))
        else:  # the run fails for good while its step runs (a fail-fast run)
            run.definition = {**run.definition, "fail_fast": True}
            run.save(update_fields=["definition"])
            transitions.finish_run(run, "failed", clock.now(), error="another step died")
        assert Task.objects.get(id=step.id).status == TaskStatus.CANCELLED
        assert services.task_heartbeat(task_id=step.id, lease_token=step.lease_token, extend_seconds=60) is None
        assert queue.claim(limit=10, worker="w2", now=clock.now()) == [], "the fenced attempt still holds the slot"
        clock.advance(engine_settings.LEASE_SECONDS + 1)
        assert len(queue.claim(limit=10, worker="w2", now=clock.now())) == 1, "its lease ran out: the slot is free"


@pytest.mark.django_db
def test_workflow_steps_count_against_their_agent_by_default() -> None:
    run = services.run_start(workflow="test-shared-provider", input={"seconds": 0})
    keys = dict(run.tasks.values_list("step", "concurrency_key"))
    assert keys == {"prepare": "engine", "call": "provider:fake", "finish": "engine"}


@pytest.mark.django_db
def test_the_order_workflow_shares_the_design_and_ads_limits() -> None:
    from orders.models import Project

    project = Project.objects.create(business_name="Boulangerie Martin", contact_email="a@example.com")
    run = services.run_start(workflow="order", input={"project_id": str(project.id)}, project=project)
    keys = dict(run.tasks.values_list("step", "concurrency_key"))
    assert keys["design"] == "design-ia"
    assert keys["campaign"] == "ads-management"
    assert queue.concurrency_limits().limit_of("design-ia") == 8


# --- Real concurrency ------------------------------------------------------------------


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_claimers_never_exceed_a_limit_of_three() -> None:
    ids = services.enqueue_many("engine.noop", [{} for _ in range(120)], concurrency_key="provider:x")
    running = 0
    peak = 0
    over: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        nonlocal running, peak
        try:
            for _ in range(2000):  # bounded
                batch = queue.claim(limit=4, worker=name, now=services.clock.now())
                if not batch:
                    if not Task.objects.filter(status=TaskStatus.QUEUED).exists():
                        return
                    time.sleep(0.002)
                    continue
                in_db = Task.objects.filter(status=TaskStatus.RUNNING, concurrency_key="provider:x").count()
                with lock:
                    running += len(batch)
                    peak = max(peak, running)
                    if in_db > 3:
                        over.append(in_db)
                time.sleep(0.003)
                with lock:
                    running -= len(batch)
                for t in batch:
                    services.task_complete(task_id=t.id, output={}, lease_token=t.lease_token)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with limited("provider:x=3"):
        threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert not errors, errors
    assert not over, f"the database saw {max(over)} running attempts of a key limited to 3"
    assert peak <= 3
    assert Task.objects.filter(id__in=ids, status=TaskStatus.SUCCEEDED).count() == 120


def peak_overlap(intervals: list[tuple]) -> int:
    """The largest number of intervals open at one instant (ends sort before starts)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    peak = current = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_fifty_orders_on_four_workers_share_a_provider_limited_to_three() -> None:
    runs = [services.run_start(workflow="test-shared-provider", input={"seconds": 0.3}) for _ in range(50)]
    worker = start_worker("--processes", "4", "--drain", ENGINE_CONCURRENCY_LIMITS="provider:fake=3")
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and Task.objects.exclude(status=TaskStatus.SUCCEEDED).exists():
            time.sleep(0.2)
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=60)
    assert not Task.objects.exclude(status=TaskStatus.SUCCEEDED).exists(), output[-3000:]
    assert AgentRun.objects.filter(task__step="call", run__in=runs, outcome="succeeded").count() == 50
    # Each call's own window (the action's clock, inside its slot): the attempt rows' stamps are
    # taken before the claim and completion statements, so two attempts that hand a slot over
    # within a millisecond would seem to overlap though the database never ran both at once.
    calls = [
        tuple(out["window"]) for out in Task.objects.filter(step="call", run__in=runs).values_list("output", flat=True)
    ]
    assert len(calls) == 50
    peak = peak_overlap(calls)
    assert peak <= 3, f"{peak} calls to the provider at once; its limit is 3"
    assert peak >= 2, "the provider's calls were spread over the workers, not serialised"
