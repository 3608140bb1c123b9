"""`make mutate`'s own logic (mutation/) that needs no mutmut run: which mutants a resumed run
(MUTATE_KEEP=1) gives mutmut, and when a mutant's session stops."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mutation.pytest_fail_fast import exit_code_for, in_a_mutant
from mutation.run import pending_mutants


def _meta(mutants: Path, source: str, codes: dict[str, int | None]) -> None:
    path = mutants / f"{source}.meta"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exit_code_by_key": codes, "durations_by_key": {}, "estimated_durations_by_key": {}}))


def test_a_resumed_run_names_only_the_unchecked_mutants_of_its_scope(tmp_path: Path) -> None:
    _meta(
        tmp_path,
        "orchestration/retry.py",
        {"orchestration.retry.x_delay__mutmut_1": 1, "orchestration.retry.x_delay__mutmut_2": None},
    )
    _meta(
        tmp_path,
        "gateway/services.py",
        {"gateway.services.x__finish__mutmut_1": None, "gateway.services.x_report__mutmut_1": None},
    )

    pending = pending_mutants(["orchestration.retry.*", "gateway.services.x__finish__mutmut_*"], tmp_path)

    assert pending == ["gateway.services.x__finish__mutmut_1", "orchestration.retry.x_delay__mutmut_2"]


def test_a_finished_run_leaves_nothing_to_resume(tmp_path: Path) -> None:
    _meta(tmp_path, "orchestration/retry.py", {"orchestration.retry.x_delay__mutmut_1": 0})

    assert pending_mutants(["orchestration.retry.*"], tmp_path) == []


def test_without_generated_mutants_there_is_no_run_to_resume(tmp_path: Path) -> None:
    assert pending_mutants(["orchestration.retry.*"], tmp_path / "mutants") is None


def test_mutmuts_copy_of_the_tree_holds_every_app_the_settings_install() -> None:
    """mutmut runs the tests in a copy of the tree made of source_paths and also_copy: an app
    missing from both fails every mutant's session at django.setup(), and the run with it."""
    import tomllib

    from django.conf import settings

    from tests.conftest import ROOT

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    copied = set(config["source_paths"]) | set(config["also_copy"])
    ours = {app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()}

    assert ours - copied == set()
    assert {"config", "templates", "manage.py"} <= copied


class _Report:
    def __init__(self, outcome: str, longrepr: str = "") -> None:
        self.failed = outcome == "failed"
        self.longrepr = longrepr


def test_a_mutants_session_ends_at_its_first_failure_as_a_kill_or_a_timeout() -> None:
    assert exit_code_for(_Report("passed")) is None
    assert exit_code_for(_Report("failed", "AssertionError: assert 1 == 2")) == 1  # mutmut: killed
    timed_out = "Failed: Timeout (>15.0s) from pytest-timeout."
    assert exit_code_for(_Report("failed", timed_out)) == 36  # mutmut: timeout


def test_only_a_mutants_own_session_is_cut_short(monkeypatch: Any) -> None:
    for own in ("", "stats", "fail", "list_all_tests"):  # mutmut's stats, clean and forced-fail runs
        monkeypatch.setenv("MUTANT_UNDER_TEST", own)
        assert not in_a_mutant()
    monkeypatch.setenv("MUTANT_UNDER_TEST", "orchestration.dispatch.x_call_back__mutmut_1")
    assert in_a_mutant()


def test_a_fork_on_a_slot_not_yet_migrated_gets_its_database_created(tmp_path: Path, monkeypatch: Any) -> None:
    """mutmut forks its mutants from a process whose sessions skipped migrate on their slot: a
    fork on another slot must still create its database (else its every test errs: a false kill)."""
    from django.db.backends.base.creation import BaseDatabaseCreation

    import mutation.pytest_slot_db as slot_db

    created: list[int | None] = []
    monkeypatch.setattr(BaseDatabaseCreation, "create_test_db", lambda self, **kw: created.append(slot_db._slot))
    monkeypatch.setattr(slot_db, "SLOT_DIR", tmp_path)
    monkeypatch.setattr(slot_db, "_slot", 0)
    slot_db._migrated_stamp(0).touch()
    slot_db._use_the_migrated_database()  # the parent's session on slot 0, migrated already

    monkeypatch.setattr(slot_db, "_slot", 1)  # a fork that took slot 1, never migrated
    BaseDatabaseCreation.create_test_db(object(), keepdb=True)

    assert created == [1]


