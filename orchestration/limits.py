"""Concurrency limits per key: how many attempts of one key may run at once.

Every task carries at most one concurrency key: by default its agent
(`design-ia` for `design-ia.generate`), or what its step names, e.g.
`provider:llm` or `project:{project}`. A limit applies to one exact key
(`design-ia=8`) or, with a trailing `*`, to *each* key of that prefix
(`project:*=2`: every project may have two attempts running). Keys without a
limit are unlimited.

The claim (orchestration/queue.py) never takes a task whose key is at its
limit; a running attempt holds its slot until it reports or its lease is
recovered, so a dead worker never frees a slot early. Limits are plain data,
parsed once per process from the CONCURRENCY_LIMITS setting (orchestration/conf.py,
from ENGINE_CONCURRENCY_LIMITS); a bad spec is reported by orchestration.E002.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestration.exceptions import InvalidLimits

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class ConcurrencyLimits:
    exact: Mapping[str, int]
    # (prefix, limit) pairs: each distinct key starting with the prefix gets its own limit.
    prefixes: tuple[tuple[str, int], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.exact or self.prefixes)

    def limit_of(self, key: str) -> int | None:
        """The number of attempts `key` may run at once, or None when it is unlimited."""
        if not key:
            return None
        if key in self.exact:
            return self.exact[key]
        matches = [(len(prefix), limit) for prefix, limit in self.prefixes if key.startswith(prefix)]
        return max(matches)[1] if matches else None  # the longest prefix wins

    def limited(self, keys: Iterable[str]) -> dict[str, int]:
        """The keys among `keys` that have a limit, with their limit."""
        found = {}
        for key in keys:
            limit = self.limit_of(key)
            if limit is not None:
                found[key] = limit
        return found

    def like_patterns(self) -> list[str]:
        """SQL LIKE patterns matching every limited key (exact keys escaped)."""
        return [_escape_like(k) for k in self.exact] + [_escape_like(p) + "%" for p, _ in self.prefixes]


NO_LIMITS = ConcurrencyLimits(exact={})


def parse_limits(spec: str | Mapping[str, Any]) -> ConcurrencyLimits:
    """Parse `"design-ia=8,ads-management=4,project:*=2"` (or a dict of the same)."""
    if isinstance(spec, Mapping):
        items = [(str(k), v) for k, v in spec.items()]
    else:
        items = []
        for entry in (e.strip() for e in spec.split(",")):
            if not entry:
                continue
            key, sep, value = entry.rpartition("=")
            if not sep or not key.strip():
                raise InvalidLimits(f"entry {entry!r} is not 'key=limit'")
            items.append((key.strip(), value.strip()))
    exact: dict[str, int] = {}
    prefixes: list[tuple[str, int]] = []
    for key, raw in items:
        try:
            limit = int(raw)
        except (TypeError, ValueError):
            raise InvalidLimits(f"limit of {key!r} must be a whole number, got {raw!r}") from None
        if limit < 1:
            raise InvalidLimits(f"limit of {key!r} must be at least 1, got {limit}")
        if len(key) > MAX_KEY_LENGTH:
            raise InvalidLimits(f"key {key[:40]!r}... is longer than {MAX_KEY_LENGTH} characters")
        if key.endswith("*"):
            if "*" in key[:-1] or key == "*":
                raise InvalidLimits(f"key {key!r}: '*' may only end a non-empty prefix")
            prefixes.append((key[:-1], limit))
        elif "*" in key:
            raise InvalidLimits(f"key {key!r}: '*' may only end a prefix")
        else:
            exact[key] = limit
    return ConcurrencyLimits(exact=exact, prefixes=tuple(prefixes))


def concurrency_key(template: str, *, action: str, run_id: Any = None, project_id: Any = None) -> str:
    """The key of one task from its step's template: `{agent}`, `{action}`, `{run}`, `{project}`."""
    agent = action.split(".", 1)[0]
    key = template.format(agent=agent, action=action, run=run_id or "-", project=project_id or "-")
    return key[:MAX_KEY_LENGTH]


def check_template(template: str) -> None:
    """Refuse a key template that names an unknown placeholder (at workflow registration)."""
    try:
        concurrency_key(template, action="a.b")
    except (KeyError, IndexError, ValueError) as exc:
        raise InvalidLimits(
            f"concurrency key {template!r} may use only {{agent}}, {{action}}, {{run}} and {{project}}"
        ) from exc


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
