"""One strict way to read a JSON body, for every route of the HTTP surface.

Python's `json` accepts what our databases then refuse, or crashes on input a
client controls; each of those turned a bad body into a 500:

- `NaN`, `Infinity`, `-Infinity` and numbers that overflow to infinity
  (`1e400`): PostgreSQL's jsonb has no such values.
- `\\u0000` in a string or a key: neither jsonb nor a text column stores it.
- Lone surrogates (`\\ud800`): not encodable as UTF-8, so the driver raises.
- Deep nesting: the parser recurses and `[` x 200000 is a RecursionError.

`loads_strict` refuses all of these with a `MalformedBody` (400, the one error
shape) that says what was wrong. `StrictJSONParser` is the DRF parser built on
it (request.data); the signed routes call `loads_strict` themselves on the raw
body, after the signature over those exact bytes was checked.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.parsers import JSONParser

from gateway.exceptions import MalformedBody

logger = logging.getLogger("gateway")

# Deeper than any body of ours (a Stripe event nests about 6 levels, our reports 4), far below
# Python's recursion limit, so the limit is ours and never the interpreter's.
MAX_DEPTH = 64
# NUL, and the surrogate range: a lone surrogate from a `\ud800` escape cannot be stored.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _refuse_constant(name: str) -> Any:
    raise _refused(f"{name} is not a JSON number this API accepts.", "non_finite_number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses to inf
        raise _refused(f"The number {text[:40]} is out of range.", "non_finite_number")
    return value


def loads_strict(raw: bytes | str) -> Any:
    """Parse a JSON document, refusing what the database cannot store or the parser cannot survive."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise _refused("The body is not UTF-8.", "not_utf8") from exc
    try:
        # The hooks raise MalformedBody (not a ValueError), which passes through unchanged.
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError as exc:  # nested deeper than the interpreter's stack: far past MAX_DEPTH
        raise _refused(f"The body is nested deeper than {MAX_DEPTH} levels.", "too_deep") from exc
    except ValueError as exc:  # JSONDecodeError, or an integer longer than Python converts
        raise _refused(f"The body is not valid JSON: {_short(exc)}", "invalid_json") from exc
    _check_tree(value)
    return value


def json_object(raw: bytes) -> dict[str, Any]:
    """A raw body (its signature already checked over these bytes) as a JSON object, parsed strictly."""
    body = loads_strict(raw)
    if not isinstance(body, dict):
        raise MalformedBody("The body must be a JSON object.")
    return body


def _check_tree(value: Any) -> None:
    """Walk the parsed document without recursion: its depth, and every string and key."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_string(node)
            continue
        if not isinstance(node, dict | list):
            continue  # numbers, booleans, null
        if depth > MAX_DEPTH:
            raise _refused(f"The body is nested deeper than {MAX_DEPTH} levels.", "too_deep")
        if isinstance(node, dict):
            for key in node:
                _check_string(key)
            node = node.values()
        stack.extend((child, depth + 1) for child in node)


def _check_string(text: str) -> None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return
    if found.group() == "\x00":
        raise _refused("A string in the body contains a NUL character (\\u0000).", "nul_character")
    raise _refused("A string in the body contains a lone UTF-16 surrogate.", "lone_surrogate")


def _refused(message: str, reason: str) -> MalformedBody:
    # Only the reason is logged: the body may carry personal data or a forged payload.
    logger.info("json refused", extra={"action": "json_refused", "reason": reason})
    return MalformedBody(message, detail={"reason": reason})


def _short(exc: ValueError) -> str:
    return str(exc).split("\n")[0][:200]


class StrictJSONParser(JSONParser):
    """DRF's JSON parser with `loads_strict`: request.data of every JSON route."""

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            text = stream.read().decode(encoding)
        except (LookupError, UnicodeError) as exc:
            raise _refused(f"The body is not valid {encoding}.", "bad_encoding") from exc
        return loads_strict(text)
