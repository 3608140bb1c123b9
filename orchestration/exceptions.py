"""The engine's errors. Raise the subclasses; `OrchestrationError` is the base to catch."""

from __future__ import annotations


class OrchestrationError(Exception):
    """Base of every engine error (do not raise directly)."""

    code = "orchestration_error"


class ActionError(OrchestrationError):
    """Raised by an action to say how its attempt failed (do not raise directly)."""

    retryable = True

    def __init__(self, message: str, *, detail: dict | None = None) -> None:
        super().__init__(message)
        self.detail = detail or {}


class RetryableError(ActionError):
    """A transient failure: the attempt is retried with backoff while attempts remain."""

    code = "retryable"
    retryable = True


class EffectInProgress(RetryableError):
    """Another attempt is performing this side effect right now (orchestration/side_effects.py): retry
    once its hold is over, `retry_after` seconds from now, not at the usual backoff."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ActionError):
    """A failure that no retry can fix (bad brief, bad credentials): the task dies at once."""

    code = "permanent"
    retryable = False


class UnknownAction(OrchestrationError):
    code = "unknown_action"


class InvalidWorkflow(OrchestrationError):
    code = "invalid_workflow"


class InvalidLimits(OrchestrationError, ValueError):
    """A concurrency-limits specification or key template that cannot be used; names the bad entry."""

    code = "invalid_limits"


class IllegalTransition(OrchestrationError):
    """A run or task is not in a state that allows the requested act."""

    code = "illegal_transition"


class NotFound(OrchestrationError):
    code = "not_found"


class AttemptSuperseded(OrchestrationError):
    """The attempt no longer holds its task (its lease ran out and the task went to another
    attempt, or the run was cancelled): it must not start another side effect. Its report,
    if it sends one, is fenced off as stale."""

    code = "attempt_superseded"


def is_retryable(exc: BaseException) -> bool:
    """How an attempt that raised `exc` failed: an ActionError says so itself; an unknown
    action never heals; anything else (an outage, a flaky dependency, the action's own bug)
    is retried, bounded by the step's retry policy, and recorded as an error each time."""
    if isinstance(exc, ActionError):
        return exc.retryable
    return not isinstance(exc, UnknownAction)
