"""The health figure's floor: a WSGI app that answers 200 with a small JSON body and does
nothing else, served by the same gunicorn settings and loaded by the same client as
config.wsgi. What the server and the client cost on this machine, with no application."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = b'{"status":"ok"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
