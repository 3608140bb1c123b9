"""Error records: every failed attempt and unhandled exception, grouped by fingerprint."""

from __future__ import annotations

import hashlib
import traceback as tb
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from metrics.models import ErrorGroup
from orchestration import clock


def fingerprint(error_type: str, location: str) -> str:
    return hashlib.sha256(f"{error_type}|{location}".encode()).hexdigest()


def location_of(exc: BaseException) -> str:
    """The innermost frame of the traceback as 'module/file:function'."""
    frames = tb.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__module__
    last = frames[-1]
    return f"{last.filename.rsplit('/', 2)[-2:][-1]}:{last.name}"


def record_error(
    *,
    error_type: str,
    location: str,
    message: str,
    traceback: str = "",
    project_id: Any = None,
    run_id: Any = None,
    task_id: int | None = None,
) -> ErrorGroup:
    """Count one occurrence in its group, creating the group on first sight."""
    now = clock.now()
    key = fingerprint(error_type, location)
    latest = {
        "message": message[:10_000],
        "traceback": traceback[:50_000],
        "last_seen": now,
        "last_project_id": project_id,
        "last_run_id": run_id,
        "last_task_id": task_id,
    }
    if not ErrorGroup.objects.filter(fingerprint=key).update(count=F("count") + 1, **latest):
        try:
            with transaction.atomic():
                return ErrorGroup.objects.create(
                    fingerprint=key,
                    error_type=error_type[:200],
                    location=location[:300],
                    count=1,
                    first_seen=now,
                    **latest,
                )
        except IntegrityError:  # created by a concurrent writer between our update and insert
            ErrorGroup.objects.filter(fingerprint=key).update(count=F("count") + 1, **latest)
    return ErrorGroup.objects.get(fingerprint=key)
