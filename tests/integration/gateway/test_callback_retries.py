"""An agent's callback to the engine (dispatch.call_back): what each try sends, how long it may
wait, what it logs, and which answers end the retries. The retries' backoff and the one
webhook-id are in test_http_dispatch.py."""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from orchestration import dispatch

REPORT = dispatch.Report("task_completed", task_id=77, attempt=2, data={"output": {"ok": 1}}, agent_id="engine")


def _retry_records(caplog: Any) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "orchestration.dispatch" and r.levelno == logging.WARNING]


def _closed_port() -> int:
    """A local port nothing listens on: every connection to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_callback_is_sent_as_json_with_the_report_as_its_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/cb-json", method="POST").respond_with_json({"received": True})

    assert dispatch.call_back(REPORT, httpserver.url_for("/cb-json"), sleep=lambda _: None) is True

    [(request, _)] = [entry for entry in httpserver.log if entry[0].path == "/cb-json"]
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.get_data()) == REPORT.as_body()


def test_a_callback_waits_five_seconds_to_connect_and_thirty_for_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []

    def post(url: str, **kwargs: Any) -> requests.Response:
        sent.append(kwargs)
        answer = requests.Response()
        answer.status_code = 200
        return answer

    monkeypatch.setattr(dispatch.requests, "post", post)

    assert dispatch.call_back(REPORT, "http://engine.invalid/cb", sleep=lambda _: None) is True
    # An engine that never answers must not hold the agent's thread: the lease covers the rest.
    assert [kwargs["timeout"] for kwargs in sent] == [(5.0, 30.0)]


def test_a_callback_answered_with_a_redirect_is_not_followed_and_is_logged_as_refused(
    httpserver: HTTPServer, caplog: Any
) -> None:
    # The body is signed for the callback route alone; a redirect elsewhere is the receiver's
    # refusal, not an address to send the report to.
    moved_to = httpserver.url_for("/cb-moved-here")
    httpserver.expect_request("/cb-moved").respond_with_data("", status=307, headers={"Location": moved_to})
    httpserver.expect_request("/cb-moved-here").respond_with_json({"received": True})
    delays: list[float] = []

    with caplog.at_level(logging.INFO, logger="orchestration.dispatch"):
        assert dispatch.call_back(REPORT, httpserver.url_for("/cb-moved"), sleep=delays.append) is True

    assert [request.path for request, _ in httpserver.log if request.path.startswith("/cb-moved")] == ["/cb-moved"]
    assert delays == []
    [refused] = [r for r in caplog.records if r.name == "orchestration.dispatch"]
    assert (refused.levelno, refused.action, refused.status) == (logging.ERROR, "callback_refused", 307)


def test_a_300_answer_is_a_refusal_not_a_delivery(httpserver: HTTPServer, caplog: Any) -> None:
    httpserver.expect_request("/cb-300").respond_with_data("", status=300)

    with caplog.at_level(logging.INFO, logger="orchestration.dispatch"):
        assert dispatch.call_back(REPORT, httpserver.url_for("/cb-300"), sleep=lambda _: None) is True

    [refused] = [r for r in caplog.records if r.name == "orchestration.dispatch"]
    assert (refused.getMessage(), refused.status) == ("callback refused", 300)


def test_every_failed_try_is_logged_with_its_number_and_the_status_it_got(httpserver: HTTPServer, caplog: Any) -> None:
    httpserver.expect_request("/cb-down").respond_with_data("", status=503)

    with caplog.at_level(logging.INFO, logger="orchestration.dispatch"):
        assert dispatch.call_back(REPORT, httpserver.url_for("/cb-down"), sleep=lambda _: None) is False

    records = _retry_records(caplog)
    assert [r.getMessage() for r in records] == ["callback failed"] * dispatch.CALLBACK_ATTEMPTS
    assert [(r.action, r.task_id, r.outcome) for r in records] == [("callback_retry", 77, "503")] * 6
    assert [r.__dict__["try"] for r in records] == [1, 2, 3, 4, 5, 6]


def test_a_try_that_cannot_connect_is_logged_with_the_error_it_met(caplog: Any) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/cb"
    delays: list[float] = []

    with caplog.at_level(logging.INFO, logger="orchestration.dispatch"):
        assert dispatch.call_back(REPORT, url, sleep=delays.append) is False

    records = _retry_records(caplog)
    assert [(r.getMessage(), r.action, r.task_id) for r in records] == [("callback failed", "callback_retry", 77)] * 6
    assert {r.outcome for r in records} == {"ConnectionError"}
    assert [r.__dict__["try"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
