"""A task is checked before it is queued, the same way by `enqueue` and `enqueue_many`: an action
named 'agent.action', a positive timeout, a concurrency key of at most limits.MAX_KEY_LENGTH
characters. A rejected task stores nothing and the error says what was wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from orchestration import limits, services
from orchestration.exceptions import InvalidWorkflow
from orchestration.models import Task

pytestmark = pytest.mark.django_db


def enqueue_one(action: str, **options: Any) -> None:
    services.enqueue(action, {}, **options)


def enqueue_bulk(action: str, **options: Any) -> None:
    services.enqueue_many(action, [{}], **options)


both_ways = pytest.mark.parametrize("queue_it", [enqueue_one, enqueue_bulk], ids=["enqueue", "enqueue_many"])


@both_ways
def test_an_action_without_an_agent_is_refused_by_name(queue_it: Callable[..., None]) -> None:
    with pytest.raises(InvalidWorkflow, match=r"^Action names are 'agent.action', got 'noop'$"):
        queue_it("noop")
    assert not Task.objects.exists()


@both_ways
def test_a_timeout_of_zero_is_refused_and_the_error_gives_it(queue_it: Callable[..., None]) -> None:
    with pytest.raises(InvalidWorkflow, match=r"^timeout_seconds must be positive, got 0$"):
        queue_it("engine.noop", timeout_seconds=0)
    assert not Task.objects.exists()


@both_ways
def test_a_timeout_under_a_second_is_positive_and_accepted(queue_it: Callable[..., None]) -> None:
    queue_it("engine.noop", timeout_seconds=0.5)
    assert Task.objects.get().timeout_seconds == 0.5


@both_ways
def test_a_concurrency_key_of_the_longest_length_is_accepted_one_more_character_is_refused(
    queue_it: Callable[..., None],
) -> None:
    longest = "k" * limits.MAX_KEY_LENGTH
    queue_it("engine.noop", concurrency_key=longest)
    assert Task.objects.get().concurrency_key == longest
    too_long = longest + "k"
    expected = f"^concurrency_key is longer than {limits.MAX_KEY_LENGTH} characters: '{too_long}'$"
    with pytest.raises(InvalidWorkflow, match=expected):
        queue_it("engine.noop", concurrency_key=too_long)
    assert Task.objects.count() == 1
