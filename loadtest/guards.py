"""The load test's guards: it runs only against a scratch database, and says what it would do (--dry-run)."""

from __future__ import annotations

import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dj_database_url
from django import db
from django.conf import settings
from django.db import connection

from loadtest.options import EMAIL_DOMAIN, LoadTestOptions, LoadTestRefused
from orders.models import Project

# --- Guards ------------------------------------------------------------------------------------


def check_target(options: LoadTestOptions) -> list[str] | None:
    """Refuse a run that would be unsafe or cannot work here; returns the restart command, if any."""
    name = connection.settings_dict.get("NAME")
    if options.restart_db_command and options.restart_db_at is None:
        raise LoadTestRefused("--restart-db-command needs --restart-db-at (when to run it)")
    command = None
    if options.restart_db_at is not None:
        if connection.vendor == "sqlite":
            raise LoadTestRefused(
                f"--restart-db-at restarts a PostgreSQL server, but the database is SQLite ({name}): an "
                "embedded file has no server to restart. Point DATABASE_URL at a scratch PostgreSQL database."
            )
        command = restart_command(options.restart_db_command)
    try:
        foreign = Project.objects.exclude(contact_email__endswith=f"@{EMAIL_DOMAIN}").count()
    except db.Error as exc:
        raise LoadTestRefused(
            f"Cannot read the database {name!r} ({exc}). Is it migrated (manage.py migrate)?"
        ) from exc
    if foreign and not options.allow_existing_data:
        raise LoadTestRefused(
            f"The database {name!r} holds {foreign} project(s) the load test did not create. The load test runs "
            "every queued task it finds, with faults, and must never meet real orders: point DATABASE_URL at a "
            "scratch database, or pass --allow-existing-data if this one really is disposable."
        )
    return command


def restart_command(configured: str | None) -> list[str]:
    """The command that restarts the database server: the configured one, or this machine's cluster."""
    if configured:
        try:
            argv = shlex.split(configured)
        except ValueError as exc:  # an unclosed quote, a trailing escape
            raise LoadTestRefused(f"--restart-db-command {configured!r} is not a command line: {exc}") from exc
        if not argv:
            raise LoadTestRefused("--restart-db-command is empty")
        return argv
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").is_dir() else []
    if len(versions) != 1:
        raise LoadTestRefused(
            f"Cannot tell which PostgreSQL cluster to restart (/etc/postgresql holds {versions or 'nothing'}): "
            "give --restart-db-command"
        )
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main", "restart"]


def describe(options: LoadTestOptions) -> dict[str, Any]:
    """What a run would do (for --dry-run): the guards pass, nothing is created."""
    command = check_target(options)
    return {
        "database": connection.settings_dict.get("NAME"),
        "vendor": connection.vendor,
        "orders": options.orders,
        "workers": options.workers,
        "plan": asdict(options.plan()),
        "recovery_bound_s": options.recovery_bound_s,
        "restart_db_at": options.restart_db_at,
        "restart_db_command": command,
        "chaos": {
            "clock_skew_s": options.clock_skew_s,
            "long_tasks": options.long_tasks,
            "operator_rate": options.operator_rate,
            "http_async": options.http_async,
            "backlog": options.backlog,
        },
    }


def database_url() -> str:
    """The URL of the database this process uses, for the worker processes."""
    s = connection.settings_dict
    configured = dj_database_url.parse(settings.DATABASE_URL)
    if configured.get("NAME") == s.get("NAME") and (configured.get("HOST") or "") == (s.get("HOST") or ""):
        return settings.DATABASE_URL  # as configured, with its options (sslmode and the like)
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = quote(s["USER"] or "", safe="") + (f":{quote(s['PASSWORD'], safe='')}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
