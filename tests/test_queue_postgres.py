"""The queue's SQL on real Postgres: concurrent claimers never share a task (E3)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orchestration import clock, queue, services
from orchestration.models import Task
from tests.conftest import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def test_eight_concurrent_claimers_never_claim_the_same_task() -> None:
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
