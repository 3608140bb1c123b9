"""Errors grouped by fingerprint (type + location), and metric rollups.

Ids of projects, runs and tasks are kept as plain values, not foreign keys:
errors outlive pruned rows, and this app stays below the engine in the imports.
"""

from __future__ import annotations

from django.db import models


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

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.error_type} at {self.location} (x{self.count})"
