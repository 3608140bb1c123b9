"""Fixtures the engine's integration tests share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from orchestration import signals


@pytest.fixture
def failures() -> Iterator[list[dict[str, Any]]]:
    """The keyword arguments of every attempt_failed signal the engine sends during the test."""
    got: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        got.append(kwargs)

    signals.attempt_failed.connect(receiver, weak=False)
    yield got
    signals.attempt_failed.disconnect(receiver)
