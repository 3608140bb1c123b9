"""Errors explained in words: the messages the agents and the engine really produce, each mapped
to a cause staff can read, what to do, and whether replaying now can help."""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from agents.actions.common import provider_errors
from agents.providers.http import HttpClient, HttpRetryPolicy
from metrics.causes import REPLAY_AFTER_FIX, REPLAY_NOW, REPLAY_WAIT, collapse, countdown, explain
from orchestration.exceptions import OrchestrationError


def raised_through_an_agent(url: str, *, timeout: float = 2.0) -> tuple[str, str]:
    """(error_type, message) as the engine records them when the AI provider's call fails."""
    client = HttpClient(provider="llm", timeout=timeout, retry=HttpRetryPolicy(max_attempts=1), secrets=("sk-secret",))
    try:
        with provider_errors():
            client.request("POST", url, json={})
    except OrchestrationError as exc:
        return type(exc).__name__, str(exc)
    raise AssertionError("the call did not fail")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_ai_provider_is_named_with_the_settings_to_check():
    error_type, message = raised_through_an_agent(f"http://127.0.0.1:{closed_port()}/v1/chat/completions")
    assert "Connection refused" in message  # the raw text staff used to get

    cause = explain(error_type=error_type, message=message, action="design-ia.generate")

    assert cause.code == "provider_unreachable"
    assert cause.title == "The AI copy provider is unreachable (the connection failed)."
    assert "LLM_BASE_URL" in cause.what_to_do
    assert cause.replay == REPLAY_AFTER_FIX


@pytest.mark.parametrize(
    ("status", "body", "code", "replay"),
    [
        (
            401,
            {"error": {"code": "invalid_api_key", "message": "Incorrect API key provided: sk-..."}},
            "credentials_refused",
            REPLAY_AFTER_FIX,
        ),
        (403, {"error": {"message": "forbidden"}}, "credentials_refused", REPLAY_AFTER_FIX),
        (429, {"error": {"code": "rate_limit_exceeded", "message": "Rate limit reached"}}, "rate_limited", REPLAY_WAIT),
        (500, {"error": {"message": "The server had an error"}}, "provider_failing", REPLAY_NOW),
        (
            400,
            {"error": {"code": "invalid_request_error", "message": "model not found"}},
            "provider_refused_request",
            REPLAY_AFTER_FIX,
        ),
    ],
)
def test_each_provider_answer_has_its_cause(httpserver: HTTPServer, status, body, code, replay):
    httpserver.expect_request("/v1/chat/completions").respond_with_json(body, status=status)
    error_type, message = raised_through_an_agent(httpserver.url_for("/v1/chat/completions"))

    cause = explain(error_type=error_type, message=message, action="design-ia.generate")

    assert (cause.code, cause.replay) == (code, replay), message
    assert cause.title.startswith("The AI copy provider")


def test_a_provider_that_does_not_answer_in_time_timed_out(httpserver: HTTPServer):
    answered = threading.Event()

    def slow(request: Request) -> Response:
        answered.wait(5)  # held until the client has given up, then released before the test ends
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/v1/chat/completions").respond_with_handler(slow)
    try:
        error_type, message = raised_through_an_agent(httpserver.url_for("/v1/chat/completions"), timeout=0.1)
    finally:
        # Let the handler finish inside this test, or its late log entry lands in the next test's
        # view of the shared server (it once broke test_http_dispatch in CI).
        answered.set()
        time.sleep(0.05)

    assert explain(error_type=error_type, message=message, action="design-ia.generate").code == "timed_out"


@pytest.mark.parametrize(
    ("error_type", "message", "action", "code", "fields"),
    [
        (
            "PermanentError",
            "The brief is invalid: brand_color: Use #rrggbb.; contact_email: Enter a valid email address (got 'x').",
            "core-platform.setup",
            "invalid_brief",
            ("brand_color", "contact_email"),
        ),
        (
            "LeaseExpired",
            "Lease expired: the worker died or overran the step's timeout",
            "automation.build",
            "worker_lost",
            (),
        ),
        ("RetryableError", "injected retryable fault (task 12, attempt 2)", "engine.noop", "injected_fault", ()),
        ("DispatchError", "POST /api/design-ia/generate answered 502", "design-ia.generate", "agent_unreachable", ()),
        (
            "RetryableError",
            "vercel: HTTP 401 on POST /v13/deployments: forbidden: Not authorized",
            "automation.deploy",
            "credentials_refused",
            (),
        ),
        (
            "SMTPAuthenticationError",
            "(535, b'5.7.8 Username and Password not accepted')",
            "core-platform.notify",
            "credentials_refused",
            (),
        ),
        ("ConnectionRefusedError", "[Errno 111] Connection refused", "core-platform.setup", "provider_unreachable", ()),
        (
            "PermanentError",
            "The campaign breaks Google Ads limits: headline 3 is 34 characters",
            "ads-management.campaign",
            "bug",
            (),
        ),
        ("PermanentError", "The design step produced no pages", "automation.build", "bug", ()),
        ("KeyError", "'palette'", "automation.build", "bug", ()),
        ("RuntimeError", "unexpected bug", "test.crash", "bug", ()),
        ("PermanentError", "flag missing", "test.fail_unless", "unrecognised", ()),
    ],
)
def test_every_error_the_engine_and_the_agents_raise_has_a_cause(error_type, message, action, code, fields):
    cause = explain(error_type=error_type, message=message, action=action)

    assert cause.code == code
    assert cause.fields == fields
    assert cause.title and cause.what_to_do and cause.replay_text


def test_the_mail_provider_is_named_for_core_platform_steps():
    cause = explain(
        error_type="ConnectionRefusedError", message="[Errno 111] Connection refused", action="core-platform.notify"
    )
    assert cause.title.startswith("The email server") and "EMAIL_URL" in cause.what_to_do


