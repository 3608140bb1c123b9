"""Error records: every failed attempt and unhandled exception, grouped by fingerprint."""

from __future__ import annotations

import hashlib
import logging
import re
import traceback as tb
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F

from core.tracebacks import location_of
from metrics.models import ErrorGroup, GroupStatus
from orchestration import clock

logger = logging.getLogger("metrics")


def fingerprint(error_type: str, location: str) -> str:
    return hashlib.sha256(f"{error_type}|{location}".encode()).hexdigest()


def record_error(
    *,
    error_type: str,
    location: str,
    message: str,
    traceback: str = "",
    project_id: Any = None,
    run_id: Any = None,
    task_id: int | None = None,
    mail_staff: bool = False,
) -> ErrorGroup:
    """Count one occurrence in its group, creating the group on first sight. `mail_staff` marks the
    group for the next error digest (metrics.alerts.mail_error_digest), which emails staff once per
    group and window; nothing is sent from here."""
    now = clock.now()
    key = fingerprint(error_type, location)
    if mail_staff:
        ErrorGroup.objects.filter(fingerprint=key, mail_pending_since__isnull=True).update(mail_pending_since=now)
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
                ErrorGroup.objects.create(
                    fingerprint=key,
                    error_type=error_type[:200],
                    location=location[:300],
                    count=1,
                    first_seen=now,
                    mail_pending_since=now if mail_staff else None,
                    **latest,
                )
        except IntegrityError:  # created by a concurrent writer between our update and insert
            ErrorGroup.objects.filter(fingerprint=key).update(count=F("count") + 1, **latest)
            if mail_staff:
                ErrorGroup.objects.filter(fingerprint=key, mail_pending_since__isnull=True).update(
                    mail_pending_since=now
                )
    group = ErrorGroup.objects.get(fingerprint=key)
    _follow_up(group, project_id=project_id, message=message, now=now)
    return group


def normalised(message: str) -> str:
    """A message with its numbers blanked: attempt and task numbers, and the object addresses Python
    prints ('<... object at 0x7f3a9c>', new on every attempt), do not make a new error."""
    return re.sub(r"0x[0-9a-fA-F]+|\d+", "#", message[:10_000]).strip()


def _follow_up(group: ErrorGroup, *, project_id: Any, message: str, now: Any) -> None:
    """Add the order to the group's affected list; reopen a resolved group (it came back) and a
    muted one whose message changed (a different failure hiding under a muted one)."""
    changes: dict[str, Any] = {}
    if project_id is not None and str(project_id) not in group.project_ids:
        changes["project_ids"] = [str(project_id), *group.project_ids][: ErrorGroup.AFFECTED_MAX]
    reopen = group.status == GroupStatus.RESOLVED or (
        group.status == GroupStatus.MUTED and normalised(message) != group.muted_message
    )
    if reopen:
        changes.update(status=GroupStatus.OPEN, status_changed_at=now, status_changed_by="system", muted_message="")
    if changes:
        for name, value in changes.items():
            setattr(group, name, value)
        group.save(update_fields=list(changes))


def record_exception(exc: BaseException, *, message: str, context: str) -> None:
    """Record an unhandled exception (a request's, a command's) as a grouped error, never
    raising: the database may be why it failed, and the original error must not be masked.
    Staff hear of it through the next error digest (once per group and window), not from here.
    `context` names where it happened in the log line when recording itself fails."""
    try:
        record_error(
            error_type=type(exc).__name__,
            location=location_of(exc),
            message=message,
            traceback="".join(tb.format_exception(exc)),
            mail_staff=True,
        )
    except DatabaseError:
        logger.exception(f"could not record the {context}'s error", extra={"action": "record_error"})


def error_group_set_status(*, group: ErrorGroup, status: str, actor_label: str) -> ErrorGroup:
    """Resolve, mute or reopen a group (staff's acts). A muted group remembers its message: an
    occurrence with another message reopens it, so muting one failure never hides a new one."""
    if status not in GroupStatus.values:
        raise ValueError(f"status must be one of {', '.join(GroupStatus.values)}, got {status!r}")
    with transaction.atomic():
        group = ErrorGroup.objects.select_for_update().get(pk=group.pk)
        group.status = status
        group.muted_message = normalised(group.message) if status == GroupStatus.MUTED else ""
        group.status_changed_at = clock.now()
        group.status_changed_by = actor_label
        group.save(update_fields=["status", "muted_message", "status_changed_at", "status_changed_by"])
    logger.info("error group status", extra={"action": "error_group_status", "status": status, "actor": actor_label})
    return group
