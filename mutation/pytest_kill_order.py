"""pytest plugin loaded by `make mutate` only (through mutation/pytest_slot_db.py): a mutant's
tests run in the order most likely to fail soonest.

mutmut hands each mutant the tests that call its function, in no particular order, with `-x`:
a killed mutant costs the tests that run before the first failure. So the tests that killed an
earlier mutant of the same function go first (mutants of one function tend to break the same
test), then the rest fastest first, by the durations mutmut measured in its stats run. The order
changes how soon a verdict comes, never the verdict: a survivor runs every test either way.

The killers are kept in files, one per mutated function (`<slot dir>/../.killers/<function>`),
since each mutant runs in a process of its own forked from mutmut's main process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

KEPT_KILLERS = 3  # per function, the most recent first


def mutated_function() -> str | None:
    """`orchestration.queue.x_claim` for the mutant `orchestration.queue.x_claim__mutmut_7`; None
    outside a mutant's session (mutmut's stats, clean and forced-fail runs)."""
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    return name.rsplit("__mutmut_", 1)[0] if "__mutmut_" in name else None


def _killers_file(function: str) -> Path:
    slots = Path(os.environ.get("MUTATION_SLOT_DIR", "mutation-slots"))
    return slots.parent / ".killers" / function


def killers_of(function: str) -> list[str]:
    try:
        return _killers_file(function).read_text().splitlines()
    except FileNotFoundError:
        return []


def remember_killer(function: str, nodeid: str) -> None:
    """Put `nodeid` first among the function's killers (written whole, then renamed: a mutant
    killed meanwhile leaves the old list, never half of one)."""
    path = _killers_file(function)
    path.parent.mkdir(parents=True, exist_ok=True)
    killers = [nodeid, *(k for k in killers_of(function) if k != nodeid)][:KEPT_KILLERS]
    partial = path.with_name(f"{path.name}.{os.getpid()}")
    partial.write_text("\n".join(killers) + "\n")
    partial.replace(path)


def _durations() -> dict[str, float]:
    try:
        from mutmut.state import state
    except ImportError:  # run outside mutmut: keep pytest's order
        return {}
    return dict(state().duration_by_test)


def in_kill_order(items: list[Any], killers: list[str], durations: dict[str, float]) -> list[Any]:
    """The function's killers first (most recent first), then the rest fastest first; ties keep
    their order."""
    rank = {nodeid: i for i, nodeid in enumerate(killers)}
    return sorted(items, key=lambda item: (rank.get(item.nodeid, len(rank)), durations.get(item.nodeid, 0.0)))


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    function = mutated_function()
    if function is not None:
        items[:] = in_kill_order(items, killers_of(function), _durations())
