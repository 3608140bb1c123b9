#!/usr/bin/env bash
# `vercel build` with the real CLI on a clean copy of the project, offline (no account, no
# link: a hand-made .vercel/project.json), then every built function called through Vercel's
# handler (tests/acceptance/deploy/test_vercel_build.py).
#
#   .ci/vercel-build.sh [framework] [step]
#     framework: "null" (default) or "django" (the dashboard's preset on import; vercel.json's
#                "framework": null wins)
#     step:      "all" (default), "build" (only `vercel build`: CI runs it in the background
#                while the SQLite pass runs) or "test" (only the tests, on an earlier build)
# Needs node/npm, Python 3.12 (pyenv's on the CI machine) and git. Leaves the copy in
# $VERCEL_CHECK_DIR (default /tmp/vercel-check-<framework>).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

VERCEL_CLI_VERSION=58.10.0  # npm `vercel`; it bundles @vercel/python
UV_VERSION=0.10.11          # what that @vercel/python installs when it finds no uv
FRAMEWORK="${1:-null}"
STEP="${2:-all}"
case "$STEP" in all|build|test) ;; *) echo "step must be all, build or test, not '$STEP'" >&2; exit 2;; esac
TOOLS="${VERCEL_TOOLS_DIR:-/tmp/vercel-tools}"
COPY="${VERCEL_CHECK_DIR:-/tmp/vercel-check-$FRAMEWORK}"

PY312="$(ls -d "$HOME"/.pyenv/versions/3.12*/bin 2>/dev/null | sort -V | tail -1 || true)"
# Python 3.12 first: the builder's uv picks it from .python-version; the functions run on it.
export PATH="$TOOLS/node_modules/.bin:${PY312:+$PY312:}$TOOLS/uv/bin:$PATH"
export VC_CHECK_PYTHON="${VC_CHECK_PYTHON:-$(command -v python3.12)}"

if [ "$STEP" != test ]; then
  if [ "$(vercel --version 2>/dev/null | tail -1)" != "$VERCEL_CLI_VERSION" ]; then
    npm install --silent --no-audit --no-fund --prefix "$TOOLS" "vercel@$VERCEL_CLI_VERSION" >/dev/null
  fi
  if [ "$(uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    python3 -m venv "$TOOLS/uv"
    "$TOOLS/uv/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  echo "vercel $(vercel --version 2>/dev/null | tail -1), $(uv --version), $(python3.12 --version)"

  # A clean copy: what git tracks, nothing a local run left behind (.venv, staticfiles, var...).
  rm -rf "$COPY"
  git clone --quiet --no-hardlinks "$ROOT" "$COPY"
  if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    git diff HEAD | (cd "$COPY" && git apply --allow-empty)  # uncommitted changes to tracked files too
  fi
  mkdir -p "$COPY/.vercel"
  if [ "$FRAMEWORK" = "null" ]; then framework_json=null; else framework_json="\"$FRAMEWORK\""; fi
  cat > "$COPY/.vercel/project.json" <<JSON
{"projectId": "prj_ci_check", "orgId": "team_ci_check", "settings": {"framework": $framework_json}}
JSON

  started=$(date +%s)
  (cd "$COPY" && vercel build --yes) > "$COPY.log" 2>&1 || { tail -60 "$COPY.log"; echo "vercel build failed ($FRAMEWORK)"; exit 1; }
  echo "vercel build ($FRAMEWORK): $(( $(date +%s) - started )) s, log in $COPY.log"
  grep -E "Build Completed|Using Python|Installing required" "$COPY.log" | sort | uniq -c
fi
[ "$STEP" != build ] || exit 0
[ -d "$COPY/.vercel/output" ] || { echo "no build in $COPY: run '$0 $FRAMEWORK build' first" >&2; exit 1; }

VERCEL_BUILT_PROJECT="$COPY" "$ROOT/.venv/bin/python" -m pytest -q -p no:randomly -p no:cacheprovider -s \
  "$ROOT/tests/acceptance/deploy/test_vercel_build.py"
