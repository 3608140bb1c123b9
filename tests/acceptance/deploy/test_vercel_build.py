"""What `vercel build` really produced, called as Vercel runs it (CI: `.ci/vercel-build.sh`).

Runs only where VERCEL_BUILT_PROJECT names a project copy in which the real CLI (npm
`vercel`, pinned in .ci/vercel-build.sh) has built `.vercel/output`; skipped otherwise.

Which path does a function see after a `rewrites` hop? The original one. Vercel's Python
runtime (`vercel_runtime.vc_init`, installed by @vercel/python into every function) builds the
WSGI environ from the event's `path` (`PATH_INFO` = `payload["path"]`), and the proxy puts the
request's own URL there: the CLI's dev server, which mirrors the platform, keeps
`req.url`'s pathname when it invokes a function and merges only the rewrite's query into it
(vercel/dist/commands/dev: `pathname: origUrl.pathname`). So Django routes every function by
the URL the client asked for (`/api/workflows/execute`, not `/api/execute`), and
gateway/functions.py's budgets, which key on that path, hold in the function the rewrite chose.
The calls below send what the proxy sends: the client's path, in the rewrite's function.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support import built_functions as bf
from tests.support.built_functions import Answer, BuiltFunction

BUILT = os.environ.get("VERCEL_BUILT_PROJECT", "")
pytestmark = pytest.mark.skipif(
    not BUILT, reason="needs a `vercel build` output: set VERCEL_BUILT_PROJECT (CI: .ci/vercel-build.sh)"
)
ROOT = Path(__file__).resolve().parents[3]
CONFIG = json.loads((ROOT / "vercel.json").read_text())
CRON_SECRET = "check-cron-secret-0123456789"
NOT_IN_A_BUNDLE = ("tests/", "benchmarks/", ".ci/", ".git/", ".venv", "node_modules/", "public/", "var/")
# What no static output may hold: source, configuration, secrets, databases.
NOT_STATIC = (".py", ".pyc", ".toml", ".sh", ".cfg", ".ini", ".env", ".lock", ".sqlite3", ".yml", ".yaml")


def _entry(function: BuiltFunction) -> str:
    return function.name + ".py"


@pytest.fixture(scope="module")
def project() -> Path:
    return Path(BUILT).resolve()


@pytest.fixture(scope="module")
def functions(project: Path) -> dict[str, BuiltFunction]:
    return {fn.name: fn for fn in bf.load(project)}


@pytest.fixture(scope="module")
def function_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The project's environment on Vercel (Production), with SQLite for the database."""
    db = tmp_path_factory.mktemp("db") / "functions.sqlite3"
    return {
        "VERCEL": "1",
        "DJANGO_PRODUCTION": "1",
        "SECRET_KEY": "check-" + "k3y-0f-fifty-plus-characters-with-variety-9876543210",
        "ALLOWED_HOSTS": "factory.example",
        "DATABASE_URL": f"sqlite:///{db}",
        "CRON_SECRET": CRON_SECRET,
        "WEBHOOK_SECRET": "whsec_" + "c2VjcmV0LWZvci10aGUtY2hlY2s=",
        "STRIPE_WEBHOOK_SECRET": "whsec_check",
        "AGENTS_BASE_URL": "http://127.0.0.1:9",  # the kick has nowhere to go: nothing leaves this machine
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="module")
def task_roots(
    functions: dict[str, BuiltFunction], function_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    roots = {name: fn.lay_out(tmp_path_factory.mktemp(name.replace("/", "_"))) for name, fn in functions.items()}
    # Migrations from inside a bundle: its files and Python are enough to run manage.py.
    bf.manage(functions["api/index"], roots["api/index"], function_env, "migrate", "--noinput")
    return roots


def _static_name(project: Path) -> str:
    return json.loads((project / "staticfiles" / "staticfiles.json").read_text())["paths"]["admin/css/base.css"]


def _requests(project: Path) -> dict[str, list[dict[str, Any]]]:
    """What each function is asked, as the proxy sends it after the rewrite that chose it."""
    cron = "/api/orchestration/workflow"
    post = {"content-type": "application/json"}
    return {
        "api/index": [
            bf.request("GET", "/api/health"),
            bf.request("GET", "/admin/login/"),
            bf.request("GET", f"/static/{_static_name(project)}"),
        ],
        "api/workflow": [
            bf.request("GET", "/api/health"),
            bf.request("GET", cron, headers={"user-agent": "vercel-cron/1.0"}),
            bf.request("GET", cron, headers={"authorization": "Bearer nope"}),
            bf.request(
                "GET", cron, headers={"authorization": f"Bearer {CRON_SECRET}", "user-agent": "vercel-cron/1.0"}
            ),
        ],
        "api/execute": [
            bf.request("GET", "/api/health"),
            bf.request("POST", "/api/workflows/execute", headers=post, body="{}"),
        ],
        "api/design_ia_generate": [
            bf.request("GET", "/api/health"),
            bf.request("POST", "/api/design-ia/generate", headers=post, body="{}"),
        ],
        "api/automation_deploy": [
            bf.request("GET", "/api/health"),
            bf.request("POST", "/api/automation/deploy", headers=post, body="{}"),
        ],
    }


@pytest.fixture(scope="module")
def answers(
    project: Path, functions: dict[str, BuiltFunction], task_roots: dict[str, Path], function_env: dict[str, str]
) -> dict[str, list[Answer]]:
    """Each function started once, cold, in its own process, then asked its requests in turn."""
    found = {}
    for name, requests in _requests(project).items():
        found[name] = bf.invoke(functions[name], task_roots[name], requests, function_env)
        print(f"{name}: cold start (spawn to first answer) {found[name][0].since_spawn_ms:.0f} ms")
    return found


def test_the_build_made_the_five_functions_of_vercel_json(functions: dict[str, BuiltFunction]) -> None:
    assert sorted(_entry(fn) for fn in functions.values()) == sorted(CONFIG["functions"])


def test_every_function_runs_python_312_through_vercels_handler(functions: dict[str, BuiltFunction]) -> None:
    for fn in functions.values():
        assert fn.config["runtime"] == "python3.12", fn.name
        assert fn.config["handler"] == "vc__handler__python.vc_handler", fn.name
        assert (fn.func_dir / "vc__handler__python.py").is_file()


def test_every_function_has_the_max_duration_of_vercel_json(functions: dict[str, BuiltFunction]) -> None:
    for fn in functions.values():
        assert fn.max_duration == CONFIG["functions"][_entry(fn)]["maxDuration"], fn.name


def test_both_crons_are_in_the_output_config(project: Path) -> None:
    output = json.loads((project / ".vercel" / "output" / "config.json").read_text())
    assert output["crons"] == CONFIG["crons"]


def test_bundles_hold_the_app_and_its_dependencies_but_no_tests_benchmarks_or_ci(
    functions: dict[str, BuiltFunction],
) -> None:
    for fn in functions.values():
        paths = fn.bundle_paths
        size = fn.unzipped_bytes()
        limit = bf.MAX_UNZIPPED_BYTES >> 20
        print(f"{fn.name}: {len(paths)} files, {size / 1024 / 1024:.1f} MB unzipped (limit {limit} MB)")
        assert size < bf.MAX_UNZIPPED_BYTES, fn.name
        assert not [p for p in paths if p.startswith(NOT_IN_A_BUNDLE)], fn.name
        for needed in (_entry(fn), "config/settings.py", "manage.py", "staticfiles/staticfiles.json"):
            assert needed in paths, f"{fn.name} lacks {needed}"
        # Dependencies where the runtime's trampoline puts them on sys.path, built for 3.12.
        assert any(p.startswith("_vendor/django/") for p in paths), fn.name
        assert any(p.startswith("_vendor/psycopg_binary/") for p in paths), fn.name
        assert not [p for p in paths if re.search(r"cpython-3(?!12)\d+-", p)], f"{fn.name}: wheels of another Python"


def test_the_static_output_holds_static_assets_only(project: Path) -> None:
    static = project / ".vercel" / "output" / "static"
    files = [str(p.relative_to(static)) for p in static.rglob("*") if p.is_file()]
    assert files, "no static files published"
    assert all(f.startswith("static/") for f in files), [f for f in files if not f.startswith("static/")][:10]
    assert not [f for f in files if f.endswith(NOT_STATIC) or Path(f).name.startswith(".")], files[:10]
    assert "static/staticfiles.json" not in files  # the manifest is the function's, not the public's


def test_health_admin_and_a_static_file_answer_through_the_default_function(
    answers: dict[str, list[Answer]], project: Path
) -> None:
    health, login, css = answers["api/index"]

    assert health.status == 200, health.body[:2000]
    assert login.status == 200, login.body[:2000]
    assert "csrfmiddlewaretoken" in login.body
    assert css.status == 200, css.body[:500]
    assert css.headers["content-type"].startswith("text/css")
    # The CDN has it too, at the same URL, before any rewrite (the filesystem is checked first).
    assert (project / ".vercel" / "output" / "static" / "static" / _static_name(project)).is_file()


def test_the_cron_tick_wants_the_bearer_secret_in_its_own_function(answers: dict[str, list[Answer]]) -> None:
    _, anonymous, wrong, vercel_cron = answers["api/workflow"]

    assert anonymous.status == 401, anonymous.body
    assert wrong.status == 401, wrong.body
    assert vercel_cron.status == 200, vercel_cron.body
    assert "claimed" in json.loads(vercel_cron.body)


@pytest.mark.parametrize(
    ("function", "path"),
    [
        ("api/execute", "/api/workflows/execute"),
        ("api/design_ia_generate", "/api/design-ia/generate"),
        ("api/automation_deploy", "/api/automation/deploy"),
    ],
)
def test_an_unsigned_post_to_a_rewritten_route_is_refused_by_its_view(
    answers: dict[str, list[Answer]], function: str, path: str
) -> None:
    rewrites = {r["source"]: r["destination"] for r in CONFIG["rewrites"]}
    assert rewrites[path] == "/" + function

    _, unsigned = answers[function]

    # Refused by the route's own view (a signature error in JSON), not a 404 of a wrong path.
    assert 400 <= unsigned.status < 500 and unsigned.status != 404, unsigned.body
    assert unsigned.headers["content-type"].startswith("application/json")


def test_every_function_answers_its_health_check(answers: dict[str, list[Answer]]) -> None:
    assert sorted(answers) == sorted(fn.removesuffix(".py") for fn in CONFIG["functions"])
    for name, (health, *_) in answers.items():
        assert health.status == 200, f"{name}: {health.body[:1000]}"
