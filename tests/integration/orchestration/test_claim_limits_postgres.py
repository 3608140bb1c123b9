"""Integration (real PostgreSQL): a claim under prefix limits takes a bounded number of locks
and rows whatever the backlog (issue 12, defect 4).

`project:*=2` gives each key of the prefix its own limit. A claim that try-locked every
limited key with due work took one advisory lock per key: 14,000 distinct keys exhausted
the lock table (`out of shared memory`) and every claim failed from then on.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections

from orchestration import clock, queue
from orchestration.limits import parse_limits
from orchestration.models import Task, TaskStatus
from tests.conftest import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True), pytest.mark.slow]

CLAIMERS = 4
CLAIMS_EACH = 5
BATCH = 10


def queue_tasks(keys: list[str]) -> None:
    """One due plain task per key, in claim order (oldest first)."""
    now = clock.now()
    Task.objects.bulk_create(
        [
            Task(
                action="engine.noop",
                status=TaskStatus.QUEUED,
                run_after=now - timedelta(minutes=1) + timedelta(milliseconds=n),
                concurrency_key=key,
            )
            for n, key in enumerate(keys)
        ],
        batch_size=2000,
    )


def queue_distinct_keys(count: int) -> None:
    queue_tasks([f"project:{n}" for n in range(count)])


def claim_concurrently() -> tuple[list[list[Any]], list[BaseException], float]:
    """CLAIMERS threads, each on its own connection, claiming CLAIMS_EACH times at once."""
    results: list[list[Any]] = [[] for _ in range(CLAIMERS)]
    errors: list[BaseException] = []
    start = threading.Barrier(CLAIMERS)

    def claimer(i: int) -> None:
        try:
            start.wait()
            for _ in range(CLAIMS_EACH):
                results[i].append(queue.claim(limit=BATCH, worker=f"w{i}", now=clock.now()))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(CLAIMERS)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a claim never returned"
    return results, errors, time.monotonic() - began


@pytest.fixture
def per_project_limit(settings: Any) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "CONCURRENCY_LIMITS": parse_limits("project:*=2")}


def test_twenty_thousand_distinct_limited_keys_are_claimed_by_four_claimers_without_exhausting_locks(
    per_project_limit: None,
) -> None:
    queue_distinct_keys(20_000)
    results, errors, _ = claim_concurrently()

    assert not errors, f"claims failed: {errors[0]!r}"
    claimed = [t.id for per in results for batch in per for t in batch]
    assert len(claimed) == len(set(claimed)), "a task was claimed twice"
    assert all(batch for per in results for batch in per), "a claim came back empty with 20,000 tasks due"
    assert len(claimed) == CLAIMERS * CLAIMS_EACH * BATCH
    assert Task.objects.filter(status=TaskStatus.RUNNING).count() == len(claimed)


def test_claiming_among_twenty_thousand_distinct_keys_is_not_much_slower_than_among_twenty(
    per_project_limit: None,
) -> None:
    queue_distinct_keys(20)
    _, errors, _ = claim_concurrently()  # warm: prepared statements, caches
    assert not errors
    Task.objects.all().delete()
    queue_distinct_keys(200)
    _, errors, few = claim_concurrently()
    assert not errors
    Task.objects.all().delete()
    queue_distinct_keys(20_000)
    _, errors, many = claim_concurrently()
    assert not errors, f"claims failed: {errors[0]!r}"
    print(
        f"{CLAIMERS} claimers x {CLAIMS_EACH} claims of {BATCH}: {few:.3f} s among 200 keys, {many:.3f} s among 20,000"
    )
    assert many < 5 * few + 1.0, (
        f"{CLAIMERS * CLAIMS_EACH} claims took {many:.2f} s among 20,000 keys, {few:.2f} s among 200"
    )


def test_a_claim_skips_a_full_key_and_takes_the_next_ones(per_project_limit: None) -> None:
    """The bounded window of keys is drawn from keys with a free slot: a key at its limit with a
    long backlog in front of the queue does not hide the keys behind it."""
    queue_tasks(["project:busy"] * 50 + [f"project:{n}" for n in range(10)])
    first = queue.claim(limit=BATCH, worker="a", now=clock.now())
    second = queue.claim(limit=BATCH, worker="b", now=clock.now())
    third = queue.claim(limit=BATCH, worker="c", now=clock.now())
    keys = [
        k
        for batch in (first, second, third)
        for k in Task.objects.filter(id__in=[t.id for t in batch]).values_list("concurrency_key", flat=True)
    ]
    assert keys.count("project:busy") == 2  # its limit, never more
    assert len([k for k in keys if k != "project:busy"]) == 10  # every other key got its task
