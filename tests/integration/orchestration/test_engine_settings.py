"""The engine's settings (orchestration/conf.py) and their start-up checks (orchestration/checks.py)."""

from __future__ import annotations

import ast
import runpy
import subprocess
import sys
from typing import Any

import pytest
from django import conf
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from orchestration import services
from orchestration.checks import TAG, VARIABLES, refuse_bad_settings
from orchestration.conf import DEFAULTS, EngineSettings, engine_settings
from orchestration.limits import ConcurrencyLimits, parse_limits
from orchestration.models import Task, TaskStatus
from tests.conftest import ROOT, start_worker, worker_env

APPS = {"orchestration", "orders", "agents", "metrics", "gateway", "api", "tests"}


def _settings_from(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """config/settings.py executed afresh with only these engine variables set (as a new process reads it)."""
    for variable in {name for name, _ in _engine_variables().values()} | {"ENGINE_KICK", "VERCEL"}:
        monkeypatch.delenv(variable, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "config" / "settings.py"))


def _engine_variables() -> dict[str, tuple[str, type]]:
    return runpy.run_path(str(ROOT / "config" / "settings.py"))["_ENGINE_VARIABLES"]


def _engine_messages() -> list[checks.CheckMessage]:
    return checks.run_checks(tags=[TAG])


# --- engine_settings ---------------------------------------------------------------------------


def test_every_setting_has_its_default_when_the_project_sets_none() -> None:
    with override_settings(ORCHESTRATION={}):
        assert engine_settings.DISPATCH_MODE == "inline"
        assert engine_settings.LEASE_SECONDS == 20.0
        assert engine_settings.SAFETY_MARGIN_SECONDS == 10.0
        assert engine_settings.CLAIM_BATCH_SIZE == 10
        assert engine_settings.POLL_INTERVAL_SECONDS == 1.0
        assert engine_settings.EFFECT_HOLD_SECONDS == 300.0
        assert (engine_settings.PREPARE, engine_settings.NOTIFY) == (True, True)
        assert (engine_settings.KICK, engine_settings.HTTP_RESPOND_ASYNC) == (False, False)
        assert (engine_settings.FAULTS, tuple(engine_settings.ACTION_MODULES)) == ("", ())
        limits = engine_settings.CONCURRENCY_LIMITS
        assert isinstance(limits, ConcurrencyLimits)
        assert (limits.limit_of("design-ia"), limits.limit_of("ads-management"), limits.limit_of("x")) == (8, 8, None)


def test_the_environment_reaches_the_engine_through_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    read = _settings_from(
        monkeypatch, ENGINE_LEASE_SECONDS="3", ENGINE_CONCURRENCY_LIMITS="project:*=2", DISPATCH_RESPOND_ASYNC="1"
    )
    assert "SAFETY_MARGIN_SECONDS" not in read["ORCHESTRATION"], "an unset variable leaves the default to the engine"
    with override_settings(ORCHESTRATION=read["ORCHESTRATION"]):
        assert engine_settings.LEASE_SECONDS == 3.0
        assert engine_settings.CONCURRENCY_LIMITS.limit_of("project:42") == 2
        assert engine_settings.CONCURRENCY_LIMITS.limit_of("design-ia") is None
        assert engine_settings.HTTP_RESPOND_ASYNC is True
        assert DEFAULTS["SAFETY_MARGIN_SECONDS"] == engine_settings.SAFETY_MARGIN_SECONDS


def test_an_override_is_seen_at_once_and_undone_after(settings: Any) -> None:
    before = engine_settings.LEASE_SECONDS  # cached now
    with override_settings(ORCHESTRATION={**settings.ORCHESTRATION, "LEASE_SECONDS": 0.6, "CLAIM_BATCH_SIZE": "3"}):
        assert engine_settings.LEASE_SECONDS == 0.6
        assert engine_settings.CLAIM_BATCH_SIZE == 3, "converted to the default's type"
    assert before == engine_settings.LEASE_SECONDS
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "DISPATCH_MODE": "http"}  # pytest-django's fixture
    assert engine_settings.DISPATCH_MODE == "http"


