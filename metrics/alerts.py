"""Alerts: thresholds checked by every rollup. A breach becomes an error record (grouped
by alert) and the window's alerts go to staff in ONE email (mail_admins), however
often the rollup runs in that window: the notice row's unique window decides who sends.

Unhandled exceptions (of requests and commands) are mailed here too, not by Django's
per-request AdminEmailHandler: `mail_error_digest`, run by every rollup, sends one email
listing the groups with unmailed occurrences, each group at most once per
METRICS_ERROR_MAIL_WINDOW_SECONDS. A hundred failing requests make one email, sent by
the cron, never from inside a request.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import mail_admins
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse

from metrics.errors import record_error
from metrics.models import AlertNotice, ErrorGroup, GroupStatus, Rollup

# Groups listed in one digest; the rest wait for the next rollup (5 minutes).
MAX_GROUPS_PER_DIGEST = 50

logger = logging.getLogger("metrics")


@dataclass(frozen=True)
class Alert:
    name: str  # stable: it is the error group's location ("alert:<name>")
    value: float
    threshold: float
    message: str


def evaluate(rollup: Rollup) -> list[Alert]:
    """The thresholds this window's figures breach (pure: no writes)."""
    alerts = []
    error_rate_max = settings.METRICS_ALERT_ERROR_RATE
    if rollup.attempts and rollup.error_rate > error_rate_max:
        alerts.append(
            Alert(
                "error_rate",
                rollup.error_rate,
                error_rate_max,
                f"Error rate {rollup.error_rate:.1%} over {rollup.attempts} attempts (threshold {error_rate_max:.1%})",
            )
        )
    waiting_max = settings.METRICS_ALERT_OLDEST_WAITING_SECONDS
    # Gauges are None in a window filled in late (nobody measured them): nothing to judge.
    if rollup.oldest_waiting_seconds is not None and rollup.oldest_waiting_seconds > waiting_max:
        alerts.append(
            Alert(
                "oldest_waiting",
                rollup.oldest_waiting_seconds,
                waiting_max,
                f"The oldest due task has waited {rollup.oldest_waiting_seconds:.0f} s (threshold {waiting_max} s): "
                "are the cron and the workers running?",
            )
        )
    if rollup.orders_late:  # None (not measured) and 0 alike raise nothing
        alerts.append(
            Alert(
                "orders_late",
                rollup.orders_late,
                0,
                f"{rollup.orders_late} order(s) past their {settings.ORDER_SLO_SECONDS // 60} minutes",
            )
        )
    connections_max = settings.METRICS_ALERT_DB_CONNECTIONS
    if rollup.db_connections is not None and rollup.db_connections > connections_max:
        alerts.append(
            Alert(
                "db_connections",
                rollup.db_connections,
                connections_max,
                f"{rollup.db_connections} database connections in use (threshold {connections_max})",
            )
        )
    return alerts


def check_alerts(rollup: Rollup, *, now: datetime) -> list[Alert]:
    """Record the breaches not yet recorded in this window; email staff once per window."""
    alerts = evaluate(rollup)
    if not alerts:
        return []
    with transaction.atomic():
        notice, created = _notice_for(rollup, alerts, now)
        known = {a["name"] for a in notice.alerts} if not created else set()
        fresh = [a for a in alerts if a.name not in known]
        for alert in fresh:
            record_error(error_type="Alert", location=f"alert:{alert.name}", message=alert.message)
        if not created and fresh:
            notice.alerts = [*notice.alerts, *(asdict(a) for a in fresh)]
            notice.save(update_fields=["alerts"])
        if created:
            notice.emailed_at = now
            notice.save(update_fields=["emailed_at"])
            subject = f"{len(alerts)} alert(s) at {rollup.window_start:%Y-%m-%d %H:%M} UTC"
            # An absolute link: the email is read outside the site, where a bare path goes nowhere.
            dashboard = settings.SITE_URL + reverse("admin:metrics_dashboard")
            body = "\n".join(f"- {a.message}" for a in alerts) + f"\n\nDashboard: {dashboard}\n"
            transaction.on_commit(lambda: mail_admins(subject, body, fail_silently=True))
    for alert in fresh:
        logger.warning(alert.message, extra={"action": "alert", "alert": alert.name, "value": alert.value})
    return fresh


def _notice_for(rollup: Rollup, alerts: list[Alert], now: datetime) -> tuple[AlertNotice, bool]:
    """This window's notice, locked; created by exactly one caller (the unique window decides)."""
    try:
        with transaction.atomic():
            notice = AlertNotice.objects.create(
                window_start=rollup.window_start, alerts=[asdict(a) for a in alerts], created_at=now
            )
            return notice, True
    except IntegrityError:
        return AlertNotice.objects.select_for_update().get(window_start=rollup.window_start), False


def mail_error_digest(*, now: datetime) -> list[ErrorGroup]:
    """Email staff once about the error groups with occurrences not yet mailed, each group at most
    once per window; returns the groups mailed. Safe to run concurrently: each group is claimed by a
    conditional UPDATE, and only what this call claimed goes into its email."""
    window = timedelta(seconds=settings.METRICS_ERROR_MAIL_WINDOW_SECONDS)
    due = Q(mail_pending_since__isnull=False) & (Q(mailed_at__isnull=True) | Q(mailed_at__lte=now - window))
    claimed: list[ErrorGroup] = []
    with transaction.atomic():
        # A muted group stays quiet while its failure is the same (one that changed was reopened by
        # metrics.errors): its occurrences are not mailed, now nor when staff reopen it.
        ErrorGroup.objects.filter(status=GroupStatus.MUTED, mail_pending_since__isnull=False).update(
            mail_pending_since=None
        )
        for group in ErrorGroup.objects.filter(due).order_by("-last_seen")[:MAX_GROUPS_PER_DIGEST]:
            if ErrorGroup.objects.filter(due, id=group.id).update(mailed_at=now, mail_pending_since=None):
                claimed.append(group)
        if not claimed:
            return []
        subject = f"{len(claimed)} error group(s) with new occurrences"
        admin = settings.SITE_URL + reverse("admin:metrics_errorgroup_changelist")
        lines = [
            f"- {g.error_type} at {g.location}: {g.count} in all, last {g.last_seen:%Y-%m-%d %H:%M:%S} UTC\n"
            f"  {g.message[:300]}"
            for g in claimed
        ]
        body = "\n".join(lines) + f"\n\nErrors: {admin}\n"
        transaction.on_commit(lambda: mail_admins(subject, body, fail_silently=True))
    logger.info("error digest mailed", extra={"action": "error_digest", "groups": len(claimed)})
    return claimed
