"""pytest plugin loaded by `make mutate` only (through mutation/pytest_slot_db.py): a mutant's
session ends at its first failure, without the teardown.

mutmut runs each mutant's tests with `-x`, so the verdict is known the moment one test fails:
the mutant is killed. pytest would still run that test's teardown, and the HTTP tests' teardown
waits, bounded at 60 s, for the agents' callback threads a mutant may keep retrying, which
pytest-timeout no longer bounds (its timer is spent once it has fired). A hung mutant then took
mutmut's wall-clock limit (33 s for call_back's tests) instead of the --timeout. Exiting
at once leaves the slot's database dirty; mutation/pytest_slot_db.py empties it before the next
session's first test, as after any killed worker.

A failure that is pytest-timeout's exits with mutmut's code for a timeout (36), not a kill's (1),
so the score's report tells the mutants that hung from the ones a test failed on; both count as
killed. Sessions of mutmut's own (the stats, the clean run, the forced failure) are left alone:
the variable mutmut sets names a mutant (`module.x_function__mutmut_N`) only in a mutant's fork.

The test database's set-up (created and migrated once per slot per run) does not count against
--timeout: it is not the mutant's work, and on a loaded machine it could take a first test past
the --timeout and have a mutant judged on it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from mutation import pytest_kill_order as kill_order

TIMEOUT_EXIT = 36  # mutmut: "timeout"
FAILED_EXIT = 1  # mutmut: "killed"
TIMEOUT_MESSAGE = "from pytest-timeout"  # in pytest-timeout's failure: "Timeout (>15.0s) from pytest-timeout."


def in_a_mutant() -> bool:
    return "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", "")


def exit_code_for(report: Any) -> int | None:
    """The mutant's verdict once this report is in: None while its tests pass."""
    if not report.failed:
        return None
    return TIMEOUT_EXIT if TIMEOUT_MESSAGE in str(report.longrepr) else FAILED_EXIT


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: Any) -> None:
    code = exit_code_for(report)
    if code is not None and in_a_mutant():
        if code == FAILED_EXIT:  # a hang is no test to run first: it takes the whole --timeout
            function = kill_order.mutated_function()
            if function is not None:
                kill_order.remember_killer(function, report.nodeid)
        os._exit(code)


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Iterator[None]:
    if fixturedef.argname != "django_db_setup":
        yield
        return
    # pytest-timeout's signal method arms ITIMER_REAL for the whole test: pause it meanwhile.
    remaining, _ = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if remaining:
            signal.setitimer(signal.ITIMER_REAL, remaining)
