"""The engine's tables. Thin: every state change lives in `orchestration.services`.

A workflow run owns one task per step; a task is also the queue's row and
holds the lease of the attempt that runs it; every attempt leaves an
agent-run row (metrics, audit); operator acts leave an operator-action row (who, what, when);
an action's external side effects leave a ledger row (orchestration/side_effects.py).

A run or a side effect may name what it is for, its subject: any model of the apps above, by
content type and primary key. The engine never reads it; the subjects are keyed by UUID (the type of
`subject_id`), so a GenericRelation on the subject's model joins on PostgreSQL.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q


class SubjectReference(GenericForeignKey):
    """What a row is for: a content type and a UUID, read as the object they name.

    A subject whose model is gone (its app removed since the row was written) reads as None, as a
    deleted subject does, where Django's generic key raises: the engine keeps rows whose subject
    it cannot load, and staff must still be able to open them. Prefetching a list that holds
    such rows does the same."""

    def _names_a_missing_model(self, instance: models.Model) -> bool:
        ct_id = getattr(instance, self.model._meta.get_field(self.ct_field).attname, None)
        if ct_id is None:
            return False
        return self.get_content_type(id=ct_id, using=instance._state.db).model_class() is None

    def __get__(self, instance: models.Model | None, cls: type | None = None) -> object:
        if instance is not None and self._names_a_missing_model(instance):
            return None
        return super().__get__(instance, cls)

    def get_prefetch_querysets(self, instances: list[models.Model], querysets: object = None) -> tuple:
        loadable = [i for i in instances if not self._names_a_missing_model(i)]
        objects, object_key, instance_key, single, cache_name, is_descriptor = super().get_prefetch_querysets(
            loadable, querysets
        )

        def key(instance: models.Model) -> object:
            return None if self._names_a_missing_model(instance) else instance_key(instance)

        return objects, object_key, key, single, cache_name, is_descriptor


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"  # has steps left to do
    SUCCEEDED = "succeeded", "Succeeded"  # every step succeeded
    FAILED = "failed", "Failed"  # a step died; replayable
    CANCELLED = "cancelled", "Cancelled"  # stopped by staff; replayable


class TaskStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"  # a step whose dependencies have not all succeeded
    QUEUED = "queued", "Queued"  # ready; claimable once run_after has passed (retries wait here)
    RUNNING = "running", "Running"  # claimed by a worker that holds its lease
    SUCCEEDED = "succeeded", "Succeeded"  # done; its output feeds the steps after it
    DEAD = "dead", "Dead"  # failed for good: permanent error or attempts exhausted
    CANCELLED = "cancelled", "Cancelled"  # its run was cancelled before it finished


class AttemptOutcome(models.TextChoices):
    RUNNING = "running", "Running"  # under way (or its worker died: the lease tells)
    SUCCEEDED = "succeeded", "Succeeded"  # the task completed
    CONTINUED = "continued", "Continued"  # checkpointed; the same attempt goes on in a new invocation
    RETRY = "retry", "Failed, will retry"  # a retryable error with attempts left
    FAILED = "failed", "Failed for good"  # permanent error, or the last attempt
    TIMED_OUT = "timed_out", "Lease expired"  # the worker died or overran its timeout
    RELEASED = "released", "Released"  # handed back unstarted (graceful shutdown)
    CANCELLED = "cancelled", "Cancelled"  # its run was cancelled while it ran
    STALE = "stale", "Late report ignored"  # a report from an attempt that no longer holds the task


TERMINAL_TASK_STATUSES = (TaskStatus.SUCCEEDED, TaskStatus.DEAD, TaskStatus.CANCELLED)


class WorkflowRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    # The definition as it was when the run started: later code changes never alter it.
    definition = models.JSONField()
    # What the run is for (an order, say), if its starter named it: the engine never reads it.
    subject_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    subject_id = models.UUIDField(null=True, blank=True)
    subject = SubjectReference("subject_type", "subject_id")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    input = models.JSONField(default=dict, blank=True)
    # Starting twice with one key returns the first run (one workflow per paid order).
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    # Bumped by every replay, so agents get fresh idempotency keys for redone work.
    generation = models.PositiveIntegerField(default=1)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["subject_type", "subject_id"], name="run_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.version} ({self.status})"


class Task(models.Model):
    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(WorkflowRun, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks")
    step = models.CharField(max_length=100, blank=True)  # blank for a task enqueued on its own
    action = models.CharField(max_length=100)  # "agent.action", e.g. "design-ia.generate"
    needs = models.JSONField(default=list, blank=True)  # names of the steps this one waits for
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.QUEUED)
    priority = models.SmallIntegerField(default=0)  # higher runs first
    run_after = models.DateTimeField()  # not claimable before (retry backoff, scheduling)
    # Attempts started, ever; a continuation is not one. Never reset: a replay or a retry goes on
    # counting from here (the budget counts from `attempt_base`), so an attempt number never
    # repeats, and a report fenced by it alone cannot be mistaken for a later attempt's.
    attempt = models.PositiveIntegerField(default=0)
    # `attempt` when the task was last replayed or retried: attempts spent since then count
    # against max_attempts. A database default too, for inserts written in SQL.
    attempt_base = models.PositiveIntegerField(default=0, db_default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    retry = models.JSONField(default=dict, blank=True)  # RetryPolicy.as_dict()
    timeout_seconds = models.FloatField(default=60.0)  # the lease an attempt gets
    # The fence: every claim gets a new token; only its holder may report the outcome.
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    resume = models.BooleanField(default=False)  # the next claim continues the current attempt
    input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(null=True, blank=True)
    cursor = models.JSONField(null=True, blank=True)  # an action's checkpoint, for its next invocation
    progress = models.JSONField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    # At most this many attempts of one key run at once, if the key has a limit.
    concurrency_key = models.CharField(max_length=200, blank=True, default="")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "step"], condition=~Q(step=""), name="task_unique_step_per_run"),
        ]
        indexes = [
            # The claim query's index: only queued rows, in claim order (see queue.py).
            models.Index(
                fields=["-priority", "run_after", "id"], condition=Q(status="queued"), name="task_claim_order"
            ),
            # Lease recovery looks only at running rows.
            models.Index(fields=["lease_expires_at"], condition=Q(status="running"), name="task_lease_expiry"),
            # A limited claim counts the running attempts of each key.
            models.Index(fields=["concurrency_key"], condition=Q(status="running"), name="task_running_key"),
            models.Index(fields=["status", "action"], name="task_status_action"),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.step or self.action} ({self.status})"

    @property
    def attempts_spent(self) -> int:
        """Attempts of the current set (since the last replay or retry), out of max_attempts."""
        return self.attempt - self.attempt_base


class AgentRun(models.Model):
    """One attempt (or one invocation of a continued attempt) of a task. Append-only."""

    id = models.BigAutoField(primary_key=True)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="agent_runs")
    run = models.ForeignKey(WorkflowRun, null=True, blank=True, on_delete=models.CASCADE, related_name="agent_runs")
    action = models.CharField(max_length=100)
    attempt = models.PositiveIntegerField()
    lease_token = models.UUIDField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    detail = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [
            models.Index(fields=["task", "attempt"]),
            models.Index(fields=["action", "started_at"]),
            models.Index(fields=["started_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.action} attempt {self.attempt} ({self.outcome})"


class OperatorAction(models.Model):
    """Who replayed, retried or cancelled what, and when."""

    class Verb(models.TextChoices):
        CANCEL_RUN = "cancel_run", "Cancel run"
        REPLAY_FAILED = "replay_failed", "Replay from failed steps"
        REPLAY_SCRATCH = "replay_scratch", "Replay from scratch"
        REPLAY_FROM_STEP = "replay_from_step", "Replay from a step"
        RETRY_TASK = "retry_task", "Retry task"
        REPROCESS_EVENT = "reprocess_event", "Reprocess webhook event"

    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=200)  # "staff:alice", "command:replay_workflow", ...
    verb = models.CharField(max_length=32, choices=Verb.choices)
    run = models.ForeignKey(
        WorkflowRun, null=True, blank=True, on_delete=models.CASCADE, related_name="operator_actions"
    )
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.CASCADE, related_name="operator_actions")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.verb} at {self.at:%Y-%m-%d %H:%M:%S}"


class SideEffect(models.Model):
    """An external side effect of an action (an email, a deployment, a published file set), keyed by
    idempotency key: recorded before and after it happens, so a retried attempt finds it done."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # about to happen (or the attempt died while doing it)
        DONE = "done", "Done"  # happened; its result is stored

    key = models.CharField(max_length=300, unique=True)  # "<task idempotency key>:<kind>"
    kind = models.CharField(max_length=50)  # "email:payment_received", "deploy", ...
    # What the effect was for (a model of an app above the engine), if the action said.
    subject_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    subject_id = models.UUIDField(null=True, blank=True)
    subject = SubjectReference("subject_type", "subject_id")
    task_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    performed = models.PositiveIntegerField(default=0)  # how many times it really happened (loadtest checks 1)
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # Who is performing a pending effect, and until when (the database's time): another attempt
    # that finds it held waits instead of performing it as well (orchestration/side_effects.py).
    held_by = models.CharField(max_length=200, blank=True, default="")
    held_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "agents_sideeffect"  # where the ledger began (in agents); moved without a copy
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["subject_type", "subject_id"], name="sideeffect_subject")]

    def __str__(self) -> str:
        return f"{self.kind} ({self.status})"
