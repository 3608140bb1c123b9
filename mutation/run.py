"""`make mutate`: mutmut over the engine's modules on PostgreSQL, then the score and the survivors.

    python -m mutation.run [MUTANT_GLOB ...]     e.g. 'orchestration.retry.*' for one module
                                                 (default: SCOPE below)

What it does, from a clean clone as from a used one:
1. the database: MUTATE_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/mutate), a
   database of its own, so the tests' databases (test_<name>_mutant<slot>, one per parallel
   worker: mutation/pytest_slot_db.py) never meet anyone else's; the slot databases of an
   earlier run are dropped, so a schema left by another branch is never reused;
2. `mutmut run` afresh (mutants/ removed first: results cached from other code would lie;
   MUTATE_KEEP=1 resumes an interrupted run instead), with
   the modules and the tests named in pyproject.toml's [tool.mutmut], at `nice -n 15`;
3. the score per module: killed / (mutants - equivalent), where equivalent mutants are the ones
   listed in mutation/equivalent.txt *and still the same mutation* (the fingerprint of its diff
   matches); every other survivor is printed with its diff.

Exit status: 0 when the overall score reaches MUTATE_MIN_SCORE (default 95), 1 when it does not,
2 when the harness itself failed (mutmut's clean run failed, no results).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "mutation" / "equivalent.txt"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mutate"
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
# The mutants `make mutate` tests: the engine's modules whole, and of gateway/services.py the
# payment inbox (the Stripe event's receipt and application), not the agents' report inbox.
SCOPE = [
    "orchestration.queue.*",
    "orchestration.queue_pg.*",
    "orchestration.queue_portable.*",
    "orchestration.queue_shared.*",
    "orchestration.starting.*",
    "orchestration.reports.*",
    "orchestration.acts.*",
    "orchestration.transitions.*",
    "orchestration.execution.*",
    "orchestration.dispatch.*",
    "orchestration.limits.*",
    "orchestration.retry.*",
    "orchestration.side_effects.*",
    "gateway.services.x__inbox_row__mutmut_*",
    "gateway.services.x__finish__mutmut_*",
    "gateway.services.x_stripe_event_receive__mutmut_*",
    "gateway.services.x__apply_stripe__mutmut_*",
    "gateway.services.x__uuid_or_none__mutmut_*",
]
# The queue is two implementations behind one face, and each runs on its own database: the
# portable one (the ORM, for SQLite) never runs on PostgreSQL, and a mutant of the face's choice
# between them ("which database is this?") changes nothing on the database it chose right. So the
# queue's modules get a second pass on SQLite, in a copy of the tree of their own, and a mutant of
# both passes is killed when either pass kills it.
SQLITE_SCOPE = [
    "orchestration.queue.*",
    "orchestration.queue_portable.*",
    "orchestration.queue_shared.*",
]
SQLITE_TREE = ROOT / ".mutants-sqlite"  # the SQLite pass's copy of the tree (gitignored)


@dataclass(frozen=True)
class Pass:
    """One `mutmut run`: its database, the mutants it tests, the tree it runs in."""

    name: str
    scope: list[str]
    tree: Path
    database_url: str | None  # None: the settings' SQLite default


def passes(scope: list[str], url: str) -> list[Pass]:
    """The PostgreSQL pass over `scope` but the portable queue; the SQLite pass over what of
    `scope` is the queue's (none when `scope` names nothing of it)."""
    on_sqlite = [p for p in scope if _overlaps(p, SQLITE_SCOPE)]
    on_postgres = [p for p in scope if not _within(p, ["orchestration.queue_portable.*"])]
    runs = [Pass("postgresql", on_postgres, ROOT, url)] if on_postgres else []
    if on_sqlite:
        runs.append(Pass("sqlite", on_sqlite, SQLITE_TREE, None))
    return runs


def _within(pattern: str, patterns: list[str]) -> bool:
    """Whether every mutant `pattern` names is one `patterns` name (the pattern is one of them, or
    a mutant or a narrower glob of one)."""
    return any(fnmatch.fnmatchcase(pattern, p) for p in patterns)


def _overlaps(pattern: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(pattern, p) or fnmatch.fnmatchcase(p, pattern) for p in patterns)


def _admin_connection(url: str) -> Any:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    return psycopg.connect(admin, autocommit=True)


