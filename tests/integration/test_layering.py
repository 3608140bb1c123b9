"""The layers, read from the source. Bottom first, an app imports only the ones before it:

    core < orchestration < orders < agents < metrics < gateway < loadtest < config < api

`core/` is the bottom layer: its modules import the standard library, Django and third-party
packages only, never one of our apps, `config` or anything else of this project. The engine
(`orchestration/`) stands on core alone: it imports nothing of the apps built on it (orders,
agents, metrics, gateway), which hear of it through its signals, nor of the load test
(`loadtest/`), which it meets only at its fault seam, by a dotted path from the settings. orders
is what an order is; agents do its work; metrics reads the engine's and the orders' rows for
staff; gateway is the HTTP surface on all of them. The load test drives the whole product;
`config` wires it (settings, URLs, WSGI) and `api/` holds the serverless entry points that load
it. The graph of app -> app imports has no cycle, and none of its arrows points up.

Read from the source with `ast` (nothing is imported), so the check covers code that only runs
sometimes: imports inside functions, under `if TYPE_CHECKING:`, relative imports, and the dynamic
ones (`importlib.import_module`, `__import__`, Django's `import_string`) given a literal name.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import pytest
from django.core.exceptions import ImproperlyConfigured

from orchestration.faults import fault_hook

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core"
# Named outright, so the guard holds even if one of them stopped being a package on disk.
APPS = {"orchestration", "orders", "agents", "metrics", "gateway", "config", "api", "loadtest"}
DYNAMIC_IMPORTS = {"import_module", "__import__", "import_string"}


def project_packages() -> set[str]:
    """Every top-level package or module of this project but core: the apps, config, tests, tools."""
    names = {path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file()}
    names |= {path.stem for path in ROOT.glob("*.py")}
    return (names | APPS) - {"core"}


def _resolve(module: str | None, level: int, package: tuple[str, ...]) -> str | None:
    """The absolute name a `from ... import` names, or None for a relative import that climbs out
    of the top-level package."""
    if level == 0:
        return module
    if level > len(package):
        return None
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, module] if module else base)


class Import(NamedTuple):
    line: int
    name: str | None  # absolute; None for a relative import that climbs out of the top-level package
    written: str  # as the source says it: "orders.models", "..metrics"
    relative: bool


def imports(source: str, module_name: str, *, is_package: bool = False) -> list[Import]:
    """Each import in `source` (the module `module_name`), wherever it stands: static ones, and the
    dynamic ones given a literal name."""
    parts = tuple(module_name.split("."))
    package = parts if is_package else parts[:-1]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(node.lineno, alias.name, alias.name, False) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            written = "." * node.level + (node.module or "")
            found.append(Import(node.lineno, _resolve(node.module, node.level, package), written, node.level > 0))
        elif isinstance(node, ast.Call) and _called_name(node.func) in DYNAMIC_IMPORTS and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append(Import(node.lineno, first.value, first.value, False))
    return found


def violations(
    source: str, module_name: str, *, forbidden: set[str], is_package: bool = False, top: str = "core"
) -> list[str]:
    """What `source` (the module `module_name`, under the top-level package `top`) imports that
    it must not, as 'line: name'. A relative import that leaves `top` counts, whatever it names."""
    found: list[str] = []
    for item in imports(source, module_name, is_package=is_package):
        if item.relative and (item.name is None or item.name.split(".")[0] != top):
            found.append(f"{item.line}: a relative import out of {top} ({item.written})")
        elif item.name and item.name.split(".")[0] in forbidden:
            found.append(f"{item.line}: {item.name}")
    return found


def _called_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_core_imports_nothing_of_ours() -> None:
    modules = core_modules()
    assert {"__init__.py", "logging.py", "signing.py", "tracebacks.py", "admin.py"} <= {p.name for p in modules}
    forbidden = project_packages()
    problems = []
    for path in modules:
        relative = path.relative_to(ROOT).with_suffix("")
        is_package = relative.name == "__init__"
        name = ".".join(relative.parent.parts if is_package else relative.parts)
        found = violations(path.read_text(), name, forbidden=forbidden, is_package=is_package)
        problems += [f"{path.relative_to(ROOT)}:{line}" for line in found]
    assert not problems, "core/ must not import the project's apps:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "import orchestration",
        "import metrics.errors as errors",
        "from gateway.signatures import route_key",
        "from config import settings",
        "from api import urls",
        "from orders.models import Project",
        "def later():\n    from agents.models import SideEffect",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from orchestration.models import Task",
        "from .. import metrics",
        "from ..metrics import errors",
        "import importlib\nimportlib.import_module('orchestration.clock')",
        "from django.utils.module_loading import import_string\nimport_string('metrics.logging.ContextFilter')",
        "__import__('gateway')",
    ],
)
def test_the_guard_catches_each_kind_of_import_out_of_core(source: str) -> None:
    assert violations(source, "core.signing", forbidden=project_packages())


@pytest.mark.parametrize(
    "source",
    [
        "import json\nimport logging",
        "from django.conf import settings",
        "from standardwebhooks.webhooks import Webhook",
        "from core import logging",
        "from core.signing import route_key",
        "from . import tracebacks",
        "from .signing import route_key",
        "import orchestration_tools",  # a third-party name that merely starts like an app's
        "import importlib\nimportlib.import_module('json')",
    ],
)
def test_the_guard_lets_the_library_django_and_core_through(source: str) -> None:
    assert violations(source, "core.signing", forbidden=project_packages()) == []


def test_a_relative_import_from_a_subpackage_stays_inside_core() -> None:
    forbidden = project_packages()
    assert violations("from .. import signing", "core.sub.module", forbidden=forbidden) == []
    assert violations("from ... import metrics", "core.sub.module", forbidden=forbidden)
    assert violations("from . import signing", "core", forbidden=forbidden, is_package=True) == []
    assert violations("from .. import metrics", "core", forbidden=forbidden, is_package=True)


# The engine's imports of the apps above it that are still to go, each with what replaces it. The
# list is exact: a new import fails the test, and so does a listed one that is gone (strike it).
ENGINE_IMPORTS_STILL_TO_GO: dict[str, set[str]] = {}


def _modules(root: Path, package: str) -> Iterator[tuple[Path, str, bool]]:
    """Each module of `package` under `root`: its path, its dotted name, whether it is a package."""
    for path in sorted((root / package).rglob("*.py")):
        if "migrations" in path.relative_to(root).parts:
            continue  # frozen history: a migration names models by string
        relative = path.relative_to(root).with_suffix("")
        is_package = relative.name == "__init__"
        yield path, ".".join(relative.parent.parts if is_package else relative.parts), is_package


def _imports_of_apps(package: str, apps: set[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path, name, is_package in _modules(ROOT, package):
        hits = violations(path.read_text(), name, forbidden=apps, is_package=is_package, top=package)
        if hits:
            found[str(path.relative_to(ROOT))] = {hit.split(": ", 1)[1] for hit in hits}
    return found


def _top_modules(found: dict[str, set[str]]) -> dict[str, set[str]]:
    return {path: {".".join(name.split(".")[:2]) for name in names} for path, names in found.items()}


def test_the_engine_imports_nothing_of_the_apps_built_on_it() -> None:
    found = _top_modules(_imports_of_apps("orchestration", {"orders", "agents", "metrics", "gateway", "loadtest"}))
    assert found == ENGINE_IMPORTS_STILL_TO_GO


def test_the_engine_imports_nothing_of_the_load_test_not_even_at_its_seam(settings) -> None:
    # The seam (orchestration/faults.py) loads the fault plan by the dotted path in the settings:
    # not one import of loadtest in the engine, not even a dynamic one with a literal name.
    assert _imports_of_apps("orchestration", {"loadtest"}) == {}
    assert settings.ORCHESTRATION["FAULT_INJECTOR"].split(".")[0] == "loadtest"


def test_the_fault_seam_is_empty_without_a_plan(settings) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "FAULTS": ""}
    fault_hook.cache_clear()
    try:
        assert fault_hook() is None
    finally:
        fault_hook.cache_clear()


def test_the_fault_seam_loads_the_injector_the_settings_name_for_a_plan(settings) -> None:
    plan = '{"seed": 3, "failure_rate": 0.5}'
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "FAULTS": plan, "FAULT_INJECTOR": "json.loads"}
    fault_hook.cache_clear()
    try:
        assert fault_hook() == {"seed": 3, "failure_rate": 0.5}  # what the named callable made of the plan
        settings.ORCHESTRATION = {**settings.ORCHESTRATION, "FAULT_INJECTOR": "loadtest.faults.injector"}
        fault_hook.cache_clear()
        assert fault_hook().plan.failure_rate == 0.5
        settings.ORCHESTRATION = {k: v for k, v in settings.ORCHESTRATION.items() if k != "FAULT_INJECTOR"}
        fault_hook.cache_clear()
        with pytest.raises(ImproperlyConfigured, match="FAULT_INJECTOR"):
            fault_hook()
    finally:
        fault_hook.cache_clear()


def test_a_process_without_a_plan_imports_no_module_of_the_load_test() -> None:
    # Installed for its command, the app's package is imported by Django; nothing else of it is, in
    # a web process or a worker that ran an attempt through the seam.
    code = (
        "import sys, config.wsgi\n"
        "from orchestration.faults import fault_hook\n"
        "assert fault_hook() is None\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('loadtest'))))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("ENGINE_FAULTS", "ENGINE_ACTION_MODULES")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["loadtest"]


def test_the_engine_guard_sees_an_import_of_an_app_above_it(tmp_path, monkeypatch) -> None:
    package = tmp_path / "orchestration"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "late.py").write_text("def f():\n    from orders.models import Project\n    return Project\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _imports_of_apps("orchestration", {"orders"}) == {"orchestration/late.py": {"orders.models"}}


# --- No cycle between the apps, and no arrow up ------------------------------------------------
# The layers, bottom first (the module's docstring says what each is for). The tools beside the
# product (the tests, the benchmarks, the mutation runner) may import any of it; nothing of it
# imports them.
LAYERS = ("core", "orchestration", "orders", "agents", "metrics", "gateway", "loadtest", "config", "api")
TOOLS = {"tests", "benchmarks", "mutation", "manage"}  # manage.py: Django's command line
# Imports that go up the layers and must stay for now, as (importer, imported): why. Exact, like
# the engine's list: a new upward import fails the test, and so does a listed one that is gone.
UPWARD_IMPORTS_ALLOWED: dict[tuple[str, str], str] = {}


def app_imports(root: Path) -> dict[str, dict[str, list[str]]]:
    """Which app imports which, read from the source under `root`: {importer: {imported:
    ["path:line name", ...]}}. A relative import stays in its app (one that climbs out of its
    top-level package cannot be imported at all; the core guard above refuses it there)."""
    graph: dict[str, dict[str, list[str]]] = {}
    for app in LAYERS:
        for path, name, is_package in _modules(root, app):
            for item in imports(path.read_text(), name, is_package=is_package):
                target = (item.name or "").split(".")[0]
                if target in {*LAYERS, *TOOLS} - {app}:
                    where = f"{path.relative_to(root)}:{item.line} {item.name}"
                    graph.setdefault(app, {}).setdefault(target, []).append(where)
    return graph


def cycle(graph: Mapping[str, Mapping[str, object]]) -> list[str] | None:
    """A path a -> b -> ... -> a through `graph`, or None when it has no cycle."""
    finished: set[str] = set()

    def walk(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in finished:
            return None
        for nxt in sorted(graph.get(node, {})):
            found = walk(nxt, [*path, node])
            if found:
                return found
        finished.add(node)
        return None

    for start in sorted(graph):
        found = walk(start, [])
        if found:
            return found
    return None


def _where(graph: dict[str, dict[str, list[str]]], edges: Iterable[tuple[str, str]]) -> str:
    """Each edge with the imports that make it (the first three, and how many more)."""
    lines = []
    for a, b in edges:
        found = graph[a][b]
        more = f" (+{len(found) - 3} more)" if len(found) > 3 else ""
        lines.append(f"  {a} -> {b}: {', '.join(found[:3])}{more}")
    return "\n".join(lines)


def _layer(name: str) -> int:
    return LAYERS.index(name) if name in LAYERS else len(LAYERS)  # a tool stands above them all


def upward(graph: dict[str, dict[str, list[str]]]) -> set[tuple[str, str]]:
    """The (importer, imported) pairs of `graph` whose arrow points up the layers."""
    return {(a, b) for a, targets in graph.items() for b in targets if _layer(b) > _layer(a)}


def test_every_top_level_package_has_its_layer_or_is_a_tool() -> None:
    assert project_packages() | {"core"} == set(LAYERS) | TOOLS


def test_the_apps_import_each_other_in_no_cycle() -> None:
    graph = app_imports(ROOT)
    assert {"orchestration", "orders"} <= set(graph["agents"])  # the graph reads the source at all
    found = cycle(graph) or []
    assert not found, f"The apps import each other in a cycle: {' -> '.join(found)}\n{_where(graph, pairwise(found))}"


def test_each_app_imports_only_the_layers_below_it() -> None:
    graph = app_imports(ROOT)
    found = upward(graph)
    new = sorted(found - set(UPWARD_IMPORTS_ALLOWED))
    assert found == set(UPWARD_IMPORTS_ALLOWED), f"Imports up the layers {' < '.join(LAYERS)}:\n{_where(graph, new)}"


def _plant(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in path.relative_to(root).parents[:-1]:
            (root / folder / "__init__.py").touch()
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    "planted",
    [
        "from orders.models import Project",
        "def later():\n    from orders import models",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from orders.models import Project",
        "import importlib\nimportlib.import_module('orders.selectors')",
        "from django.utils.module_loading import import_string\nimport_string('orders.brief.validate_brief')",
        "__import__('orders')",
    ],
)
def test_the_cycle_guard_catches_each_kind_of_import(tmp_path, planted: str) -> None:
    root = _plant(tmp_path, {"orders/admin.py": "from metrics.charts import timeline\n", "metrics/late.py": planted})
    graph = app_imports(root)
    assert cycle(graph) == ["metrics", "orders", "metrics"]
    assert upward(graph) == {("orders", "metrics")}
    assert graph["orders"] == {"metrics": ["orders/admin.py:1 metrics.charts"]}


def test_the_cycle_guard_names_the_whole_path_of_a_longer_cycle(tmp_path) -> None:
    root = _plant(
        tmp_path,
        {
            "orchestration/a.py": "import agents.registry\n",
            "agents/b.py": "from gateway import views\n",
            "gateway/c.py": "from orchestration.models import Task\n",
        },
    )
    assert cycle(app_imports(root)) == ["agents", "gateway", "orchestration", "agents"]


def test_a_relative_import_stays_in_its_app_for_the_cycle_guard(tmp_path) -> None:
    # orders.metrics and orders.gateway are modules of orders, not the apps of those names.
    planted = {"orders/admin.py": "from .metrics import figures\nfrom . import gateway\n"}
    planted["orders/sub/deep.py"] = "from ..metrics import figures\n"
    root = _plant(tmp_path, planted)
    assert app_imports(root) == {}


def test_the_cycle_guard_skips_migrations_and_names_outside_the_layers(tmp_path) -> None:
    root = _plant(
        tmp_path,
        {
            "orders/migrations/0001_initial.py": "from metrics import models\n",
            "orders/models.py": "import orchestration_tools\nimport django.db.models\n",
        },
    )
    assert app_imports(root) == {}


def test_the_layer_guard_sees_the_product_import_a_tool(tmp_path) -> None:
    root = _plant(tmp_path, {"metrics/demo.py": "def seed():\n    from tests.support import factories\n"})
    graph = app_imports(root)
    assert upward(graph) == {("metrics", "tests")}
    assert cycle(graph) is None


def test_gateway_hands_its_reader_of_refused_payments_to_metrics() -> None:
    # metrics lists refused payments without importing gateway: gateway registers its reader at startup.
    from gateway.refused_payments import refused_payments
    from metrics import attention

    assert attention._refused_payments_reader is refused_payments


# --- The engine's tables name no table of the apps above --------------------------------------
def test_no_model_of_the_engine_has_a_relation_to_a_model_of_another_of_our_apps() -> None:
    # The import guard does not see a model named by a string ("orders.Project"): the relations
    # are read from the models themselves. What a run or a side effect is for is a generic subject
    # (a content type and an id), which names no app.
    from django.apps import apps

    ours = APPS - {"orchestration"}
    found = [
        f"{model.__name__}.{field.name} -> {field.related_model._meta.label}"
        for model in apps.get_app_config("orchestration").get_models()
        for field in model._meta.get_fields()
        # Its own fields (a foreign key, one-to-one or many-to-many), not the reverse side of another's.
        if field.is_relation and not field.auto_created and field.related_model is not None
        if field.related_model._meta.app_label in ours
    ]
    assert found == []
    relations = {f.name for f in apps.get_model("orchestration", "WorkflowRun")._meta.get_fields() if f.is_relation}
    assert {"subject_type", "subject"} <= relations  # the check reads the fields it means to
