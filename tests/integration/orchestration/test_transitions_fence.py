"""The fence of a report (orchestration.transitions.Fence, fence_of): which task rows a report
may change, and which claim a token-less report is taken to come from."""

from __future__ import annotations

import uuid

import pytest

from orchestration import queue, services
from orchestration.models import Task, TaskStatus
from orchestration.transitions import NO_CLAIM, Fence, fence_of
from tests.conftest import FakeClock

pytestmark = pytest.mark.django_db


def claim_one(clock: FakeClock) -> queue.ClaimedTask:
    (claimed,) = queue.claim(limit=1, worker="w", now=clock.now())
    return claimed


def test_a_fence_names_a_lease_token_or_an_attempt() -> None:
    with pytest.raises(ValueError, match=r"^A report must name its lease token or its attempt$"):
        Fence()
    assert Fence(attempt=1).lease_token is None
    assert Fence(lease_token=NO_CLAIM).attempt is None


def test_a_fence_selects_the_running_task_under_its_token_and_attempt_only() -> None:
    token, other_token = uuid.uuid4(), uuid.uuid4()
    rows = {  # name: (status, lease token, attempt)
        "held": (TaskStatus.RUNNING, token, 2),
        "later_attempt": (TaskStatus.RUNNING, token, 3),
        "other_claim": (TaskStatus.RUNNING, other_token, 2),
        "not_running": (TaskStatus.QUEUED, token, 2),
    }
    ids = dict(zip(rows, services.enqueue_many("engine.noop", [{}] * len(rows)), strict=True))
    for name, (status, lease_token, attempt) in rows.items():
        Task.objects.filter(id=ids[name]).update(status=status, lease_token=lease_token, attempt=attempt)

    def selected(fence: Fence) -> set[str]:
        found = set(Task.objects.filter(fence.q()).values_list("id", flat=True))
        return {name for name, task_id in ids.items() if task_id in found}

    assert selected(Fence(token, 2)) == {"held"}
    assert selected(Fence(token)) == {"held", "later_attempt"}
    assert selected(Fence(attempt=2)) == {"held", "other_claim"}


def test_a_token_less_report_is_fenced_by_the_one_claim_of_its_attempt(clock) -> None:
    task, other = (services.enqueue("engine.noop", priority=p) for p in (9, 0))
    first = claim_one(clock)
    assert (first.id, first.attempt) == (task.id, 1)
    token = uuid.uuid4()
    assert fence_of(task.id, token, None) == Fence(token, None), "a token says which claim"
    assert fence_of(task.id, token, 1) == Fence(token, 1)
    assert fence_of(task.id, None, 1) == Fence(first.lease_token, 1)
    # A stale report's row names a token but no claim of the attempt: it does not count.
    assert not services.task_complete(task_id=task.id, output={}, lease_token=uuid.uuid4())
    assert fence_of(task.id, None, 1) == Fence(first.lease_token, 1)
    # Nor does another task's claim with the same attempt number.
    assert claim_one(clock).id == other.id
    assert fence_of(task.id, None, 1) == Fence(first.lease_token, 1)
    assert fence_of(task.id, None, 2) == Fence(NO_CLAIM, 2), "an attempt never claimed names no claim"


def test_a_token_less_report_of_an_attempt_claimed_twice_names_no_claim(clock) -> None:
    """A continuation goes on with the same attempt under a new token: the number alone no longer
    says which invocation reports, so the report is refused rather than applied to the second."""
    task = services.enqueue("engine.noop")
    first = claim_one(clock)
    assert services.task_continue(task_id=task.id, cursor={"page": 2}, lease_token=first.lease_token)
    second = claim_one(clock)
    assert (second.id, second.attempt) == (task.id, first.attempt)

    assert fence_of(task.id, None, first.attempt) == Fence(NO_CLAIM, first.attempt)
    assert fence_of(task.id, second.lease_token, None) == Fence(second.lease_token, None)