def prepare_databases(url: str, slots: int) -> None:
    """The run's own database exists; the slot databases of an earlier run are gone."""
    name = urlsplit(url).path.lstrip("/")
    with _admin_connection(url) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
        for slot in range(slots):
            conn.execute(f'DROP DATABASE IF EXISTS "test_{name}_mutant{slot}" WITH (FORCE)')


def fingerprint(diff: str) -> str:
    """A short hash of a mutant's changed lines: an entry of equivalent.txt holds only while the
    mutant it names is still this mutation (mutmut numbers mutants per function, and an edit of
    the function renumbers them)."""
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return hashlib.sha1("\n".join(line.strip() for line in changed).encode()).hexdigest()[:10]  # noqa: S324


def load_equivalents() -> dict[str, tuple[str, str]]:
    """mutant name -> (fingerprint, reason), from `name fingerprint reason...` lines."""
    entries = {}
    if EQUIVALENT_FILE.exists():
        for raw in EQUIVALENT_FILE.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            name, fp, reason = [*line.split(None, 2), "", ""][:3]
            entries[name] = (fp, reason)
    return entries


def pending_mutants(scope: list[str], mutants_dir: Path) -> list[str] | None:
    """The mutants of `scope` that an earlier run left unchecked, by name; None when there is no
    earlier run to resume (no mutant was generated yet).

    mutmut reruns every mutant it is given by name, and without names it runs every mutant of
    every file in only_mutate, beyond `scope`: resuming means naming exactly the unfinished ones."""
    metas = sorted(mutants_dir.glob("**/*.py.meta"))
    if not metas:
        return None
    names = []
    for meta in metas:
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        names += [n for n, code in codes.items() if code is None and any(fnmatch.fnmatchcase(n, p) for p in scope)]
    return sorted(names)


@dataclass
class Result:
    """A mutant's verdict over the passes that tested it: killed when any pass killed it."""

    module: str  # its source file
    statuses: dict[str, str]  # pass name -> mutmut's status
    diff: str = ""  # read where it survived

    @property
    def killed(self) -> bool:
        return any(status in KILLED for status in self.statuses.values())

    @property
    def unchecked(self) -> bool:  # an interrupted run: neither killed nor survived
        return not self.killed and any(status == "not checked" for status in self.statuses.values())


@contextmanager
def _in(tree: Path) -> Iterator[None]:
    """mutmut reads its results relative to the working directory: mutants/ of `tree`."""
    previous = Path.cwd()
    os.chdir(tree)
    try:
        yield
    finally:
        os.chdir(previous)


def results(runs: list[Pass]) -> dict[str, Result]:
    """Every mutant of the passes' scopes, with its status in each pass that tested it."""
    # mutmut's own reading of its results (pinned: requirements-dev.txt).
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    found: dict[str, Result] = {}
    for run in runs:
        if not (run.tree / "mutants").is_dir():
            continue
        with _in(run.tree):
            for path in walk_mutatable_files():
                data = SourceFileMutationData(path=path)
                data.load()
                for name, code in sorted(data.exit_code_by_key.items()):
                    if not any(fnmatch.fnmatchcase(name, pattern) for pattern in run.scope):
                        continue
                    result = found.setdefault(name, Result(module=str(path), statuses={}))
                    result.statuses[run.name] = status_by_exit_code[code]
                    if result.statuses[run.name] not in KILLED | {"not checked"} and not result.diff:
                        result.diff = get_diff_for_mutant(name, path=path)
    return found


def report(min_score: float, runs: list[Pass]) -> int:
    equivalents = load_equivalents()
    per_module: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    survivors: list[tuple[str, str, str, str]] = []
    stale_entries = []
    for name, result in sorted(results(runs).items()):
        counts = per_module[result.module]
        if result.unchecked:
            counts["unchecked"] += 1
            continue
        counts["mutants"] += 1
        if result.killed:
            counts["killed"] += 1
            if name in equivalents:
                stale_entries.append(f"{name}: listed as equivalent but killed now")
            continue
        fp = fingerprint(result.diff)
        if name in equivalents and equivalents[name][0] == fp:
            counts["equivalent"] += 1
            continue
        if name in equivalents:
            stale_entries.append(f"{name}: listed as equivalent, but the mutation is now {fp}")
        counts["survived"] += 1
        status = ", ".join(f"{status} on {run}" for run, status in result.statuses.items())
        survivors.append((name, status, fp, result.diff))

    if not per_module:
        print("No mutation results (did mutmut run?)")
        return 2
    print(f"\nMutation score ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}): killed / (mutants - equivalent)")
    total: dict[str, int] = defaultdict(int)
    for module, counts in sorted(per_module.items()):
        for key, value in counts.items():
            total[key] += value
        print(_score_line(module, counts))
    print(_score_line("all", total))
    for entry in stale_entries:
        print(f"  equivalent.txt out of date: {entry}")
    if survivors:
        print(f"\n{len(survivors)} survivors (not listed in {EQUIVALENT_FILE.relative_to(ROOT)}):")
        for name, status, fp, diff in survivors:
            print(f"\n{name} {fp} [{status}]")
            print("\n".join("    " + line for line in diff.splitlines()[2:]))
    score = _score(total)
    return 0 if score >= min_score else 1


