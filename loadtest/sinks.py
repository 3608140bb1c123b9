"""The load test's sinks, where side effects really land, for the driver to count them there instead
of trusting the agents' ledger: its own plain task's sink file, the workers' journaling storage,
and the console mail backend's output.

Workers and the agents' HTTP server import this module through ENGINE_ACTION_MODULES=loadtest.sinks
(the driver sets it) and store files with DEFAULT_FILE_STORAGE_BACKEND=loadtest.sinks.JournalingStorage.

`engine.loadtest-sink` does one visible side effect, then (for a long task) takes its time:
it appends one line to the sink file named in its input, with the task, attempt and
idempotency key, before it sleeps. The driver counts the lines: a task whose action ran
twice has two. It is named under the `engine` agent so the HTTP dispatch can reach it too
(gateway/views/agents.py serves only the known agents' routes).
"""

from __future__ import annotations

import email
import email.policy
import itertools
import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.core.files.storage import FileSystemStorage

from orchestration.registry import TaskContext, action

SINK_ACTION = "engine.loadtest-sink"
JOURNAL_NAME = "storage-journal.jsonl"


@action(SINK_ACTION)
def sink(ctx: TaskContext) -> dict[str, Any]:
    line = {
        "task": ctx.task_id,
        "attempt": ctx.attempt,
        "key": ctx.idempotency_key,
        "pid": os.getpid(),
        "t": time.time(),  # this process's clock (skewed under faketime): the driver corrects it by pid
    }
    # One short line per write() in append mode: lines from concurrent processes never interleave.
    with open(ctx.input["sink"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
    seconds = float(ctx.input.get("seconds", 0))
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))
        ctx.heartbeat()  # a long task renews its own lease, as a real long agent call does
    return {"task": ctx.task_id, "attempt": ctx.attempt, "key": ctx.idempotency_key}


class JournalingStorage(FileSystemStorage):
    """The workers' storage in a load test: files under MEDIA_ROOT (a scratch directory), plus an
    append-only journal with one line per file written, so the driver counts publishes at the sink
    instead of trusting the agents' ledger."""

    def _save(self, name: str, content: Any) -> str:
        saved = super()._save(name, content)
        # One short line per write() in append mode: lines from concurrent workers never interleave.
        with open(Path(self.location) / JOURNAL_NAME, "a", encoding="utf-8") as journal:
            journal.write(json.dumps({"name": saved, "pid": os.getpid()}) + "\n")
        return saved


_HEADERS_START = re.compile(r"^Content-Type: ", re.MULTILINE)
_SEPARATOR = "\n" + "-" * 79 + "\n"
_MANIFEST = re.compile(r"^sites/(?P<slug>[^/]+)/\.manifest\.json$")


def console_messages(paths: Iterable[Path]) -> Iterator[tuple[str, str]]:
    """(To, Subject) of every message Django's console mail backend wrote to these files."""
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        for chunk in _console_chunks(text):
            message = email.message_from_string(chunk, policy=email.policy.default)
            if message["To"] and message["Subject"]:
                # Folding leaves whitespace where a long header was wrapped: compare words, not spacing.
                yield str(message["To"]).strip(), " ".join(str(message["Subject"]).split())


def _console_chunks(text: str) -> Iterator[str]:
    """Each message in a console backend's output, found by its top-level headers (a header block
    that starts with Content-Type and has a Subject), not by the separator between messages.

    The backend writes a message, its separator line and a newline as three writes, under a lock of
    its own instance only: in a process sending from several threads (the agents' gunicorn server)
    another thread's message lands between them, so a separator may be missing between two messages,
    or glued to the start of the next one. The message itself is one write and stays whole.
    """
    lines = text.replace(_SEPARATOR.strip("\n"), "\n").split("\n")
    starts = []
    for index, line in enumerate(lines):
        if not _HEADERS_START.match(line):
            continue
        end = index
        while end < len(lines) and lines[end].strip():
            end += 1
        if any(header.startswith("Subject:") for header in lines[index:end]):  # a part's headers have none
            starts.append(index)
    for start, end in itertools.pairwise([*starts, len(lines)]):
        yield "\n".join(lines[start:end])


def published_slugs(media_root: Path) -> Counter[str]:
    """How many times each site's manifest was written: once per publish that changed anything."""
    journal = media_root / JOURNAL_NAME
    counts: Counter[str] = Counter()
    if journal.exists():
        for line in journal.read_text(encoding="utf-8").splitlines():
            match = _MANIFEST.match(json.loads(line)["name"])
            if match:
                counts[match["slug"]] += 1
    return counts
