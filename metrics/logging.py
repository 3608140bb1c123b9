"""Ids on every log record: request id, project id, task id and attempt, from contextvars.

The request middleware binds the request id; the engine (or any code) binds the ids of
the work it is doing with `log_context(...)`. `ContextFilter` copies whatever is bound
onto each record, unless the call already passed that key through `extra=`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

FIELDS = ("request_id", "project_id", "task_id", "attempt")
_vars: dict[str, ContextVar[Any]] = {name: ContextVar(f"log_{name}", default=None) for name in FIELDS}


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
    return _vars[name].get()


class ContextFilter(logging.Filter):
    """Adds the bound ids to each record (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in FIELDS:
            value = _vars[name].get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, str(value) if name != "attempt" else value)
        return True
