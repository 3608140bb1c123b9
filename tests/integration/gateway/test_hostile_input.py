"""Input built to break the server: control characters in the path, query string and credential
headers; JSON the database cannot store (NaN, Infinity, \\u0000, lone surrogates) or the parser
cannot survive (deep nesting). Each is a clean 4xx, logged, and changes no row, on SQLite and
PostgreSQL alike (PostgreSQL is the one that used to answer 500)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from gateway.exceptions import MalformedBody
from gateway.models import WebhookEvent
from gateway.parsers import MAX_DEPTH, loads_strict
from orchestration import clock, queue
from orchestration.models import Task, TaskStatus, WorkflowRun
from orchestration.queue import ClaimedTask
from orchestration.services import run_start
from orders.models import Project, ProjectStatus
from tests.integration.gateway.conftest import (
    BRIEF,
    assert_error,
    assert_nothing_secret_logged,
    checkout_event,
    logged,
    post_signed,
    stripe_headers,
)

pytestmark = pytest.mark.django_db

DEEP = b"[" * 200_000  # a RecursionError in json.loads, far under the 1 MB limit
MIDDLEWARE = "gateway.middleware.ControlCharacterMiddleware"


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# --- The strict loader, unit by unit ----------------------------------------------------------


def test_nesting_up_to_the_limit_parses_and_one_level_more_is_refused() -> None:
    assert loads_strict(json.dumps(nested(MAX_DEPTH))) == nested(MAX_DEPTH)

    with pytest.raises(MalformedBody, match=f"deeper than {MAX_DEPTH}") as refused:
        loads_strict(json.dumps({"a": nested(MAX_DEPTH)}))
    assert refused.value.extra == {"reason": "too_deep"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": ' * 5000 + "1" + "}" * 5000, "too_deep"),
        ("[" * 200_000, "too_deep"),
        ('{"n": NaN}', "non_finite_number"),
        ('{"n": Infinity}', "non_finite_number"),
        ('{"n": -Infinity}', "non_finite_number"),
        ('{"n": 1e400}', "non_finite_number"),
        ('{"s": "a\\u0000b"}', "nul_character"),
        ('{"a\\u0000": 1}', "nul_character"),
        ('[["x", {"deep": ["\\u0000"]}]]', "nul_character"),
        ('{"s": "\\ud800"}', "lone_surrogate"),
        ('{"s": "\\udfff tail"}', "lone_surrogate"),
        ('{"n": ' + "1" * 5000 + "}", "invalid_json"),
        ("{not json", "invalid_json"),
        ("", "invalid_json"),
    ],
)
def test_the_loader_refuses_what_the_database_or_the_parser_cannot_take(text: str, reason: str) -> None:
    with pytest.raises(MalformedBody) as refused:
        loads_strict(text)

    assert refused.value.extra == {"reason": reason}
    assert refused.value.status_code == 400


def test_the_loader_keeps_ordinary_json_exactly() -> None:
    text = '{"emoji": "\\ud83d\\ude00", "tab": "a\\tb", "big": 12345678901234567890, "f": 1.5e300, "u": "\\u00e9"}'

    assert loads_strict(text.encode()) == {
        "emoji": "\N{GRINNING FACE}",
        "tab": "a\tb",
        "big": 12345678901234567890,
        "f": 1.5e300,
        "u": "\N{LATIN SMALL LETTER E WITH ACUTE}",
    }
    with pytest.raises(MalformedBody, match="not UTF-8"):
        loads_strict(b"\xff\xfe")


# --- Control characters: path, query string, credential headers ------------------------------


def test_the_control_character_guard_runs_before_anything_reads_the_request() -> None:
    order = settings.MIDDLEWARE
    assert MIDDLEWARE in order, f"add {MIDDLEWARE!r} to MIDDLEWARE, right after the request id middleware"
    guard = order.index(MIDDLEWARE)
    for reader in (
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ):
        assert guard < order.index(reader), f"{MIDDLEWARE} must come before {reader}"


@pytest.mark.parametrize("path", ["/status/a%00b/", "/status/a%00b/feed.json", "/sites/x/a%01b.html", "/admin/%7f/"])
def test_a_control_character_in_a_page_path_is_a_plain_400(
    path: str, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    response = Client().get(path)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    (record,) = logged(caplog, "request_refused")
    assert (record.where, record.reason) == ("path", "control_character")
    assert "\x00" not in record.route and "a%00b" not in record.getMessage()


def test_a_control_character_in_an_api_path_or_query_is_a_json_400(
    staff_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    in_path = staff_client.get("/api/projects/a%00b/")
    in_query = staff_client.get("/api/orchestration/runs/?status=a%00b")
    raw_in_query = staff_client.get("/api/orchestration/runs/", QUERY_STRING="project=\x1b[2J")

    assert assert_error(in_path, 400, "control_character")["detail"] == {"where": "path"}
    assert assert_error(in_query, 400, "control_character")["detail"] == {"where": "query string"}
    assert assert_error(raw_in_query, 400, "control_character")["detail"] == {"where": "query string"}
    assert [r.where for r in logged(caplog, "request_refused")] == ["path", "query string", "query string"]


def test_a_tab_or_line_break_in_a_query_value_is_not_refused(staff_client: APIClient) -> None:
    response = staff_client.get("/api/orchestration/runs/?status=failed%0A")

    assert_error(response, 400, "invalid_filter")  # the view's own answer: the guard let it through


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("HTTP_AUTHORIZATION", "Token abc\x00def"),
        ("HTTP_AUTHORIZATION", "Token abc\x1fdef"),
        ("HTTP_COOKIE", "sessionid=abcdefgh\x00ijkl"),
        ("HTTP_STRIPE_SIGNATURE", "t=1,v1=\x00"),
        ("HTTP_WEBHOOK_ID", "msg_\x00"),
        ("HTTP_USER_AGENT", "curl\x00"),  # a NUL in any header
    ],
)
def test_a_control_character_in_a_credential_header_is_refused_without_logging_it(
    header: str, value: str, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client = APIClient()

    response = client.post("/api/projects/", BRIEF, format="json", **{header: value})
    page = client.get("/status/a/", **{header: value})

    error = assert_error(response, 400, "control_character")
    assert error["detail"]["where"].endswith(" header")
    assert page.status_code == 400
    assert Project.objects.count() == 1  # the fixture's, nothing more
    records = logged(caplog, "request_refused")
    assert len(records) == 2
    assert_nothing_secret_logged(caplog, value)


def test_a_token_with_a_nul_never_reaches_the_token_table(integration_client: APIClient) -> None:
    key = Token.objects.get().key
    integration_client.credentials(HTTP_AUTHORIZATION=f"Token {key[:10]}\x00{key[10:]}")

    assert_error(integration_client.post("/api/projects/", BRIEF, format="json"), 400, "control_character")
    assert not Project.objects.exists()


# --- JSON bodies the database cannot store or the parser cannot survive -------------------------

BAD_BODIES = {
    "deep": DEEP,
    "nested_past_the_limit": json.dumps({"business_name": nested(MAX_DEPTH + 1)}).encode(),
    "nan": b'{"business_name": NaN, "contact_email": "a@b.example"}',
    "infinity": b'{"business_name": "x", "contact_email": "a@b.example", "pages": [Infinity]}',
    "overflow": b'{"business_name": "x", "contact_email": "a@b.example", "extra": 1e400}',
    "nul_in_value": b'{"business_name": "a\\u0000b", "contact_email": "a@b.example"}',
    "nul_in_key": b'{"business_name": "x", "contact_email": "a@b.example", "k\\u0000": 1}',
    "lone_surrogate": b'{"business_name": "\\ud800", "contact_email": "a@b.example"}',
}
REASONS = {
    "deep": "too_deep",
    "nested_past_the_limit": "too_deep",
    "nan": "non_finite_number",
    "infinity": "non_finite_number",
    "overflow": "non_finite_number",
    "nul_in_value": "nul_character",
    "nul_in_key": "nul_character",
    "lone_surrogate": "lone_surrogate",
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_intake_refuses_unstorable_json(
    name: str, integration_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    response = integration_client.post("/api/projects/", data=BAD_BODIES[name], content_type="application/json")

    error = assert_error(response, 400, "malformed_body")
    assert error["detail"] == {"reason": REASONS[name]}
    assert not Project.objects.exists()
    assert [r.reason for r in logged(caplog, "json_refused")] == [REASONS[name]]
    assert [r.code for r in logged(caplog, "api_error")] == ["malformed_body"]


def _stripe_body(project: Project, name: str) -> bytes:
    """The fixture's paid event, broken in one way."""
    good = json.dumps(checkout_event(project.id))
    broken = {
        "deep": good[:-1] + ', "padding": ' + "[" * 200_000 + "]" * 200_000 + "}",
        "nested_past_the_limit": good[:-1] + ', "padding": ' + json.dumps(nested(MAX_DEPTH)) + "}",
        "nan": good.replace('"amount_total": 39900', '"amount_total": NaN'),
        "infinity": good.replace('"amount_total": 39900', '"amount_total": Infinity'),
        "overflow": good.replace('"amount_total": 39900', '"amount_total": 1e400'),
        "nul_in_value": good.replace('"Claire Martin"', '"Claire\\u0000Martin"'),
        "nul_in_key": good.replace('"metadata": {}', '"metadata": {"k\\u0000": "v"}'),
        "lone_surrogate": good.replace('"Claire Martin"', '"Claire \\udc00"'),
    }[name]
    assert broken != good
    return broken.encode()


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_a_validly_signed_stripe_event_that_cannot_be_stored_is_a_400_and_stores_nothing(
    name: str, api: APIClient, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = _stripe_body(project, name)
    headers = stripe_headers(body)

    response = api.post("/api/payments/webhook", data=body, content_type="application/json", **headers)

    error = assert_error(response, 400, "malformed_body")
    assert error["detail"] == {"reason": REASONS[name]}
    assert not WebhookEvent.objects.exists()
    assert not WorkflowRun.objects.exists()
    project.refresh_from_db()
    assert project.status == ProjectStatus.AWAITING_PAYMENT
    (refused,) = logged(caplog, "webhook_refused")
    assert refused.source == "stripe"
    assert [r.code for r in logged(caplog, "api_error")] == ["malformed_body"]
    assert_nothing_secret_logged(caplog, headers["HTTP_STRIPE_SIGNATURE"])


@pytest.fixture
def running(project: Project) -> ClaimedTask:
    run_start(workflow="test-diamond", project=project, input={"project_id": str(project.id)})
    (claimed,) = queue.claim(limit=1, worker="test", now=clock.now())
    return claimed


def _report(task: ClaimedTask, kind: str, data: str) -> bytes:
    """A callback body with `data` spliced in as raw JSON text (json.dumps would not write NaN's
    neighbours, nesting and escapes exactly as a hostile sender can)."""
    head = json.dumps(
        {"type": kind, "agentId": "engine", "projectId": task.input["project_id"], "taskId": task.id, "attempt": 1}
    )
    return (head[:-1] + ', "data": ' + data + "}").encode()


CALLBACK_DATA = {
    "output_nan": ("task_completed", '{"output": {"score": NaN}}', "non_finite_number"),
    "output_infinity": ("task_completed", '{"output": {"score": -Infinity}}', "non_finite_number"),
    "output_nul": ("task_completed", '{"output": {"html": "<p>\\u0000</p>"}}', "nul_character"),
    "output_nul_key": ("task_completed", '{"output": {"\\u0000": 1}}', "nul_character"),
    "output_deep": ("task_completed", '{"output": {"x": ' + "[" * 100 + "]" * 100 + "}}", "too_deep"),
    "output_very_deep": ("task_completed", '{"output": ' + "[" * 200_000 + "}", "too_deep"),
    "progress_nan": ("task_progress", '{"progress": {"done": NaN, "total": 4}}', "non_finite_number"),
    "progress_nul": ("task_progress", '{"progress": {"note": "a\\u0000"}}', "nul_character"),
    "progress_surrogate": ("task_progress", '{"progress": {"note": "\\ud801"}}', "lone_surrogate"),
}


@pytest.mark.parametrize("name", sorted(CALLBACK_DATA))
def test_a_signed_callback_whose_data_cannot_be_stored_is_a_400_and_changes_nothing(
    name: str, api: APIClient, running: ClaimedTask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    kind, data, reason = CALLBACK_DATA[name]
    before = Task.objects.get(id=running.id)

    response = post_signed(api, "/api/orchestration/webhooks", _report(running, kind, data))

    assert assert_error(response, 400, "malformed_body")["detail"] == {"reason": reason}
    assert not WebhookEvent.objects.exists()
    task = Task.objects.get(id=running.id)
    assert (task.status, task.output, task.progress, task.lease_expires_at) == (
        TaskStatus.RUNNING,
        None,
        before.progress,
        before.lease_expires_at,
    )
    assert [r.reason for r in logged(caplog, "json_refused")] == [reason]


@pytest.mark.parametrize("path", ["/api/workflows/execute", "/api/engine/echo"])
@pytest.mark.parametrize("name", ["deep", "nan", "nul_in_key"])
def test_the_engines_signed_routes_refuse_unstorable_json(
    path: str, name: str, api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    run = run_start(workflow="test-diamond")

    response = post_signed(api, path, BAD_BODIES[name])

    assert assert_error(response, 400, "malformed_body")["detail"] == {"reason": REASONS[name]}
    assert not Task.objects.filter(run=run).exclude(status__in=[TaskStatus.QUEUED, TaskStatus.WAITING]).exists()
    assert logged(caplog, "json_refused")