def test_every_module_make_mutate_scores_is_one_mutmut_mutates() -> None:
    """A scope entry whose file is not in only_mutate has no mutants: its module would drop out of
    the score without a word (as the ledger would have when it moved to the engine)."""
    import tomllib

    from mutation.run import SCOPE
    from tests.conftest import ROOT

    mutated = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"])
    modules = {pattern.split(".x_")[0].removesuffix(".*") for pattern in SCOPE}

    assert {module.replace(".", "/") + ".py" for module in modules} - mutated == set()


def test_a_mutants_tests_run_its_functions_last_killers_first_then_fastest_first(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from types import SimpleNamespace

    from mutation import pytest_kill_order as kill_order

    monkeypatch.setenv("MUTATION_SLOT_DIR", str(tmp_path / ".slots"))
    monkeypatch.setenv("MUTANT_UNDER_TEST", "orchestration.queue.x_claim__mutmut_7")
    assert kill_order.mutated_function() == "orchestration.queue.x_claim"
    kill_order.remember_killer("orchestration.queue.x_claim", "t.py::slow_killer")
    kill_order.remember_killer("orchestration.queue.x_claim", "t.py::other_killer")
    kill_order.remember_killer("orchestration.queue.x_claim", "t.py::slow_killer")  # killed again: first
    assert kill_order.killers_of("orchestration.queue.x_claim") == ["t.py::slow_killer", "t.py::other_killer"]
    assert kill_order.killers_of("orchestration.queue.x_other") == []

    items = [SimpleNamespace(nodeid=n) for n in ("t.py::slow", "t.py::fast", "t.py::other_killer", "t.py::slow_killer")]
    durations = {"t.py::slow": 3.0, "t.py::fast": 0.1, "t.py::other_killer": 0.5, "t.py::slow_killer": 9.0}
    ordered = kill_order.in_kill_order(items, kill_order.killers_of("orchestration.queue.x_claim"), durations)
    assert [i.nodeid for i in ordered] == ["t.py::slow_killer", "t.py::other_killer", "t.py::fast", "t.py::slow"]


def test_only_a_mutants_session_is_reordered(monkeypatch: Any) -> None:
    from mutation import pytest_kill_order as kill_order

    monkeypatch.setenv("MUTANT_UNDER_TEST", "mutant_generation")
    assert kill_order.mutated_function() is None
    monkeypatch.delenv("MUTANT_UNDER_TEST")
    assert kill_order.mutated_function() is None


def test_the_portable_queue_is_mutated_on_sqlite_and_the_rest_on_postgresql() -> None:
    """The portable queue never runs on PostgreSQL: its mutants would all survive there. The queue's
    face and its shared helpers choose the implementation by database, so they get both passes."""
    from mutation.run import ROOT, SCOPE, SQLITE_TREE, passes

    postgres, sqlite = passes(SCOPE, "postgres://x/mutate")

    assert (postgres.name, postgres.tree, postgres.database_url) == ("postgresql", ROOT, "postgres://x/mutate")
    assert "orchestration.queue_portable.*" not in postgres.scope
    assert set(SCOPE) - set(postgres.scope) == {"orchestration.queue_portable.*"}
    assert (sqlite.name, sqlite.tree, sqlite.database_url) == ("sqlite", SQLITE_TREE, None)
    assert set(sqlite.scope) == {
        "orchestration.queue.*",
        "orchestration.queue_portable.*",
        "orchestration.queue_shared.*",
    }


def test_a_scope_of_one_module_runs_only_the_passes_it_needs() -> None:
    from mutation.run import passes

    assert [p.name for p in passes(["orchestration.retry.*"], "u")] == ["postgresql"]
    assert [p.name for p in passes(["orchestration.queue_portable.x_claim__mutmut_3"], "u")] == ["sqlite"]
    assert [p.name for p in passes(["orchestration.queue_shared.*"], "u")] == ["postgresql", "sqlite"]


def test_a_mutant_of_both_passes_is_killed_when_either_pass_kills_it() -> None:
    from mutation.run import Result

    assert Result("q.py", {"postgresql": "survived", "sqlite": "killed"}).killed
    assert not Result("q.py", {"postgresql": "survived", "sqlite": "no tests"}).killed
    assert Result("q.py", {"postgresql": "survived", "sqlite": "not checked"}).unchecked
    assert not Result("q.py", {"postgresql": "killed", "sqlite": "not checked"}).unchecked