def test_given_limits_are_used_as_they_are() -> None:
    limits = parse_limits("provider:x=1")
    with override_settings(ORCHESTRATION={"CONCURRENCY_LIMITS": limits}):
        assert engine_settings.CONCURRENCY_LIMITS is limits
    with override_settings(ORCHESTRATION={"CONCURRENCY_LIMITS": {"design-ia": 2}}):
        assert engine_settings.CONCURRENCY_LIMITS.limit_of("design-ia") == 2
    with override_settings(ORCHESTRATION={"CONCURRENCY_LIMITS": ""}):
        assert not engine_settings.CONCURRENCY_LIMITS


def test_a_value_is_read_once_until_the_settings_change() -> None:
    configured = {"LEASE_SECONDS": 5.0}
    with override_settings(ORCHESTRATION=configured):
        assert engine_settings.LEASE_SECONDS == 5.0
        configured["LEASE_SECONDS"] = 7.0  # in place: no setting_changed signal
        assert engine_settings.LEASE_SECONDS == 5.0, "cached"
        engine_settings.reload()
        assert engine_settings.LEASE_SECONDS == 7.0


def test_an_unknown_setting_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no engine setting 'LEASE_SECOND'"):
        _ = engine_settings.LEASE_SECOND


def test_a_settings_object_of_its_own_defaults() -> None:
    own = EngineSettings({"LEASE_SECONDS": 1.5})
    with override_settings(ORCHESTRATION={}):
        assert own.LEASE_SECONDS == 1.5
        with pytest.raises(AttributeError):
            _ = own.DISPATCH_MODE


