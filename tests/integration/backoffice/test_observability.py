"""Request ids, ids on log records, and unhandled exceptions recorded as grouped errors."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
from django.conf import settings
from django.test import Client
from django.utils.module_loading import import_string

from core import logging as log_ids
from core.logging import ContextFilter, log_context
from core.tracebacks import location_of
from metrics.management import errors as command_errors
from metrics.models import ErrorGroup
from orchestration.models import Task
from orchestration.services import run_start
from orders.services import project_create
from tests.support.factories import LOGGING_WORKFLOW, drain

pytestmark = pytest.mark.urls("tests.support.urls")


@pytest.mark.django_db
def test_a_request_gets_an_id_and_returns_it(client):
    response = client.get("/logs/")
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_a_callers_request_id_is_kept_and_a_forged_one_replaced(client):
    assert client.get("/logs/", HTTP_X_REQUEST_ID="edge-abc.123").headers["X-Request-ID"] == "edge-abc.123"
    forged = client.get("/logs/", HTTP_X_REQUEST_ID="x\nlevel=ERROR").headers["X-Request-ID"]
    assert forged != "x\nlevel=ERROR" and len(forged) == 32


@pytest.mark.django_db
def test_log_records_inside_a_request_carry_its_id(client, caplog):
    caplog.handler.addFilter(ContextFilter())
    response = client.get("/logs/", HTTP_X_REQUEST_ID="req-42")
    record = next(r for r in caplog.records if r.getMessage() == "inside the view")
    assert record.request_id == "req-42" == response["X-Request-ID"]
    assert log_ids.current("request_id") is None  # unbound after the request


def test_log_context_puts_project_task_and_attempt_on_records_and_extra_wins():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    record.task_id = 99  # passed through extra=
    with log_context(project_id="p-1", task_id=7, attempt=2):
        ContextFilter().filter(record)
    assert (record.project_id, record.task_id, record.attempt) == ("p-1", 99, 2)
    with pytest.raises(ValueError, match="Unknown log context fields"):
        log_context(worker="w").__enter__()


@pytest.mark.django_db(transaction=True)
def test_an_unhandled_exception_in_a_view_becomes_one_grouped_error_record():
    client = Client(raise_request_exception=False)
    assert client.get("/crashes/").status_code == 500
    assert client.get("/crashes/").status_code == 500
    group = ErrorGroup.objects.get()
    assert group.error_type == "ZeroDivisionError" and group.count == 2
    assert group.location == "tests.support.urls:crashes"  # our module's dotted path, not a bare file name
    assert "GET /crashes/: the view divided by zero" in group.message
    assert "Traceback" in group.traceback


@pytest.mark.django_db
def test_a_404_is_not_an_error_record(client):
    assert client.get("/no-such-page/").status_code == 404
    assert not ErrorGroup.objects.exists()


@pytest.mark.django_db
def test_a_management_commands_crash_becomes_an_error_record_and_still_reaches_the_old_hook(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: seen.append(exc[0]))
    assert command_errors.install(["manage.py", "tick"])
    assert not command_errors.install(["manage.py", "tick"])  # chained once only
    try:
        raise KeyError("boom")
    except KeyError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert seen == [KeyError]
    group = ErrorGroup.objects.get()
    assert group.error_type == "KeyError" and "manage.py tick" in group.message


def test_only_management_command_processes_get_the_hook():
    assert command_errors.command_name(["/usr/bin/gunicorn", "config.wsgi"]) is None
    assert command_errors.command_name(["manage.py", "rollup_metrics"]) == "rollup_metrics"


def read_settings_file(path: str) -> dict:
    """Our code calling into the standard library, which raises deep inside it."""
    return json.loads(path)


def test_an_error_is_located_at_the_innermost_frame_of_our_code_not_in_a_library():
    with pytest.raises(json.JSONDecodeError) as caught:
        read_settings_file("{not json")
    assert "json/decoder.py" in caught.traceback[-1].path.as_posix()  # where Python raised it
    assert location_of(caught.value) == "tests.integration.backoffice.test_observability:read_settings_file"


@pytest.fixture
def json_lines():
    """The production console handler (settings.LOGGING's json formatter and context filter)
    on the root logger, writing into a buffer; yields a function returning the parsed lines."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(import_string(settings.LOGGING["formatters"]["json"]["()"])())
    handler.addFilter(import_string(settings.LOGGING["filters"]["context"]["()"])())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


@pytest.mark.django_db
def test_every_json_log_line_of_an_attempt_carries_task_attempt_run_and_project_ids(json_lines):
    project = project_create(business_name="Logs & Co", contact_email="logs@example.com")
    run = run_start(workflow=LOGGING_WORKFLOW.name, project=project, input={"project_id": str(project.id)})
    task = Task.objects.get(run=run)
    drain()
    lines = json_lines()
    provider = next(line for line in lines if line["message"] == "model answered")
    engine = next(line for line in lines if line["message"] == "run finished")  # logged by the engine's services
    for line in (provider, engine):
        assert (line["task_id"], line["attempt"], line["run_id"], line["project_id"]) == (
            str(task.id),
            1,
            str(run.id),
            str(project.id),
        ), line
    assert provider["logger"] == "agents.providers.llm" and provider["action"] == "llm.answer"
    assert log_ids.current("task_id") is None  # unbound once the attempt is over


@pytest.mark.django_db
def test_a_task_outside_any_project_says_so_with_null_ids(json_lines):
    run = run_start(workflow=LOGGING_WORKFLOW.name)
    drain()
    line = next(line for line in json_lines() if line["message"] == "model answered")
    assert line["project_id"] is None and line["run_id"] == str(run.id)


@pytest.mark.django_db
def test_a_json_log_line_inside_a_request_carries_its_request_id(client, json_lines):
    client.get("/logs/", HTTP_X_REQUEST_ID="req-77")
    line = next(line for line in json_lines() if line["message"] == "inside the view")
    assert line["request_id"] == "req-77" and "task_id" not in line
