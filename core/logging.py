"""Log lines: the ids bound to the current context, and one JSON object per record.

Ids on every log record (request id, run, project, task and attempt) come from contextvars.
The request middleware binds the request id; the engine binds the ids of the attempt it
runs with `log_context(...)` (orchestration/execution.py), so every line an action or
its providers log during that attempt carries them. `ContextFilter` copies whatever is
bound onto each record, unless the call already passed that key through `extra=`. An id
bound to None (a task outside any project) is put on the record as None, so a JSON line
says `"project_id": null` rather than leaving the reader to wonder.

Context variables follow the code into `asyncio` tasks, not into threads started
meanwhile: code that hands work to a thread pool must run it in `contextvars.copy_context()`.

`JsonFormatter` is production's formatter (config/settings.py LOGGING): the record's own
fields, whatever came through `extra=` or the filter, and the traceback if any.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

FIELDS = ("request_id", "run_id", "project_id", "task_id", "attempt")
_UNBOUND = object()  # "not bound here", as distinct from "bound to None"
_vars: dict[str, ContextVar[Any]] = {name: ContextVar(f"log_{name}", default=_UNBOUND) for name in FIELDS}


def bind(**ids: Any) -> dict[str, Token[Any]]:
    """Bind ids for the current context; returns tokens for `unbind`."""
    unknown = set(ids) - set(FIELDS)
    if unknown:
        raise ValueError(f"Unknown log context fields {sorted(unknown)}; known: {list(FIELDS)}")
    return {name: _vars[name].set(value) for name, value in ids.items()}


def unbind(tokens: dict[str, Token[Any]]) -> None:
    for name, token in tokens.items():
        _vars[name].reset(token)


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """`with log_context(task_id=7, attempt=2): ...` puts those ids on every record inside."""
    tokens = bind(**ids)
    try:
        yield
    finally:
        unbind(tokens)


def current(name: str) -> Any:
    """The id bound for `name` here, or None."""
    value = _vars[name].get()
    return None if value is _UNBOUND else value


class ContextFilter(logging.Filter):
    """Adds the bound ids to each record (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in FIELDS:
            value = _vars[name].get()
            if value is _UNBOUND or hasattr(record, name):
                continue
            # Ids as strings (UUIDs serialise alike everywhere); the attempt stays a number.
            setattr(record, name, value if value is None or name == "attempt" else str(value))
        return True


# Attributes every LogRecord has; anything else was passed through `extra=` and is kept.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the ids and `extra=` fields it carries."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