def _score(counts: dict[str, int]) -> float:
    judged = counts["mutants"] - counts["equivalent"]
    return 100.0 * counts["killed"] / judged if judged else 100.0


def _score_line(module: str, counts: dict[str, int]) -> str:
    return (
        f"  {module:32} {_score(counts):5.1f} %  killed {counts['killed']:4} of {counts['mutants']:4}"
        f"  equivalent {counts['equivalent']:3}  survived {counts['survived']:3}"
        + (f"  not run {counts['unchecked']}" if counts["unchecked"] else "")
    )


def copy_tree_for(run: Pass) -> None:
    """The SQLite pass's own copy of the working tree (as it is, edits included), so that its
    mutants, its results and mutmut's map of tests do not meet the PostgreSQL pass's."""
    if run.tree == ROOT:
        return
    shutil.rmtree(run.tree, ignore_errors=True)
    skip = shutil.ignore_patterns(".git", ".venv*", "mutants", ".mutants-*", "node_modules", "__pycache__", "var")
    shutil.copytree(ROOT, run.tree, ignore=skip, symlinks=True)


def run_mutmut(run: Pass, children: int) -> int:
    """`mutmut run` of one pass, in its tree: afresh, or (MUTATE_KEEP=1) on what it left unchecked."""
    keep = os.environ.get("MUTATE_KEEP") == "1"
    if run.database_url is not None:
        prepare_databases(run.database_url, children + 1)  # +1: the slot of mutmut's own clean runs
    if not keep:  # results cached from other code would lie
        copy_tree_for(run)
        shutil.rmtree(run.tree / "mutants", ignore_errors=True)
    for stamp in (run.tree / "mutants" / ".slots").glob("slot*.*"):  # they described dropped databases
        stamp.unlink()
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "MUTATION_DB_SLOTS": str(children + 1),
        "MUTATION_SLOT_DIR": str(run.tree / "mutants" / ".slots"),
    }
    if run.database_url is not None:
        env["DATABASE_URL"] = run.database_url
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    command = ["nice", "-n", os.environ.get("MUTATE_NICE", "15"), mutmut, "run", "--max-children", str(children)]
    targets = pending_mutants(run.scope, run.tree / "mutants") if keep else run.scope
    began = time.monotonic()
    returncode = 0
    for turn in range(2):
        if targets == []:
            print(f"mutmut run ({run.name}): every mutant of the scope has a result already")
            break
        finished = subprocess.run([*command, *(targets or run.scope)], env=env, cwd=run.tree, check=False)
        returncode = finished.returncode
        if returncode == 0 or turn == 1:
            break
        # Once more, on what is left: mutmut keeps the mutants and every result it has, and its
        # clean runs can fail for the shared server's sake (out of connections, of locks).
        targets = pending_mutants(run.scope, run.tree / "mutants")
        print(f"\nmutmut run ({run.name}): exit {returncode}; once more, on the {len(targets or [])} left unchecked")
    print(f"\nmutmut run ({run.name}): exit {returncode}, {time.monotonic() - began:.0f} s")
    return returncode


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    url = os.environ.get("MUTATE_DATABASE_URL", DEFAULT_URL)
    if urlsplit(url).scheme not in {"postgres", "postgresql"}:
        print(f"MUTATE_DATABASE_URL must name a PostgreSQL database, not {url!r}")
        return 2
    children = int(os.environ.get("MUTATE_CHILDREN", "2"))
    min_score = float(os.environ.get("MUTATE_MIN_SCORE", "95"))
    runs = passes(argv or SCOPE, url)
    if os.environ.get("MUTATE_REPORT_ONLY") != "1":
        began = time.monotonic()
        for run in runs:
            if run_mutmut(run, children) != 0:
                return 2
        print(f"\nmake mutate: {len(runs)} pass(es), {time.monotonic() - began:.0f} s")
    return report(min_score, runs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
