"""Errors grouped by fingerprint (type + location), and metric rollups.

Ids of projects, runs and tasks are kept as plain values, not foreign keys:
errors outlive pruned rows, and this app stays below the engine in the imports.
"""

from __future__ import annotations

from django.db import models


class GroupStatus(models.TextChoices):
    OPEN = "open", "Open"  # being seen; alerts staff
    RESOLVED = "resolved", "Resolved"  # staff say it is fixed; a new occurrence reopens it
    MUTED = "muted", "Muted"  # known and accepted: no mail until its message changes


class ErrorGroup(models.Model):
    fingerprint = models.CharField(max_length=64, unique=True)
    error_type = models.CharField(max_length=200)
    location = models.CharField(max_length=300)  # where it was raised, or the action that failed
    message = models.TextField()  # the latest occurrence's message
    traceback = models.TextField(blank=True)  # the latest occurrence's traceback
    count = models.PositiveBigIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    last_project_id = models.UUIDField(null=True, blank=True)
    last_run_id = models.UUIDField(null=True, blank=True)
    last_task_id = models.BigIntegerField(null=True, blank=True)
    # Staff are emailed about unhandled exceptions once per group and window, by the rollup cron,
    # never from inside the request that failed (metrics.alerts.mail_error_digest).
    mail_pending_since = models.DateTimeField(null=True, blank=True)  # first occurrence not yet emailed
    mailed_at = models.DateTimeField(null=True, blank=True)  # when staff were last emailed about it
    # The orders it hit, most recent first (capped at AFFECTED_MAX): staff fix them one by one.
    project_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=GroupStatus.choices, default=GroupStatus.OPEN)
    # The message (digits blanked) it was muted with: another message means it changed, and alerts again.
    muted_message = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.CharField(max_length=200, blank=True)  # "staff:alice"; "system" on reopening

    AFFECTED_MAX = 200

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.error_type} at {self.location} (x{self.count})"


class Rollup(models.Model):
    """The figures of one 5-minute window; one row per window (rollup() upserts it).

    Flow figures (attempts, durations, errors, finished runs and orders) count what
    finished inside [window_start, window_end); gauges (queue depth, oldest waiting
    task, late orders) are snapshots taken when the rollup ran. A window filled in
    late, by the catch-up after a missed cron, has its flows but no gauges (NULL):
    nobody looked at the queue then, and today's queue would be a false reading.
    """

    window_start = models.DateTimeField(unique=True)
    window_end = models.DateTimeField()
    computed_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)  # attempts that ended (succeeded, retry, failed, timed out)
    attempts_failed = models.PositiveIntegerField(default=0)  # of which ended in an error
    error_rate = models.FloatField(default=0.0)  # attempts_failed / attempts (0 when none)
    by_outcome = models.JSONField(default=dict, blank=True)  # {outcome: count}
    # {action: {"count", "errors", "outcomes": {...}, "p50", "p95", "p99" (ms), "buckets": [...],
    #           "durations": {"<ms to 3 significant digits>": count}}}; the durations merge exactly
    # into the percentiles of any longer period (metrics/rollups.py).
    by_action = models.JSONField(default=dict, blank=True)
    task_status = models.JSONField(default=dict, blank=True)  # snapshot {task status: count}; {} when not measured
    queue_depth = models.PositiveIntegerField(null=True, blank=True)  # queued tasks already due
    oldest_waiting_seconds = models.FloatField(null=True, blank=True)  # how long the oldest due task has waited
    runs_finished = models.PositiveIntegerField(default=0)
    runs_succeeded = models.PositiveIntegerField(default=0)
    run_p50_seconds = models.FloatField(null=True, blank=True)
    run_p95_seconds = models.FloatField(null=True, blank=True)
    run_durations = models.JSONField(default=dict, blank=True)  # succeeded runs: {"<s to 3 digits>": count}
    orders_delivered = models.PositiveIntegerField(default=0)
    orders_within_slo = models.PositiveIntegerField(default=0)  # delivered within ORDER_SLO_SECONDS of payment
    orders_late = models.PositiveIntegerField(null=True, blank=True)  # snapshot: unfinished orders past the SLO
    db_connections = models.PositiveIntegerField(null=True, blank=True)  # Postgres only
    pruned_agent_runs = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-window_start"]

    def __str__(self) -> str:
        return f"Rollup {self.window_start:%Y-%m-%d %H:%M}"

    @property
    def gauges_measured(self) -> bool:
        return self.queue_depth is not None

    @property
    def delivered_within_slo_share(self) -> float | None:
        return self.orders_within_slo / self.orders_delivered if self.orders_delivered else None


class AlertNotice(models.Model):
    """The alerts raised in one window: its unique window makes the staff email go out once."""

    window_start = models.DateTimeField(unique=True)
    alerts = models.JSONField(default=list)  # [{"name", "value", "threshold", "message"}]
    created_at = models.DateTimeField()
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-window_start"]

    def __str__(self) -> str:
        return f"Alerts {self.window_start:%Y-%m-%d %H:%M} ({len(self.alerts)})"
