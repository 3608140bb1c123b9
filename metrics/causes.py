"""Errors explained in words, for staff who do not read Python.

`explain(error_type=..., message=..., action=...)` turns what an attempt recorded (the
exception's class name and message, and the agent action that raised it) into a `Cause`:
what happened, what to do about it, and whether a replay can help now. The rules are a
table read top to bottom (first match wins); every error the engine and the agents raise
has a row (tests/integration/backoffice/test_causes.py holds one real message per row). An error no
row knows is reported as unrecognised, never guessed.

Pure: no database, no settings beyond the names of the variables to check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Whether replaying the failed steps now can help.
REPLAY_NOW = "now"  # the cause is gone, or was passing: replay
REPLAY_AFTER_FIX = "after_fix"  # something must be fixed first (a setting, the brief, the code)
REPLAY_WAIT = "wait"  # the remote side asked us to slow down: replay a little later
REPLAY_TEXT = {
    REPLAY_NOW: "Replaying now can help.",
    REPLAY_AFTER_FIX: "Replaying now will fail the same way: fix the cause first, then replay.",
    REPLAY_WAIT: "Replaying right away may hit the same limit: wait a few minutes, then replay.",
}


@dataclass(frozen=True)
class Cause:
    code: str  # stable: "provider_unreachable", "invalid_brief", ...
    title: str  # one sentence, the cause in words
    what_to_do: str
    replay: str  # REPLAY_NOW | REPLAY_AFTER_FIX | REPLAY_WAIT
    fields: tuple[str, ...] = ()  # the brief's fields at fault (invalid brief only)

    @property
    def replay_text(self) -> str:
        return REPLAY_TEXT[self.replay]

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "what_to_do": self.what_to_do,
            "replay": self.replay,
            "replay_text": self.replay_text,
            "fields": list(self.fields),
        }


@dataclass(frozen=True)
class Provider:
    name: str  # as staff call it
    settings: str  # the variables that configure it


# Who an action talks to, by the prefix providers put on their messages, else by the action.
PROVIDERS = {
    "llm": Provider("The AI copy provider", "LLM_BASE_URL and LLM_API_KEY"),
    "vercel": Provider("Vercel (site hosting)", "VERCEL_TOKEN, VERCEL_TEAM_ID and VERCEL_PROJECT"),
    "local": Provider("The local site publisher", "the site storage (disk space, permissions)"),
    "mail": Provider("The email server", "EMAIL_URL"),
    "agent": Provider("An agent's HTTP route", "AGENTS_BASE_URL and WEBHOOK_SECRET"),
}
_ACTION_PROVIDER = {
    "design-ia": "llm",
    "automation.deploy": "vercel",
    "core-platform": "mail",
}


def provider_of(message: str, action: str) -> Provider | None:
    prefix = re.match(r"^\s*(llm|vercel|local):", message)
    if prefix:
        return PROVIDERS[prefix.group(1)]
    if re.search(r"\bsmtp|SMTP", message):
        return PROVIDERS["mail"]
    for start, key in _ACTION_PROVIDER.items():
        if action == start or action.startswith(f"{start}."):
            return PROVIDERS[key]
    return None


BUG_TYPES = frozenset(
    {
        "AttributeError",
        "AssertionError",
        "IndexError",
        "KeyError",
        "NameError",
        "NotImplementedError",
        "RecursionError",
        "RuntimeError",
        "TypeError",
        "UnboundLocalError",
        "ValueError",
        "ZeroDivisionError",
        "UnknownAction",
        "ImportError",
        "ModuleNotFoundError",
    }
)
_UNREACHABLE = re.compile(
    r"ConnectionError|Connection refused|Max retries exceeded|Name or service not known|"
    r"nodename nor servname|Temporary failure in name resolution|No route to host|Network is unreachable|"
    r"ConnectionRefusedError|Connection reset|RemoteDisconnected|SSLError|SMTPServerDisconnected|"
    r"Connection unexpectedly closed|SMTPConnectError",
    re.IGNORECASE,
)
_TIMEOUT = re.compile(r"Timeout|timed out|ReadTimeout|ConnectTimeout", re.IGNORECASE)
_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")
_CREDENTIALS = re.compile(
    r"invalid_api_key|Incorrect API key|Unauthorized|forbidden|not_authorized|invalid token|"
    r"SMTPAuthenticationError|authentication failed|Username and Password not accepted",
    re.IGNORECASE,
)
_RATE = re.compile(r"rate.?limit|too many requests|quota", re.IGNORECASE)
# A used-up account (OpenAI answers 429 with insufficient_quota): waiting does not help, paying does.
_QUOTA_SPENT = re.compile(r"insufficient_quota|billing|credit balance|payment required|\bHTTP 402\b", re.IGNORECASE)
# The model declined the brief itself (llm.py's "model refused: ..."): its words are the model's, so
# they are not read for other rules ("forbidden", "quota" in a refusal are not about our key).
_MODEL_REFUSED = re.compile(r"^\s*llm: model refused\b")
# An answer the AI provider sent that we cannot use (agents.providers.llm.InvalidModelOutput).
_BAD_ANSWER = re.compile(
    r"malformed JSON|empty message content|no choices\[0\]|choices\[0\]\.message is not|^\s*(llm: )?page copy\b",
    re.IGNORECASE,
)
# Vercel's deployment ended in a failed state (agents.providers.deploy: "deployment X ended ERROR: ...").
_DEPLOY_FAILED = re.compile(r"^\s*vercel: deployment \S+ ended (\w+)")
_STILL_BUILDING = re.compile(r"Deployment \S+ is not ready yet")
# Settings missing or wrong (ImproperlyConfigured, and the providers' own checks of their settings).
_MISCONFIGURED = re.compile(
    r"must be set when|needs base_url, api_key and model|needs an API token|is not a valid whsec_|"
    r"DEPLOY_PROVIDER must be",
)
_STORAGE = re.compile(r"No space left on device|Errno 28|Read-only file system|Permission denied", re.IGNORECASE)
_BRIEF = re.compile(r"brief is invalid: (.*)$|invalid brief: (.*)$", re.IGNORECASE | re.DOTALL)


def brief_fields(message: str) -> tuple[str, ...]:
    """The fields an invalid-brief message names ('contact_email: ...; pages: ...')."""
    match = _BRIEF.search(message)
    if not match:
        return ()
    listed = match.group(1) or match.group(2) or ""
    return tuple(dict.fromkeys(part.split(":", 1)[0].strip() for part in listed.split(";") if ":" in part))


def _lower_the(name: str) -> str:
    """'The AI copy provider' inside a sentence."""
    return "the" + name[3:] if name.startswith("The ") else name


def _label(field: str) -> str:
    return field.replace("_", " ")


def explain(*, error_type: str, message: str, action: str = "") -> Cause:
    """The cause of one recorded error, in words (first matching rule of the table below)."""
    error_type = (error_type or "").strip()
    message = message or ""
    provider = provider_of(message, action)
    who = provider.name if provider else "An outside service"
    check = f"check {provider.settings}" if provider else "check that service's address and status"
    text = f"{error_type}: {message}"  # an exception's class says as much as its message (SMTPAuthenticationError)
    status_match = _HTTP_STATUS.search(message)
    status = int(status_match.group(1)) if status_match else None

    fields = brief_fields(message)
    if fields or error_type == "InvalidBrief":
        named = ", ".join(_label(f) for f in fields) or "some fields"
        return Cause(
            "invalid_brief",
            f"The customer's brief is invalid ({named}): {_brief_reason(message)}",
            "Correct the field in the Brief section of this order's page, save, then replay the failed steps.",
            REPLAY_AFTER_FIX,
            fields,
        )
    if _MODEL_REFUSED.search(message):
        return Cause(
            "model_refused",
            "The AI declined to write copy for this brief.",
            "Read its answer in the technical detail: if the brief (description, sector) asks for something it "
            "will not write, correct the brief, save, then replay; otherwise send it to a developer.",
            REPLAY_AFTER_FIX,
        )
    if error_type == "ImproperlyConfigured" or _MISCONFIGURED.search(message):
        return Cause(
            "misconfigured",
            f"A setting is missing or wrong{f' for {_lower_the(who)}' if provider else ''}.",
            "The technical detail names the setting: set it in the deployment's environment, redeploy, then replay.",
            REPLAY_AFTER_FIX,
        )
    if error_type == "EffectInProgress":
        return Cause(
            "effect_in_progress",
            "Another attempt of this step is still sending its email or deploy; this one waits for it.",
            "Nothing to do: the engine retries once the other attempt's hold ends (a few minutes). Replaying "
            "before then waits the same way.",
            REPLAY_WAIT,
        )
    if error_type == "LeaseExpired" or message.startswith("Lease expired"):
        return Cause(
            "worker_lost",
            "The worker running this step stopped, or the step ran past its time limit.",
            "Nothing to fix if workers are up (a deploy or a restart does this); if it repeats, the step is too "
            "slow for its timeout: tell a developer.",
            REPLAY_NOW,
        )
    if "injected" in message and "fault" in message:
        return Cause(
            "injected_fault",
            "A fault injected on purpose by a load test (FAULTS settings).",
            "Nothing to fix in production; turn fault injection off if this is not a test.",
            REPLAY_NOW,
        )
    if error_type == "DispatchError":
        return Cause(
            "agent_unreachable",
            "The engine could not reach the agent's HTTP route.",
            f"Check {PROVIDERS['agent'].settings} and that the deployment is up; the run can be replayed once "
            "the route answers.",
            REPLAY_AFTER_FIX,
        )
    deploy = _DEPLOY_FAILED.search(message)
    if deploy:
        return Cause(
            "deploy_failed",
            f"Vercel could not build or publish the site (the deployment ended {deploy.group(1)}).",
            "Open the deployment in Vercel to read why (its id is in the technical detail); replay once the cause "
            "is fixed, or now if Vercel reported a passing problem.",
            REPLAY_AFTER_FIX,
        )
    if _STILL_BUILDING.search(message):
        return Cause(
            "deploy_slow",
            "Vercel was still building the site when the step gave up waiting.",
            "Usually a slow build on Vercel's side: replay (the replay finds the same deployment); if it keeps "
            "happening, check Vercel's status page.",
            REPLAY_NOW,
        )
    if _QUOTA_SPENT.search(text):
        return Cause(
            "quota_exhausted",
            f"{who} refused: our account's quota or credit is used up.",
            f"Top up or raise the plan with the provider (or {check} for another account), then replay.",
            REPLAY_AFTER_FIX,
        )
    if status in (401, 403) or _CREDENTIALS.search(text):
        return Cause(
            "credentials_refused",
            f"{who} refused our credentials.",
            f"The key or token is wrong, expired or lacks a permission: {check}, then replay.",
            REPLAY_AFTER_FIX,
        )
    if status == 429 or _RATE.search(text):
        return Cause(
            "rate_limited",
            f"{who} is rate limiting us (too many requests).",
            "The engine retries with backoff by itself; if the step died, wait a few minutes, or raise the plan's "
            "limit with the provider, then replay.",
            REPLAY_WAIT,
        )
    if _TIMEOUT.search(text):
        return Cause(
            "timed_out",
            f"{who} did not answer in time.",
            "Usually a slow or overloaded provider: replay; if it keeps timing out, check the provider's status "
            "page and its timeout setting (LLM_TIMEOUT_SECONDS for the AI provider).",
            REPLAY_NOW,
        )
    if _UNREACHABLE.search(text):
        return Cause(
            "provider_unreachable",
            f"{who} is unreachable (the connection failed).",
            f"Check the address and that the service is up: {check}. Replay once it answers.",
            REPLAY_AFTER_FIX,
        )
    if _STORAGE.search(text):
        return Cause(
            "storage_failing",
            f"{who} could not write the files (disk full or not writable).",
            "Free disk space or fix the folder's permissions where the sites are stored, then replay.",
            REPLAY_AFTER_FIX,
        )
    if error_type not in BUG_TYPES and _BAD_ANSWER.search(message):
        return Cause(
            "provider_bad_answer",
            f"{PROVIDERS['llm'].name} answered with something we cannot use (malformed or incomplete copy).",
            "Usually passing (the model sometimes answers badly): replay; if it keeps happening, check the model "
            "named by LLM_MODEL.",
            REPLAY_NOW,
        )
    if status is not None and status >= 500:
        return Cause(
            "provider_failing",
            f"{who} answered with a server error (HTTP {status}).",
            "A problem on their side: check their status page; replay when it is resolved.",
            REPLAY_NOW,
        )
    if status is not None and 400 <= status < 500:
        return Cause(
            "provider_refused_request",
            f"{who} refused our request (HTTP {status}).",
            "Our request was wrong for this provider (a bug, or a setting such as the model or project name): "
            "send the error group to a developer.",
            REPLAY_AFTER_FIX,
        )
    if error_type in BUG_TYPES or _looks_like_our_invariant(message):
        return Cause(
            "bug",
            "A bug in our code (the step's own output or input was not what it expects).",
            "Send the error group (with its traceback) to a developer; replaying will fail the same way until the "
            "fix is deployed.",
            REPLAY_AFTER_FIX,
        )
    return Cause(
        "unrecognised",
        "An error the back office does not recognise.",
        "Read the technical detail below; if it looks temporary, replay; otherwise send it to a developer.",
        REPLAY_AFTER_FIX,
    )


# Messages of the agents' own consistency checks: a step got something it cannot use from
# the step before it. No operator can fix these; the code must change.
_INVARIANTS = re.compile(
    r"produced no (pages|files)|reported no URL|has no slug|breaks Google Ads limits|is malformed|"
    r"missing from storage|names no existing project|No free slug|no valid page copy|model refused|"
    r"unexpected non-JSON|without a deployment id|cannot be stored as JSON",
    re.IGNORECASE,
)


def _looks_like_our_invariant(message: str) -> bool:
    return bool(_INVARIANTS.search(message))


def _brief_reason(message: str) -> str:
    match = _BRIEF.search(message)
    listed = (match.group(1) or match.group(2) or "") if match else message
    return listed.strip().rstrip(".") + "."


# --- Attempts, collapsed ------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorRun:
    """Consecutive attempts of one step that failed with the same error, shown as one line."""

    step: str
    first_attempt: int
    last_attempt: int
    count: int
    outcome: str  # the last attempt's outcome (retry, failed, timed_out)
    outcome_label: str
    error_type: str
    error: str
    cause: Cause

    @property
    def attempts_text(self) -> str:
        if self.count == 1:
            return f"attempt {self.first_attempt}"
        return f"{self.count} attempts ({self.first_attempt} to {self.last_attempt}), same error"


def collapse(attempts: Iterable[Any], *, step_of: Any = None) -> list[ErrorRun]:
    """Failed attempts (objects with step/attempt/outcome/error_type/error, in order), with runs of
    identical consecutive errors of one step collapsed into one line."""
    lines: list[ErrorRun] = []
    for a in attempts:
        if not a.error:
            continue
        step = step_of(a) if step_of else a.step
        last = lines[-1] if lines else None
        if last is not None and last.step == step and _same(last, a):
            lines[-1] = ErrorRun(
                step,
                last.first_attempt,
                a.attempt,
                last.count + 1,
                a.outcome,
                a.get_outcome_display(),
                a.error_type,
                a.error,
                last.cause,
            )
            continue
        cause = explain(error_type=a.error_type, message=a.error, action=a.action)
        lines.append(
            ErrorRun(step, a.attempt, a.attempt, 1, a.outcome, a.get_outcome_display(), a.error_type, a.error, cause)
        )
    return lines


def _same(line: ErrorRun, attempt: Any) -> bool:
    """The same error, whatever the numbers in it (an object's address, a port, an attempt number),
    but not another HTTP status: a 401 then a 503 are two errors with two causes."""
    return line.error_type == attempt.error_type and _shape(line.error) == _shape(attempt.error)


def _shape(message: str) -> str:
    statuses = " ".join(_HTTP_STATUS.findall(message))  # kept: they tell two failures apart
    return f"{statuses}|" + re.sub(r"0x[0-9a-fA-F]+|\d+", "#", message)


def countdown(seconds: float) -> str:
    """'in 1 min 05 s' / 'in 42 s' / 'now'."""
    whole = round(seconds)
    if whole <= 0:
        return "now"
    if whole < 60:
        return f"in {whole} s"
    if whole < 3600:
        return f"in {whole // 60} min {whole % 60:02d} s"
    return f"in {whole // 3600} h {whole % 3600 // 60:02d} min"
