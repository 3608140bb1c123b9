"""pytest plugin loaded by `make mutate` only (pyproject's [tool.mutmut] pytest_add_cli_args).

mutmut runs each mutant's tests in a process forked from one that already loaded the settings,
so every fork would pick the same test database name (config/settings.py names it after the
parent's pid) and parallel mutants would create, flush and drop each other's database. Each
test session here takes one of MUTATION_DB_SLOTS slots instead (an flock held until the process
ends, so a killed mutant frees its slot too) and runs on that slot's own database, kept between
sessions (--reuse-db: migrations are checked, not replayed). A session that did not end cleanly
(a timed-out mutant, SIGKILLed mid-test) leaves its slot marked dirty, and the next session on
that slot empties the database before any test, so no mutant is judged on another's rows.
Once a slot's database has been migrated in this run (the first session on it), later sessions
skip `migrate` altogether: it is most of a session's set-up (2 s of a mutant's 3 to 5 here), and
the schema cannot change within one run (mutation/run.py drops the slot databases and their
stamps before each run).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import pytest

# A mutant's session runs its likeliest killers first (mutation/pytest_kill_order.py) and ends at
# its first failure (mutation/pytest_fail_fast.py).
pytest_plugins = ["mutation.pytest_kill_order", "mutation.pytest_fail_fast"]

SLOTS = int(os.environ.get("MUTATION_DB_SLOTS", "4"))
SLOT_DIR = Path(os.environ.get("MUTATION_SLOT_DIR", "mutation-slots"))

_slot: int | None = None
_slot_fd: int | None = None
_slot_pid: int | None = None  # the process holding it: a fork takes a slot of its own
# The database name the settings had before this session pointed them at the slot's database.
_configured_name: str | None = None


def _take_slot() -> int:
    """The first free slot, waiting for slot 0 when all are busy (more workers than slots)."""
    global _slot_fd
    SLOT_DIR.mkdir(parents=True, exist_ok=True)
    for slot in range(SLOTS):
        fd = os.open(SLOT_DIR / f"slot{slot}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _slot_fd = fd
        return slot
    fd = os.open(SLOT_DIR / "slot0.lock", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _slot_fd = fd
    return 0


def _dirty_marker(slot: int) -> Path:
    return SLOT_DIR / f"slot{slot}.dirty"


def _migrated_stamp(slot: int) -> Path:
    return SLOT_DIR / f"slot{slot}.migrated"


def _use_the_migrated_database() -> None:
    """Django's test database creation, less the `migrate` a kept database would get anyway, on a
    slot whose database this run has migrated already: point the connection at the slot's
    database, as create_test_db(keepdb=True) ends by doing. Any other slot's database is created
    as usual. Decided per call, not once: mutmut forks its mutants from a process whose own
    sessions installed this on their slot, and a fork that takes another slot, not migrated yet,
    would otherwise look for a database that does not exist, fail every database test, and have
    its mutant counted as killed (the second parallel worker's every mutant, until this check)."""
    from django.conf import settings
    from django.db.backends.base.creation import BaseDatabaseCreation

    if getattr(BaseDatabaseCreation.create_test_db, "_slot_aware", False):
        return
    original = BaseDatabaseCreation.create_test_db

    def create_test_db(
        self: Any, verbosity: int = 1, autoclobber: bool = False, serialize: bool = True, keepdb: bool = False
    ) -> str:
        if _slot is None or not _migrated_stamp(_slot).exists():
            return original(self, verbosity=verbosity, autoclobber=autoclobber, serialize=serialize, keepdb=keepdb)
        name = self._get_test_db_name()
        self.connection.close()
        settings.DATABASES[self.connection.alias]["NAME"] = name
        self.connection.settings_dict["NAME"] = name
        return name

    create_test_db._slot_aware = True  # type: ignore[attr-defined]
    BaseDatabaseCreation.create_test_db = create_test_db


@pytest.hookimpl(trylast=True)
def pytest_configure(config: Any) -> None:
    global _slot, _slot_pid, _configured_name
    from django.conf import settings
    from django.db import connections

    if _slot is None or _slot_pid != os.getpid():
        _slot, _slot_pid = _take_slot(), os.getpid()
    default = settings.DATABASES["default"]
    _configured_name = default["NAME"]
    name = f"test_{default['NAME']}_mutant{_slot}" if default["ENGINE"].endswith("postgresql") else None
    if name is None:  # SQLite: a file per slot
        name = str(Path(default["NAME"]).with_name(f"test_mutant{_slot}.sqlite3"))
    default.setdefault("TEST", {})["NAME"] = name
    connections["default"].settings_dict.setdefault("TEST", {})["NAME"] = name
    _use_the_migrated_database()


@pytest.fixture(scope="session", autouse=True)
def _slot_database_starts_clean(django_db_setup: Any, django_db_blocker: Any) -> None:
    marker = _dirty_marker(_slot or 0)
    if marker.exists():
        from django.core.management import call_command

        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)
    marker.touch()
    _migrated_stamp(_slot or 0).touch()


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    # Reached on a clean end, passed or failed; a killed process never gets here.
    _dirty_marker(_slot or 0).unlink(missing_ok=True)


def pytest_unconfigure(config: Any) -> None:
    """Free the slot and give the settings their database name back: mutmut's main process runs
    pytest in-process (stats, clean run, forced fail) before it forks the mutants, and with
    --reuse-db pytest-django never tears the test database down, so the name would stay the slot
    database's, and the next session (every mutant's) would look for `test_test_<name>_mutant0_...`,
    a database that does not exist: each mutant's tests would error, and count as killed."""
    global _slot, _slot_fd, _slot_pid, _configured_name
    from django.conf import settings
    from django.db import connections

    if _configured_name is not None:
        connections["default"].close()  # a forked mutant must not share the parent's socket
        settings.DATABASES["default"]["NAME"] = _configured_name
        connections["default"].settings_dict["NAME"] = _configured_name
    if _slot_fd is not None and _slot_pid == os.getpid():
        os.close(_slot_fd)
    _slot = _slot_fd = _slot_pid = _configured_name = None