def test_the_settings_module_imports_none_of_the_apps() -> None:
    tree = ast.parse((ROOT / "config" / "settings.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name.split(".")[0] for name in imported} & APPS, imported


def test_the_settings_read_every_engine_variable_the_checks_name() -> None:
    variables = _engine_variables()
    assert set(variables) <= set(DEFAULTS), "every setting the environment sets has a default"
    assert {name: variables[name][0] for name in VARIABLES} == VARIABLES


# --- the checks ----------------------------------------------------------------------------------


def test_the_default_settings_pass_the_checks() -> None:
    with override_settings(ORCHESTRATION={}):
        assert _engine_messages() == []
    assert _engine_messages() == [], "nor does the test run's configuration fail them"


@pytest.mark.parametrize(
    ("setting", "value", "check_id", "message"),
    [
        ("DISPATCH_MODE", "sync", "orchestration.E001", "DISPATCH_MODE (ORCHESTRATION['DISPATCH_MODE']) must be"),
        ("DISPATCH_MODE", "", "orchestration.E001", "must be 'inline' or 'http', got ''"),
        (
            "CONCURRENCY_LIMITS",
            "design-ia=-1",
            "orchestration.E002",
            "ENGINE_CONCURRENCY_LIMITS (ORCHESTRATION['CONCURRENCY_LIMITS']) is invalid: limit of 'design-ia'",
        ),
        ("CONCURRENCY_LIMITS", "design-ia", "orchestration.E002", "entry 'design-ia' is not 'key=limit'"),
        ("CONCURRENCY_LIMITS", 8, "orchestration.E002", "is invalid: expected 'key=limit,...' text or a dict, got int"),
        ("LEASE_SECONDS", 0, "orchestration.E003", "ENGINE_LEASE_SECONDS (ORCHESTRATION['LEASE_SECONDS']) must be"),
        ("LEASE_SECONDS", "soon", "orchestration.E003", "a number of seconds above 0, got 'soon'"),
        ("POLL_INTERVAL_SECONDS", -1.0, "orchestration.E003", "ENGINE_POLL_INTERVAL_SECONDS"),
        ("CLAIM_BATCH_SIZE", 0, "orchestration.E003", "ENGINE_CLAIM_BATCH_SIZE (ORCHESTRATION['CLAIM_BATCH_SIZE'])"),
        ("SAFETY_MARGIN_SECONDS", -5.0, "orchestration.E003", "must be a number of seconds at least 0, got -5.0"),
        ("EFFECT_HOLD_SECONDS", float("nan"), "orchestration.E003", "ORCHESTRATION['EFFECT_HOLD_SECONDS'] must be"),
        ("LEASE_SECOND", 3.0, "orchestration.W001", "does not know, and ignores: LEASE_SECOND"),
    ],
)
def test_a_bad_value_is_reported_by_its_check(setting: str, value: Any, check_id: str, message: str) -> None:
    with override_settings(ORCHESTRATION={**conf.settings.ORCHESTRATION, setting: value}):
        found = _engine_messages()
    assert [m.id for m in found] == [check_id]
    assert message in found[0].msg
    assert found[0].is_serious() is check_id.startswith("orchestration.E"), "an error refuses to start"


@pytest.mark.parametrize(("setting", "bound"), [("LEASE_SECONDS", 0.0), ("CLAIM_BATCH_SIZE", 1)])
def test_a_number_just_inside_its_bound_passes(setting: str, bound: float) -> None:
    nudged = bound + 0.001 if isinstance(bound, float) else bound
    with override_settings(ORCHESTRATION={**conf.settings.ORCHESTRATION, setting: nudged}):
        assert _engine_messages() == []


def test_an_entry_point_without_system_checks_refuses_a_bad_value() -> None:
    refuse_bad_settings()  # the test run's own settings are good
    with (
        override_settings(ORCHESTRATION={"DISPATCH_MODE": "sync", "LEASE_SECONDS": 0, "LEASE_SECOND": 1}),
        pytest.raises(ImproperlyConfigured) as refused,
    ):
        refuse_bad_settings()
    assert "(orchestration.E001) DISPATCH_MODE" in str(refused.value)
    assert "(orchestration.E003) ENGINE_LEASE_SECONDS" in str(refused.value)
    assert "W001" not in str(refused.value), "a warning does not stop a process"


def test_a_silenced_error_does_not_refuse() -> None:
    with override_settings(ORCHESTRATION={"DISPATCH_MODE": "sync"}, SILENCED_SYSTEM_CHECKS=["orchestration.E001"]):
        refuse_bad_settings()


# --- start-up: the processes that run the engine refuse a bad value ---------------------------------


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=worker_env(**env), cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_manage_py_check_reports_a_bad_value_by_its_id() -> None:
    result = _run("manage.py", "check", ENGINE_CONCURRENCY_LIMITS="design-ia=-1")
    assert result.returncode != 0
    assert "(orchestration.E002) ENGINE_CONCURRENCY_LIMITS" in result.stderr
    assert "limit of 'design-ia' must be at least 1, got -1" in result.stderr


def test_the_wsgi_application_refuses_to_load_with_a_bad_value() -> None:
    result = _run("-c", "import config.wsgi", DISPATCH_MODE="sync")
    assert result.returncode != 0
    assert "ImproperlyConfigured: (orchestration.E001) DISPATCH_MODE" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_a_worker_refuses_to_start_with_a_bad_value_before_claiming_anything() -> None:
    task = services.enqueue("engine.noop")
    worker = start_worker("--drain", ENGINE_LEASE_SECONDS="0")
    out, _ = worker.communicate(timeout=120)
    assert worker.returncode != 0
    assert "(orchestration.E003) ENGINE_LEASE_SECONDS" in out
    assert Task.objects.get(id=task.id).status == TaskStatus.QUEUED, "no work was done"


def test_a_fault_plan_fails_the_deploy_check_and_only_it(settings) -> None:
    from django.core.checks import run_checks

    def deploy_ids() -> set[str]:
        return {m.id for m in run_checks(tags=["orchestration"], include_deployment_checks=True)}

    assert "orchestration.E004" not in deploy_ids()
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "FAULTS": '{"seed": 1}'}
    assert "orchestration.E004" in deploy_ids()
    assert "orchestration.E004" not in {m.id for m in run_checks(tags=["orchestration"])}, "a load test's workers start"
