"""The functions `vercel build` wrote to .vercel/output, run as Vercel's Python runtime runs them.

Each `functions/**/<name>.func` holds `.vc-config.json` (runtime, handler, maxDuration,
environment, and `filePathMap`: bundle path -> file of the project) and the handler trampoline
the builder generated (`vc__handler__python.py`, which imports `vercel_runtime.vc_init`). A
function is laid out here as the platform lays it out (its own files plus every file of its
`filePathMap`, nothing else), then called through `vc_handler(event, context)` in a fresh
Python of the function's runtime, with the function's own environment: the same entry point
Vercel's Lambda bootstrap calls, so what passes here is what the deployment runs.

Used by tests/acceptance/deploy/test_vercel_build.py (CI, after `vercel build`) and by
benchmarks/vercel_cold_start.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Vercel's limit on a Python function's unzipped size (the Lambda limit is 250 MB; ours is
# kept under half of it so dependencies can grow).
MAX_UNZIPPED_BYTES = 120 * 1024 * 1024
RESULT_MARKER = "@@vc-result@@"

# Runs inside the function's directory, as the Lambda bootstrap does: the task root first on
# sys.path, the handler module imported, then one event per request.
DRIVER = r"""
import base64, json, os, sys, time
sys.path.insert(0, os.getcwd())
import vc__handler__python as handler
results = []
for request in json.loads(sys.stdin.read()):
    payload = {
        "method": request["method"],
        "path": request["path"],
        "headers": request["headers"],
        "body": base64.b64encode(request["body"].encode()).decode(),
        "encoding": "base64",
    }
    answer = handler.vc_handler({"body": json.dumps(payload)}, None)
    body = answer.get("body") or ""
    if answer.get("encoding") == "base64":
        body = base64.b64decode(body).decode("utf-8", "replace")
    results.append({
        "status": answer["statusCode"],
        "headers": {
            k.lower(): ", ".join(v) if isinstance(v, list) else v for k, v in answer.get("headers", {}).items()
        },
        "body": body,
        "since_spawn_ms": (time.time() - float(os.environ["VC_CHECK_SPAWNED_AT"])) * 1000,
    })
print("@@vc-result@@" + json.dumps(results), flush=True)
"""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, Any]
    body: str
    since_spawn_ms: float


@dataclass
class BuiltFunction:
    name: str  # e.g. "api/execute"
    func_dir: Path
    project_dir: Path
    config: dict[str, Any]

    @property
    def max_duration(self) -> int:
        return int(self.config["maxDuration"])

    @property
    def bundle_paths(self) -> list[str]:
        own = [str(p.relative_to(self.func_dir)) for p in self.func_dir.rglob("*") if p.is_file()]
        return sorted({*own, *self.config.get("filePathMap", {})} - {".vc-config.json"})

    def unzipped_bytes(self) -> int:
        total = sum(p.stat().st_size for p in self.func_dir.rglob("*") if p.is_file() and p.name != ".vc-config.json")
        return total + sum(
            (self.project_dir / src).stat().st_size for src in self.config.get("filePathMap", {}).values()
        )

    def lay_out(self, target: Path) -> Path:
        """The function's files as the platform unpacks them into its task root."""
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(self.func_dir, target, ignore=shutil.ignore_patterns(".vc-config.json"))
        linkable = self.project_dir.stat().st_dev == target.stat().st_dev  # hard links: fast, no copy
        for dest, src in self.config.get("filePathMap", {}).items():
            (target / dest).parent.mkdir(parents=True, exist_ok=True)
            if linkable:
                os.link(self.project_dir / src, target / dest)
            else:
                shutil.copy2(self.project_dir / src, target / dest)
        return target

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        """What the function's process sees: nothing of this machine's Python setup (no
        virtualenv, no PYTHONPATH), the function's own environment, then the project's."""
        env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TZ", "TMPDIR"}}
        env.update(self.config.get("environment", {}))
        env.update(extra)
        return env


def load(project_dir: Path) -> list[BuiltFunction]:
    root = project_dir / ".vercel" / "output" / "functions"
    found = []
    for func_dir in sorted(root.rglob("*.func")):
        if func_dir.is_symlink():
            continue
        config = json.loads((func_dir / ".vc-config.json").read_text())
        found.append(
            BuiltFunction(str(func_dir.relative_to(root)).removesuffix(".func"), func_dir, project_dir, config)
        )
    return found


def python_for(runtime: str) -> str:
    """The interpreter for a runtime name such as "python3.12": VC_CHECK_PYTHON, else one on
    PATH, else pyenv's."""
    version = runtime.removeprefix("python")
    if os.environ.get("VC_CHECK_PYTHON"):
        return os.environ["VC_CHECK_PYTHON"]
    on_path = shutil.which(f"python{version}")
    if on_path:
        return on_path
    for candidate in sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"), reverse=True):
        return str(candidate)
    raise RuntimeError(f"no Python {version} found for the {runtime} runtime (set VC_CHECK_PYTHON)")


def request(method: str, path: str, *, headers: dict[str, str] | None = None, body: str = "") -> dict[str, Any]:
    """A request as Vercel's proxy hands it to the function: after a rewrite, `path` is still
    the path the client asked for (see tests/acceptance/deploy/test_vercel_build.py)."""
    base = {
        "host": "factory.example",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "factory.example",
        "x-forwarded-for": "203.0.113.7",
        "x-real-ip": "203.0.113.7",
        "x-vercel-id": "fra1::check-1",
    }
    return {"method": method, "path": path, "headers": {**base, **(headers or {})}, "body": body}


def invoke(
    function: BuiltFunction, task_root: Path, requests: list[dict[str, Any]], env: dict[str, str]
) -> list[Answer]:
    """Call the function's handler once per request, in one fresh process (a cold start then
    warm calls), and return the answers."""
    python = python_for(function.config["runtime"])
    proc_env = function.environment({**env, "VC_CHECK_SPAWNED_AT": repr(time.time())})
    done = subprocess.run(
        [python, "-c", DRIVER],
        input=json.dumps(requests),
        cwd=task_root,
        env=proc_env,
        capture_output=True,
        text=True,
        timeout=float(os.environ.get("VC_CHECK_TIMEOUT", "600")),  # a cold start on a busy 2-core CI machine
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if done.returncode != 0 or not lines:
        raise AssertionError(
            f"{function.name}: the handler process failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        )
    return [Answer(**answer) for answer in json.loads(lines[-1].removeprefix(RESULT_MARKER))]


def manage(function: BuiltFunction, task_root: Path, env: dict[str, str], *args: str) -> str:
    """`manage.py <args>` from inside the bundle, with its Python and its files only."""
    done = subprocess.run(
        [python_for(function.config["runtime"]), "manage.py", *args],
        cwd=task_root,
        env=function.environment(env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} in {function.name} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout
