#!/usr/bin/env bash
# Vercel's build step (vercel.json "buildCommand"). Vercel's Python builder installs the
# dependencies itself, into each function, from pyproject.toml's [project] dependencies; this
# script only collects the static files (and migrates when asked), with Django from a
# throwaway environment outside the project, so nothing it installs lands in a bundle.
#
# The static files go twice: to staticfiles/ (STATIC_ROOT: the function needs WhiteNoise's
# manifest to name hashed files, and serves them itself if the CDN misses) and to
# public/static/ (the build's static output, vercel.json "outputDirectory", served by the CDN
# before any rewrite). public/ holds nothing else: it is all Vercel publishes as files.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON_VERSION="$(cat .python-version)"
if command -v uv >/dev/null 2>&1; then
  # uv is on Vercel's build image (the Python builder runs it) and in CI.
  run_python() { uv run --quiet --no-project --isolated --python "$PYTHON_VERSION" --with-requirements requirements.txt -- python "$@"; }
else
  BUILD_VENV="$(mktemp -d)/venv"
  trap 'rm -rf "$(dirname "$BUILD_VENV")"' EXIT
  "${PYTHON:-python3}" -m venv "$BUILD_VENV"
  "$BUILD_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
  run_python() { "$BUILD_VENV/bin/python" "$@"; }
fi

rm -rf staticfiles public
STATIC_ROOT=staticfiles run_python manage.py collectstatic --noinput
mkdir -p public
cp -R staticfiles public/static
# The manifest maps names to hashed names for the function (STATIC_ROOT); it is no asset.
rm -f public/static/staticfiles.json
# The function's copy keeps what `{% static %}` names (the manifest's hashed files) and drops
# the unhashed originals and the .gz/.br variants (the CDN compresses): 33 MB less per bundle.
run_python - <<'PY'
import json
from pathlib import Path

root = Path("staticfiles")
keep = {root / "staticfiles.json", *(root / name for name in json.loads((root / "staticfiles.json").read_text())["paths"].values())}
for path in [p for p in root.rglob("*") if p.is_file() and p not in keep]:
    path.unlink()
PY
if [ "${MIGRATE_ON_BUILD:-0}" = "1" ]; then
  DATABASE_URL="${DIRECT_DATABASE_URL:-${DATABASE_URL:-}}" run_python manage.py migrate --noinput
fi
