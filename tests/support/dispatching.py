"""What the dispatch tests share: a stand-in for requests.post toward the agents' routes, and a
plain task claimed for dispatch."""

from __future__ import annotations

import json
from typing import Any

import requests

from orchestration import queue, services
from orchestration.queue import ClaimedTask
from orchestration.retry import RetryPolicy

BASE = "http://agents.test"


class FakePost:
    """requests.post, recorded: runs `during` first, then raises `raises` or answers `status` with
    `answer` (a report, or raw bytes)."""

    def __init__(self, status: int = 200) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status, self.answer, self.raises, self.during = status, b"", None, None

    def __call__(self, url: str, **kwargs: Any) -> requests.Response:
        self.calls.append({"url": url, **kwargs})
        if self.during is not None:
            self.during()
        if self.raises is not None:
            raise self.raises
        response = requests.Response()
        response.status_code = self.status
        response._content = self.answer if isinstance(self.answer, bytes) else json.dumps(self.answer).encode()
        return response

    @property
    def body(self) -> dict[str, Any]:
        [call] = self.calls
        return json.loads(call["data"])


def claimed(clock: Any, timeout_seconds: float = 30) -> ClaimedTask:
    """A plain echo task (3 attempts), claimed."""
    services.enqueue("engine.echo", timeout_seconds=timeout_seconds, retry=RetryPolicy(max_attempts=3))
    [task] = queue.claim(limit=1, worker="w", now=clock.now())
    return task
