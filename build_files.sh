#!/usr/bin/env bash
# Vercel's build step (vercel.json "buildCommand"): install, collect static files, and migrate
# only when MIGRATE_ON_BUILD=1 (over DIRECT_DATABASE_URL: Neon's pooler is no place for DDL).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
"$PYTHON" -m pip install --disable-pip-version-check -r requirements.txt
"$PYTHON" manage.py collectstatic --noinput
if [ "${MIGRATE_ON_BUILD:-0}" = "1" ]; then
  DATABASE_URL="${DIRECT_DATABASE_URL:-${DATABASE_URL:-}}" "$PYTHON" manage.py migrate --noinput
fi
