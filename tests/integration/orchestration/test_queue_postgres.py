"""The queue's SQL on real Postgres: concurrent claimers never share a task."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orchestration import clock, queue, services
from orchestration.limits import parse_limits
from orchestration.models import Task
from tests.conftest import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


# Both claim statements: the plain one (no limits configured) and the one under limits.
claim_paths = pytest.mark.parametrize("limits", ["", "design-ia=8,ads-management=8"], ids=["plain", "limited"])


@claim_paths
def test_eight_concurrent_claimers_never_claim_the_same_task(limits, settings) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "CONCURRENCY_LIMITS": parse_limits(limits)}
    services.enqueue_many("engine.noop", [{} for _ in range(600)])
    claimed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def claimer(name: str) -> None:
        try:
            for _ in range(1000):  # bounded
                batch = queue.claim(limit=7, worker=name, now=clock.now())
                if not batch:
                    return
                with lock:
                    claimed.extend(t.id for t in batch)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    counts = Counter(claimed)
    assert len(counts) == 600
    assert max(counts.values()) == 1
    assert not Task.objects.filter(status="queued").exists()


def test_claim_uses_the_partial_index() -> None:
    services.enqueue_many("engine.noop", [{} for _ in range(50)])
    with connection.cursor() as cur:
        cur.execute("ANALYZE orchestration_task")
        cur.execute("SET enable_seqscan = off")
        cur.execute(
            "EXPLAIN SELECT id FROM orchestration_task WHERE status = 'queued' AND run_after <= now() "
            "ORDER BY priority DESC, run_after, id LIMIT 10 FOR UPDATE SKIP LOCKED"
        )
        plan = "\n".join(row[0] for row in cur.fetchall())
        cur.execute("RESET enable_seqscan")
    assert "task_claim_order" in plan, plan


def test_enqueue_outside_a_transaction_takes_one_statement_and_honours_the_idempotency_key() -> None:
    with CaptureQueriesContext(connection) as queries:
        first = services.enqueue("engine.noop", {"n": 1}, idempotency_key="invoice-7")
    assert len(queries) == 1, [q["sql"] for q in queries]
    second = services.enqueue("engine.noop", {"n": 2}, idempotency_key="invoice-7")
    assert first.id == second.id
    assert Task.objects.get(id=first.id).input == {"n": 1}


def test_bulk_enqueue_returns_ids_in_payload_order() -> None:
    ids = services.enqueue_many("engine.echo", [{"n": i} for i in range(100)])
    inputs = dict(Task.objects.filter(id__in=ids).values_list("id", "input"))
    assert [inputs[i]["n"] for i in ids] == list(range(100))


@claim_paths
def test_branches_finishing_at_the_same_moment_queue_the_join_exactly_once(limits, settings) -> None:
    """Fan-in under real concurrency: two connections complete `left` and `right` together."""
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "CONCURRENCY_LIMITS": parse_limits(limits)}
    for _ in range(10):  # ten diamonds: a lost race shows up as a join queued twice, or never
        run = services.run_start(workflow="test-diamond")
        [start] = queue.claim(limit=1, worker="w", now=clock.now())
        services.task_complete(task_id=start.id, output={}, lease_token=start.lease_token)
        branches = queue.claim(limit=1, worker="w1", now=clock.now()) + queue.claim(
            limit=1, worker="w2", now=clock.now()
        )
        assert sorted(t.step for t in branches) == ["left", "right"]
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def complete(task, barrier=barrier, errors=errors) -> None:
            try:
                barrier.wait(timeout=10)
                services.task_complete(task_id=task.id, output={}, lease_token=task.lease_token)
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=complete, args=(t,)) for t in branches]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors, errors
        join = Task.objects.get(run=run, step="join")
        assert join.status == "queued", "both branches succeeded: the join is ready"
        [claimed_join] = queue.claim(limit=5, worker="w", now=clock.now())
        assert claimed_join.id == join.id
        services.task_complete(task_id=join.id, output={}, lease_token=claimed_join.lease_token)
        assert queue.claim(limit=5, worker="w", now=clock.now()) == [], "nothing queued twice"
