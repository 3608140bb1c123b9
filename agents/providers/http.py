"""One small HTTP client for every provider: timeouts, bounded retries, error classification.

Retry rules: the answers `orchestration.retry.is_retryable_status` names (408, 425, 429, and 5xx
but 501 and 505), timeouts and connection errors are retryable; every other answer is permanent
(bad credentials or a bad request do not heal by themselves). Waits use capped
exponential backoff with full jitter, or the server's ``Retry-After`` when it sends one. A
``Retry-After`` longer than the policy allows is not slept through: the error is raised with its
``retry_after`` so the engine can schedule the retry instead of holding a function open.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from orchestration.retry import is_retryable_status

from .errors import ProviderError, ProviderPermanentError, ProviderRetryableError

logger = logging.getLogger(__name__)

Sleep = Callable[[float], None]
Random = Callable[[], float]

REDACTED = "[redacted]"


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now())


@dataclass(frozen=True)
class HttpRetryPolicy:
    """How many tries of one HTTP request (the first included) and how long to wait between
    them, all within one attempt of a task (the engine's `orchestration.retry.RetryPolicy`
    spaces the attempts)."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    # Longer waits are the engine's job (it has run_after); a function must not idle that long.
    max_retry_after: float = 30.0

    def backoff(self, attempt: int, rng: Random) -> float:
        # Full jitter: 50 concurrent orders hitting the same limit must not retry in lockstep.
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return rng() * ceiling


class HttpClient:
    """A requests session with a default timeout, bounded retries and credential redaction."""

    def __init__(
        self,
        *,
        provider: str,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        retry: HttpRetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        rng: Random = random.random,
        secrets: Iterable[str] = (),
    ) -> None:
        self.provider = provider
        self.session = session if session is not None else requests.Session()
        self.timeout = timeout
        self.retry = retry if retry is not None else HttpRetryPolicy()
        self.sleep = sleep
        self.rng = rng
        self._secrets = tuple(s for s in secrets if s)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def request(self, method: str, url: str, *, max_attempts: int | None = None, **kwargs: Any) -> requests.Response:
        """Send with retries; return a 2xx/3xx response or raise a ProviderError.

        Pass ``max_attempts=1`` for a request that is not safe to repeat blindly (a create whose
        response may be lost): the caller then decides how to retry, e.g. after a lookup.
        """
        attempts = max(1, max_attempts if max_attempts is not None else self.retry.max_attempts)
        kwargs.setdefault("timeout", self.timeout)
        where = f"{method} {urlsplit(url).path}"
        for attempt in range(1, attempts + 1):
            cause: BaseException | None = None
            try:
                response = self.session.request(method, url, **kwargs)
            except (requests.Timeout, requests.ConnectionError) as exc:
                cause = exc
                error: ProviderError = ProviderRetryableError(
                    self.redact(f"{self.provider}: {where} failed: {type(exc).__name__}: {str(exc)[:300]}"),
                    provider=self.provider,
                )
            except requests.RequestException as exc:
                # Invalid URL, too many redirects...: repeating the same request cannot help.
                raise ProviderPermanentError(
                    self.redact(f"{self.provider}: {where} failed: {type(exc).__name__}: {str(exc)[:300]}"),
                    provider=self.provider,
                ) from exc
            else:
                if response.status_code < 400:
                    return response
                error = self.error_for(response, where=where)
            if not error.retryable or attempt == attempts:
                raise error from cause
            delay = self.retry_delay(attempt, error)
            if delay is None:
                raise error from cause
            logger.warning(
                "%s; retry %d/%d in %.2fs",
                error.message,
                attempt,
                attempts - 1,
                delay,
                extra={"action": "provider.http.retry", "provider": self.provider, "status": error.status},
            )
            self.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def retry_delay(self, attempt: int, error: ProviderError) -> float | None:
        """Seconds to wait before try ``attempt + 1``; None when the server asks for too long a wait."""
        if error.retry_after is not None:
            if error.retry_after > self.retry.max_retry_after:
                return None
            # Honour the server's wait, plus a little jitter so waiting clients do not return together.
            return error.retry_after + self.rng() * self.retry.base_delay
        return self.retry.backoff(attempt, self.rng)

    def error_for(self, response: requests.Response, *, where: str) -> ProviderError:
        """Turn an error answer into a retryable or permanent ProviderError with the server's reason."""
        status = response.status_code
        code, reason = _error_reason(response)
        text = f"{self.provider}: HTTP {status} on {where}"
        if code:
            text += f": {code}"
        if reason:
            text += f": {reason}"
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if status in (429, 503) else None
        cls = ProviderRetryableError if is_retryable_status(status) else ProviderPermanentError
        return cls(self.redact(text), provider=self.provider, status=status, code=code, retry_after=retry_after)


def _error_reason(response: requests.Response) -> tuple[str | None, str]:
    """(code, message) from the JSON error bodies of Vercel and OpenAI, else a short text excerpt."""
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200].strip()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        return (str(code) if code else None), str(error.get("message") or "")[:300]
    if isinstance(error, str):
        return None, error[:300]
    return None, str(body)[:200]
