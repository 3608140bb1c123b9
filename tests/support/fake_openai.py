"""A fake OpenAI chat-completions endpoint on pytest-httpserver that checks request shapes.

Answers a PageCopy JSON in ``choices[0].message.content``. Scripted replies are queued with
``script(...)``: "malformed", "wrong_shape", "too_long" (a title past its limit), "rate_limited",
"unauthorized", "refusal", "server_error" (500), "bad_gateway" (502), "slow" (answers after
``slow_seconds``), "ok". The server answers one request at a time, so a test that makes it slow
waits with ``wait_answered`` before the next test uses it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

SAMPLE_COPY: dict[str, Any] = {
    "slug": "index",
    "title": "Boulangerie Martin, pain au levain à Lyon",
    "nav_label": "Accueil",
    "meta_description": "Boulangerie artisanale à Lyon 4e : pains au levain, viennoiseries pur beurre et gâteaux.",
    "hero": {
        "heading": "Le pain au levain de la Croix-Rousse",
        "subheading": "Cuit chaque matin dès 6 h, rue d'Austerlitz.",
        "cta_label": "Voir nos pains",
    },
    "sections": [
        {"heading": "Nos pains", "body": "Levain naturel, farines de meuniers de l'Ain, fermentation longue."},
        {"heading": "Commandes", "body": "Pour vos événements, commandez 48 h à l'avance par e-mail."},
    ],
}


@dataclass
class FakeOpenAI:
    httpserver: HTTPServer
    api_key: str = "sk-test-secret-key-0123456789"
    model: str = "gpt-4o-mini"
    copy: dict[str, Any] = field(default_factory=lambda: json.loads(json.dumps(SAMPLE_COPY)))
    replies: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    idempotency_keys: list[str | None] = field(default_factory=list)
    retry_after: str = "2"
    slow_seconds: float = 0.5
    answered: int = 0  # requests the handler has finished with, slow ones included
    _answered_changed: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self._handle)

    @property
    def base_url(self) -> str:
        return self.httpserver.url_for("/v1")

    def script(self, *replies: str) -> None:
        self.replies.extend(replies)

    def wait_answered(self, count: int, timeout: float = 10.0) -> None:
        """Block until the handler has finished `count` requests (slow answers outlive the client's wait)."""
        with self._answered_changed:
            if not self._answered_changed.wait_for(lambda: self.answered >= count, timeout=timeout):
                raise AssertionError(f"the fake answered {self.answered} of {count} requests in {timeout} s")

    def _handle(self, request: Request) -> Response:
        try:
            return self._answer(request)
        finally:
            with self._answered_changed:
                self.answered += 1
                self._answered_changed.notify_all()

    def _answer(self, request: Request) -> Response:
        self.idempotency_keys.append(request.headers.get("Idempotency-Key"))
        reply = self.replies.pop(0) if self.replies else "ok"
        if reply == "slow":
            time.sleep(self.slow_seconds)  # past the client's timeout: it gives up before this answer
        if reply == "server_error":
            return _error(500, "server_error", "The server had an error while processing your request.")
        if reply == "bad_gateway":
            return _error(502, "bad_gateway", "Bad gateway.")
        if reply == "unauthorized" or request.headers.get("Authorization") != f"Bearer {self.api_key}":
            # Like OpenAI, the message echoes the key it was given: clients must not repeat it.
            given = request.headers.get("Authorization", "").removeprefix("Bearer ")
            return _error(401, "invalid_api_key", f"Incorrect API key provided: {given}.")
        if reply == "rate_limited":
            return _error(429, "rate_limit_exceeded", "Rate limit reached", {"Retry-After": self.retry_after})
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return _error(400, "invalid_json", "We could not parse the JSON body of your request.")
        problem = _request_problem(body, self.model)
        if problem:
            return _error(400, "invalid_request_error", problem)
        self.requests.append(body)
        message: dict[str, Any] = {"role": "assistant", "content": json.dumps(self.copy), "refusal": None}
        if reply == "malformed":
            message["content"] = '{"slug": "accueil", "title": "Boulangerie'
        elif reply == "wrong_shape":
            message["content"] = json.dumps({**self.copy, "sections": [{"heading": "Seule"}]})
        elif reply == "too_long":
            message["content"] = json.dumps({**self.copy, "title": "Boulangerie " * 11})
        elif reply == "refusal":
            message.update(content=None, refusal="I can't help with that.")
        return Response(
            json.dumps(
                {
                    "id": f"chatcmpl-{len(self.requests)}",
                    "object": "chat.completion",
                    "model": self.model,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 200, "completion_tokens": 150, "total_tokens": 350},
                }
            ),
            content_type="application/json",
        )


def _request_problem(body: Any, model: str) -> str | None:
    if not isinstance(body, dict):
        return "body must be an object"
    if body.get("model") != model:
        return f"model must be {model!r}"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty array"
    for message in messages:
        if message.get("role") not in ("system", "user", "assistant") or not isinstance(message.get("content"), str):
            return "each message needs a role and string content"
    if not isinstance(body.get("temperature", 1), int | float):
        return "temperature must be a number"
    response_format = body.get("response_format") or {}
    schema = response_format.get("json_schema") or {}
    if response_format.get("type") != "json_schema":
        return "response_format.type must be json_schema"
    if not schema.get("name") or schema.get("strict") is not True or schema.get("schema", {}).get("type") != "object":
        return "json_schema needs a name, strict: true and an object schema"
    return None


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": code}}),
        status=status,
        content_type="application/json",
        headers=headers or {},
    )
