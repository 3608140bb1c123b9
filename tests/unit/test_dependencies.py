"""One list of pinned runtime dependencies: pyproject.toml's [project] (what Vercel's Python
builder installs into each function) and requirements.txt (what `make install` and pip read)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _requirements(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def _normalised(requirement: str) -> str:
    name, _, rest = requirement.partition("==")
    return re.sub(r"[-_.]+", "-", name).lower() + "==" + rest


def test_requirements_txt_and_pyproject_list_the_same_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = sorted(map(_normalised, project["dependencies"]))
    pinned = sorted(map(_normalised, _requirements(ROOT / "requirements.txt")))

    assert declared == pinned, (
        "pyproject.toml [project] dependencies and requirements.txt differ: "
        f"only in pyproject {sorted(set(declared) - set(pinned))}, only in requirements.txt "
        f"{sorted(set(pinned) - set(declared))}"
    )


def test_every_runtime_dependency_is_pinned_exactly() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][A-Za-z0-9.]*", requirement), requirement


def test_the_dev_requirements_build_on_the_runtime_ones() -> None:
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()


def test_the_python_version_is_vercels_312_and_within_requires_python() -> None:
    assert (ROOT / ".python-version").read_text().strip() == "3.12"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"  # 3.11: the oldest supported, CI's SQLite pass
