"""vercel.json, the entry modules, the URLconf and the engine's budgets agree.

Limits are read from vercel.json itself (route -> rewrite -> function file ->
maxDuration), never from gateway/functions.py's table, so a change on either side
alone fails here.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.urls import Resolver404, resolve

from gateway.functions import DEFAULT_ENTRY, DEFAULT_MAX_DURATION, FUNCTIONS, budget_for
from orchestration import dispatch
from orchestration.conf import engine_settings
from orchestration.workflows import Step, get_workflow
from tests.integration.gateway.test_url_guard import all_patterns, example_path

ROOT = Path(__file__).resolve().parents[3]
CONFIG = json.loads((ROOT / "vercel.json").read_text())
ENTRIES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "api").glob("*.py"))


def test_functions_and_legacy_builds_are_not_mixed() -> None:
    assert "builds" not in CONFIG and "routes" not in CONFIG
    assert CONFIG["functions"] and CONFIG["rewrites"] and CONFIG["crons"]


@pytest.mark.parametrize("glob", sorted(CONFIG["functions"]))
def test_every_functions_glob_matches_an_entry_that_exposes_the_wsgi_app(glob: str) -> None:
    matched = [entry for entry in ENTRIES if fnmatch(entry, glob)]
    assert matched, f"{glob} matches no file: Vercel fails the build"
    for entry in matched:
        module = importlib.import_module(entry.removesuffix(".py").replace("/", "."))
        assert callable(module.app)


def test_the_seed_limits_are_kept() -> None:
    limits = {glob: spec["maxDuration"] for glob, spec in CONFIG["functions"].items()}
    assert limits[DEFAULT_ENTRY] == DEFAULT_MAX_DURATION == 60
    assert {path: limits[entry] for path, (entry, _) in FUNCTIONS.items()} == {
        "/api/orchestration/workflow": 120,
        "/api/workflows/execute": 300,
        "/api/design-ia/generate": 180,
        "/api/automation/deploy": 240,
    }
    assert {path: seconds for path, (_, seconds) in FUNCTIONS.items()} == {
        path: limits[entry] for path, (entry, _) in FUNCTIONS.items()
    }


def _destination_entry(destination: str) -> str:
    return destination.lstrip("/") + ".py"


def test_every_rewrite_sends_its_route_to_the_entry_with_its_limit() -> None:
    rewrites = {r["source"]: r["destination"] for r in CONFIG["rewrites"]}
    for path, (entry, _) in FUNCTIONS.items():
        assert _destination_entry(rewrites[path]) == entry
        resolve(path)
    assert _destination_entry(rewrites["/(.*)"]) == DEFAULT_ENTRY
    assert list(rewrites)[-1] == "/(.*)"  # the catch-all comes last
    for destination in rewrites.values():
        assert _destination_entry(destination) in CONFIG["functions"]


@pytest.mark.parametrize("cron", CONFIG["crons"], ids=lambda c: c["path"])
def test_every_cron_path_resolves_exactly_without_a_redirect(cron: dict[str, str]) -> None:
    path = cron["path"]
    match = resolve(path)  # exact: no trailing-slash variant needed (APPEND_SLASH would 301)
    assert match.url_name
    with pytest.raises(Resolver404):
        resolve(path + "/")
    assert cron["schedule"] in ("*/2 * * * *", "*/5 * * * *")


def test_the_crons_are_the_tick_every_two_minutes_and_metrics_every_five() -> None:
    assert {c["path"]: c["schedule"] for c in CONFIG["crons"]} == {
        "/api/orchestration/workflow": "*/2 * * * *",
        "/api/system/metrics": "*/5 * * * *",
    }


def _source_regex(source: str) -> str:
    """A rewrite source as a regex. Ours are literal paths or end in `(.*)`; anything richer
    (`:param`, a regex group) needs path-to-regexp here first, so it is refused rather than guessed."""
    parts = source.split("(.*)")
    assert all(re.fullmatch(r"[A-Za-z0-9/_.-]*", part) for part in parts), f"unsupported rewrite source {source!r}"
    return "(.*)".join(re.escape(part) for part in parts)


def vercel_entry_for(path: str) -> str:
    """The function file Vercel runs for `path`: the destination of the first matching rewrite."""
    for rewrite in CONFIG["rewrites"]:
        if re.fullmatch(_source_regex(rewrite["source"]), path):
            return _destination_entry(rewrite["destination"])
    raise AssertionError(f"no rewrite in vercel.json matches {path}")


def vercel_max_duration(path: str) -> int:
    return int(CONFIG["functions"][vercel_entry_for(path)]["maxDuration"])


def _margin() -> float:
    return engine_settings.SAFETY_MARGIN_SECONDS


API_PATHS = sorted({example_path(route) for route, _ in all_patterns() if route.startswith(("api/", "^api/"))})
ORDER_STEPS = get_workflow("order").steps


def test_the_table_of_limits_names_the_file_vercel_really_runs() -> None:
    for path, (entry, seconds) in FUNCTIONS.items():
        assert vercel_entry_for(path) == entry
        assert vercel_max_duration(path) == seconds


@pytest.mark.parametrize("path", sorted({*FUNCTIONS, *API_PATHS}))
def test_the_engine_budget_of_every_route_ends_before_its_max_duration(path: str, clock: Any) -> None:
    resolve(path)
    max_duration = vercel_max_duration(path)  # from vercel.json, not from gateway/functions.py

    budget = budget_for(path).deadline - clock.monotonic()

    assert 0 < budget <= max_duration - _margin()


@pytest.mark.parametrize("step", ORDER_STEPS, ids=lambda step: step.name)
def test_every_order_step_fits_the_budget_of_the_agent_route_that_runs_it(step: Step, clock: Any) -> None:
    """In HTTP mode a step runs inside its agent route's invocation: a timeout longer than that
    route's budget would be cut by Vercel (maxDuration), not by the engine."""
    route = dispatch.agent_path(step.action)
    resolve(route)
    max_duration = vercel_max_duration(route)

    route_budget = budget_for(route).deadline - clock.monotonic()

    assert step.timeout_seconds <= route_budget, (
        f"step {step.name} ({step.action}) may run {step.timeout_seconds} s, but {route} has {route_budget} s"
    )
    assert route_budget <= max_duration - _margin()


