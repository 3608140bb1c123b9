"""Errors raised by the external providers (deploy, LLM).

They stay independent of the engine: the agents map ``retryable`` onto the engine's own
retryable/permanent errors. Messages never carry credentials; ``http.HttpClient`` redacts them.
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base class of provider failures; raise a subclass, not this one."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.code = code
        # Seconds the remote side asked us to wait; the engine may schedule the retry with it.
        self.retry_after = retry_after


class ProviderRetryableError(ProviderError):
    """Transient failure (429, 5xx, timeout, connection, malformed answer): trying again may work."""

    retryable = True


class ProviderPermanentError(ProviderError):
    """Failure that repeats on every try (bad credentials, bad request, failed build)."""

    retryable = False