def attempt(n: int, error: str, *, step: str = "design", outcome: str = "retry") -> SimpleNamespace:
    return SimpleNamespace(
        step=step,
        attempt=n,
        outcome=outcome,
        get_outcome_display=lambda: outcome,
        error_type="RetryableError",
        error=error,
        action="design-ia.generate",
    )


def test_identical_consecutive_attempt_errors_are_one_line():
    refused = "llm: POST /v1 failed: ConnectionError: <HTTPConnection object at 0x7f{}>: [Errno 111] Connection refused"
    attempts = [attempt(n, refused.format(n * 17)) for n in range(1, 6)]
    attempts[-1].outcome = "failed"
    attempts.append(attempt(1, "something else", step="campaign"))

    lines = collapse(attempts)

    assert [(line.step, line.count) for line in lines] == [("design", 5), ("campaign", 1)]
    assert lines[0].attempts_text == "5 attempts (1 to 5), same error"
    assert lines[0].outcome == "failed" and lines[0].cause.code == "provider_unreachable"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "now"), (42.4, "in 42 s"), (65, "in 1 min 05 s"), (3720, "in 1 h 02 min")]
)
def test_the_next_retry_reads_as_a_countdown(seconds, text):
    assert countdown(seconds) == text


def _through_an_agent(exc: Exception) -> tuple[str, str]:
    """(error_type, message) as the engine records a provider error raised inside an action."""
    try:
        with provider_errors():
            raise exc
    except OrchestrationError as wrapped:
        return type(wrapped).__name__, str(wrapped)
    raise AssertionError("not raised")


def _invalid_output(message: str) -> tuple[str, str]:
    from agents.providers.llm import InvalidModelOutput

    return _through_an_agent(InvalidModelOutput(message, provider="llm"))


def _permanent(message: str, provider: str, status: int | None = None) -> tuple[str, str]:
    from agents.providers.errors import ProviderPermanentError

    return _through_an_agent(ProviderPermanentError(message, provider=provider, status=status))


@pytest.mark.parametrize(
    ("raised", "action", "code", "replay"),
    [
        # The AI provider's unusable answers (InvalidModelOutput, retried by the engine): passing.
        (
            _invalid_output("malformed JSON (Expecting value at char 0)"),
            "design-ia.generate",
            "provider_bad_answer",
            REPLAY_NOW,
        ),
        (_invalid_output("llm: empty message content"), "design-ia.generate", "provider_bad_answer", REPLAY_NOW),
        (
            _invalid_output("llm: answer has no choices[0].message"),
            "design-ia.generate",
            "provider_bad_answer",
            REPLAY_NOW,
        ),
        (
            _invalid_output("page copy: hero must be an object with title"),
            "design-ia.generate",
            "provider_bad_answer",
            REPLAY_NOW,
        ),
        # A used-up account is not a rate limit: waiting does not help.
        (
            _permanent(
                "llm: HTTP 429 on POST /v1/chat/completions: insufficient_quota: You exceeded your current quota",
                "llm",
                429,
            ),
            "design-ia.generate",
            "quota_exhausted",
            REPLAY_AFTER_FIX,
        ),
        # The model's own words are not read as our credentials being refused.
        (
            _permanent("llm: model refused: I can't write copy for a shop selling forbidden weapons", "llm"),
            "design-ia.generate",
            "model_refused",
            REPLAY_AFTER_FIX,
        ),
        (
            _permanent("vercel: deployment dpl_1 ended ERROR: BUILD_TIMEOUT no reason given", "vercel"),
            "automation.deploy",
            "deploy_failed",
            REPLAY_AFTER_FIX,
        ),
        (("RetryableError", "Deployment dpl_1 is not ready yet"), "automation.deploy", "deploy_slow", REPLAY_NOW),
        (
            ("ImproperlyConfigured", "VERCEL_TOKEN must be set when DEPLOY_PROVIDER is 'vercel'."),
            "automation.deploy",
            "misconfigured",
            REPLAY_AFTER_FIX,
        ),
        (
            ("ValueError", "ChatCompletionsCopywriter needs base_url, api_key and model"),
            "design-ia.generate",
            "misconfigured",
            REPLAY_AFTER_FIX,
        ),
        (
            ("PermanentError", "The action returned output that cannot be stored as JSON: Object of type set"),
            "design-ia.generate",
            "bug",
            REPLAY_AFTER_FIX,
        ),
        (
            ("EffectInProgress", "email:site_live is being performed by w1:42; retry after its hold (280 s)"),
            "core-platform.notify",
            "effect_in_progress",
            REPLAY_WAIT,
        ),
        (
            ("RetryableError", "local: could not publish site 'alice': [Errno 28] No space left on device"),
            "automation.deploy",
            "storage_failing",
            REPLAY_AFTER_FIX,
        ),
        (
            ("SMTPServerDisconnected", "Connection unexpectedly closed"),
            "core-platform.notify",
            "provider_unreachable",
            REPLAY_AFTER_FIX,
        ),
    ],
)
def test_more_real_errors_map_to_their_cause(raised, action, code, replay):
    error_type, message = raised
    cause = explain(error_type=error_type, message=message, action=action)
    assert (cause.code, cause.replay) == (code, replay), cause


def test_attempts_failing_with_two_http_statuses_are_two_lines():
    first = attempt(1, "vercel: HTTP 401 on POST /v13/deployments: forbidden")
    second = attempt(2, "vercel: HTTP 503 on POST /v13/deployments: unavailable")
    lines = collapse([first, second])
    assert [line.cause.code for line in lines] == ["credentials_refused", "provider_failing"]
