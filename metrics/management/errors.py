"""Unhandled exceptions of management commands become grouped error records.

Django has no hook for a command's crash, and a CommandError (a user mistake) is
already printed and turned into exit 1 by Django. Anything else escapes
`execute_from_command_line` and reaches `sys.excepthook`, which the metrics app
chains at start-up when the process is a management command.
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType

from metrics.errors import record_exception

logger = logging.getLogger("metrics")


def command_name(argv: list[str]) -> str | None:
    """The command being run if this process is `manage.py <command>` or `django-admin <command>`."""
    if len(argv) >= 2 and argv[0].rsplit("/", 1)[-1] in {"manage.py", "django-admin", "django-admin.py"}:
        return argv[1]
    return None


def record_command_error(command: str, exc: BaseException) -> None:
    record_exception(exc, message=f"manage.py {command}: {exc}", context="command")


def install(argv: list[str] | None = None) -> bool:
    """Chain an excepthook that records the command's crash; True if installed."""
    command = command_name(sys.argv if argv is None else argv)
    if command is None or getattr(sys.excepthook, "records_command_errors", False):
        return False
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not issubclass(exc_type, KeyboardInterrupt):
            record_command_error(command, exc)
        previous(exc_type, exc, tb)

    hook.records_command_errors = True  # type: ignore[attr-defined]
    sys.excepthook = hook
    return True
