"""Comments that stand on their own: none cites a requirement by a number of a document the
repository does not hold."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A requirement's number ("(E6)", "E15:", "per the SPEC") points into a document a reader of the
# repository does not have: a comment or docstring says the rule itself. `SPEC` counts as a word
# only (SPECTACULAR_SETTINGS is not one); Django's check ids (orchestration.E001) and ruff's codes
# (E501) do not match.
SPEC_REFERENCE = re.compile(
    r"\(E[0-9]+\b|\bE[0-9]{1,2}\)|\bE[0-9]{1,2}[,:;]| E[0-9]{1,2} |\bSPEC\b|spec section|\b[Tt]he spec\b"
)
SOURCE_SUFFIXES = {".py", ".html", ".sql"}
# Not the project's own text: frozen history, caches, and what tools generate or copy at the top.
SKIPPED_DIRS = {"migrations", "__pycache__", "node_modules"}
GENERATED_TOP_DIRS = {"var", "staticfiles", "media", "public", "mutants"}
# References still to go, in files another change is moving, by count. Exact, like the engine's
# imports above: a new reference fails the test, and so does a listed one that is gone (strike it).
SPEC_REFERENCES_STILL_TO_GO: dict[str, int] = {}


def _source_files(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        top = Path(folder) == root
        # Pruned in place, so a virtualenv or .git is never walked at all.
        dirs[:] = [
            d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS and not (top and d in GENERATED_TOP_DIRS)
        ]
        found += [Path(folder) / name for name in files if Path(name).suffix in SOURCE_SUFFIXES]
    return sorted(found)


def spec_references(root: Path) -> dict[str, list[str]]:
    """Each source file under `root` (but this one) that cites a requirement by number, with its
    'line: text' hits."""
    found: dict[str, list[str]] = {}
    for path in _source_files(root):
        if path.resolve() == Path(__file__).resolve():
            continue  # the pattern itself
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        hits = [f"{n}: {line.strip()}" for n, line in enumerate(lines, 1) if SPEC_REFERENCE.search(line)]
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


def test_no_comment_cites_a_requirement_by_number() -> None:
    found = spec_references(ROOT)
    assert {path: len(hits) for path, hits in found.items()} == SPEC_REFERENCES_STILL_TO_GO, "\n".join(
        f"{path}:{hit}" for path, hits in found.items() for hit in hits
    )


@pytest.mark.parametrize(
    "line",
    [
        "# a late report changes nothing (E6)",
        '"""E15: time is the database\'s."""',
        "# leases and clocks (E4, E15)",
        "# see E13 for the limits",
        "# the callback body of the SPEC",
        "<!-- as the spec says -->",
        "# per spec section 3",
    ],
)
def test_the_spec_guard_catches_a_planted_reference(tmp_path, line: str) -> None:
    suffix = ".html" if line.startswith("<!--") else ".py"
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / f"planted{suffix}").write_text(f"x = 1\n{line}\n")
    assert spec_references(tmp_path) == {f"orders/planted{suffix}": [f"2: {line}"]}


@pytest.mark.parametrize(
    "line",
    [
        "SPECTACULAR_SETTINGS = {}",
        'Error("bad limits", id="orchestration.E002")',
        "x = 1  # noqa: E501",
        "# the design spec: palette, fonts, layout",
        "# a special case",
    ],
)
def test_the_spec_guard_lets_names_check_ids_and_plain_words_through(tmp_path, line: str) -> None:
    (tmp_path / "ok.py").write_text(line + "\n")
    assert spec_references(tmp_path) == {}


def test_the_spec_guard_skips_migrations_hidden_and_generated_dirs(tmp_path) -> None:
    for folder in ("orders/migrations", ".venv/lib", "var/media"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "m.py").write_text("# (E6)\n")
    assert spec_references(tmp_path) == {}