@pytest.mark.parametrize("step", ORDER_STEPS, ids=lambda step: step.name)
def test_a_fresh_execute_invocation_can_wait_for_any_order_steps_answer(step: Step, clock: Any) -> None:
    """The engine dispatching over HTTP (from /api/workflows/execute on Vercel) holds its request
    open for the step's deadline plus a grace period: that must fit in the execute budget."""
    execute = dispatch.EXECUTE_PATH
    budget = budget_for(execute).deadline - clock.monotonic()

    assert step.timeout_seconds + dispatch.ANSWER_GRACE_SECONDS <= budget
    assert budget <= vercel_max_duration(execute) - _margin()


def test_build_files_collects_and_migrates_only_on_request_and_installs_nothing_into_the_project() -> None:
    """Vercel's Python builder installs pyproject.toml's dependencies into each function; a
    `pip install` here landed in a folder on no function's path (70 MB of dead weight)."""
    script = (ROOT / "build_files.sh").read_text()
    assert "collectstatic --noinput" in script
    assert 'MIGRATE_ON_BUILD:-0}" = "1"' in script
    # Only into a throwaway environment outside the project (when uv is missing), never into a bundle.
    assert all("$BUILD_VENV" in line for line in script.splitlines() if "pip install" in line)
    assert CONFIG["buildCommand"] == "bash build_files.sh"
    result = subprocess.run(["bash", "-n", str(ROOT / "build_files.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_framework_is_pinned_to_none_so_the_django_preset_cannot_drop_the_functions() -> None:
    """The dashboard detects Django on import; its preset builds one function from config/wsgi.py
    and silently drops api/*.py with their maxDuration. vercel.json's `framework` wins over it."""
    assert "framework" in CONFIG and CONFIG["framework"] is None


def test_only_the_collected_static_files_are_published_and_the_static_builder_installs_nothing() -> None:
    assert CONFIG["outputDirectory"] == "public"
    assert CONFIG["installCommand"] == ""
    script = (ROOT / "build_files.sh").read_text()
    assert "rm -rf staticfiles public" in script and "cp -R staticfiles public/static" in script


@pytest.mark.parametrize("glob", sorted(CONFIG["functions"]))
def test_every_function_bundle_excludes_tests_benchmarks_and_ci(glob: str) -> None:
    excluded = CONFIG["functions"][glob]["excludeFiles"]
    for folder in ("tests", "benchmarks", ".ci", "var"):
        assert re.search(rf"[{{,]{re.escape(folder)}[,}}]", excluded), (glob, folder)


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_PRODUCTION": "1",
        "DEBUG": "0",
        "SECRET_KEY": "prod-" + "k3y-0f-fifty-plus-characters-with-variety-9876543210",
        "ALLOWED_HOSTS": "factory.example",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "CRON_SECRET": "c",
        # The local provider publishes the sites: their legal notices name this host (agents/checks.py).
        "LEGAL_HOST_NAME": "Studio Hosting SAS",
        "LEGAL_HOST_ADDRESS": "1 rue de l'Exemple, 75001 Paris",
        "LEGAL_HOST_CONTACT": "01 23 45 67 89",
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("provider", ["local", "vercel"])
def test_check_deploy_warns_when_the_legal_notices_cannot_name_their_host(settings: Any, provider: str) -> None:
    settings.DEPLOY_PROVIDER = provider
    settings.LEGAL_HOST_NAME = settings.LEGAL_HOST_ADDRESS = settings.LEGAL_HOST_CONTACT = ""

    found = [m.id for m in checks.run_checks(include_deployment_checks=True) if m.id.startswith("agents.")]

    # Vercel-published notices name Vercel Inc.; the local provider's name what LEGAL_HOST_* says, or nobody.
    assert found == (["agents.W001"] if provider == "local" else [])
    settings.LEGAL_HOST_NAME, settings.LEGAL_HOST_ADDRESS, settings.LEGAL_HOST_CONTACT = ("Host SAS", "Paris", "01")
    assert not [m for m in checks.run_checks(include_deployment_checks=True) if m.id.startswith("agents.")]
