"""An in-memory Stripe API on pytest-httpserver, strict about every request the product sends.

Serves what orders/checkout.py and orders/refunds.py call through the official library:
POST /v1/checkout/sessions, GET /v1/checkout/sessions/<id>, POST /v1/refunds, and a hosted
Checkout page (GET /pay/<session id>) for the browser test. Like Stripe, a request with an
Idempotency-Key seen before gets the first answer back (and the same key with other parameters
is a 400). Faults: ``stall_next`` makes the next call of a path answer after the client's timeout.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

API_KEY = "sk_test_fake_0123456789abcdef"
SESSION_REQUIRED = {
    "mode",
    "line_items[0][quantity]",
    "line_items[0][price_data][currency]",
    "line_items[0][price_data][unit_amount]",
    "line_items[0][price_data][product_data][name]",
    "client_reference_id",
    "customer_email",
    "locale",
    "success_url",
    "cancel_url",
}
LOCALES = {"auto", "fr", "en"}


class ShapeError(AssertionError):
    """A request the real Stripe would refuse: the test fails with it."""


@dataclass
class FakeStripe:
    httpserver: HTTPServer
    api_key: str = API_KEY
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)  # every request, parsed
    errors: list[str] = field(default_factory=list)  # shape errors (also answered as 400)
    stall: dict[str, float] = field(default_factory=dict)  # path prefix -> seconds to sleep, once
    _idempotent: dict[str, tuple[dict[str, str], int, dict[str, Any]]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.httpserver.url_for("").rstrip("/")

    def stall_next(self, path: str, seconds: float) -> None:
        self.stall[path] = seconds

    def calls(self, method: str, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and r["path"].startswith(path)]

    # --- the server -----------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        params = dict(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
        record = {
            "method": request.method,
            "path": request.path,
            "params": params,
            "headers": {k.lower(): v for k, v in request.headers.items()},
        }
        self.requests.append(record)
        for prefix, seconds in list(self.stall.items()):
            if request.path.startswith(prefix):
                del self.stall[prefix]
                time.sleep(seconds)  # the client gives up first; Stripe still does the work
        try:
            self._check_common(request)
        except ShapeError as exc:
            self.errors.append(str(exc))
            return _error(400, str(exc))
        if request.method == "GET" and request.path.startswith("/pay/"):
            return self._checkout_page(request.path.removeprefix("/pay/"))
        key = request.headers.get("Idempotency-Key")
        if request.method == "POST" and key:
            if not key.strip() or len(key) > 255:
                return self._refuse(f"Idempotency-Key {key!r} is not a valid key")
            if key in self._idempotent:
                first_params, status, body = self._idempotent[key]
                if first_params != params:
                    return _error(
                        400, f"Keys for idempotent requests can only be used with the same parameters ({key})"
                    )
                return _json(status, body)
        try:
            status, body = self._route(request, params)
        except ShapeError as exc:
            self.errors.append(str(exc))
            return _error(400, str(exc))
        if request.method == "POST" and key:
            self._idempotent[key] = (params, status, body)
        return _json(status, body)

    def _check_common(self, request: Request) -> None:
        if request.path.startswith("/pay/"):
            return
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            raise ShapeError(f"bad Authorization header {request.headers.get('Authorization')!r}")
        if not request.headers.get("Stripe-Version"):
            raise ShapeError("no Stripe-Version header")
        if request.method == "POST":
            if not request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                raise ShapeError(f"POST body must be form-encoded, got {request.headers.get('Content-Type')!r}")
            if not request.headers.get("Idempotency-Key"):
                raise ShapeError(f"POST {request.path} without an Idempotency-Key")

    def _refuse(self, message: str) -> Response:
        self.errors.append(message)
        return _error(400, message)

    def _route(self, request: Request, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if request.method == "POST" and request.path == "/v1/checkout/sessions":
            return self._create_session(params)
        match = re.fullmatch(r"/v1/checkout/sessions/([\w]+)", request.path)
        if request.method == "GET" and match:
            session = self.sessions.get(match.group(1))
            return (200, session) if session else (404, _error_body(f"No such checkout.session: {match.group(1)}"))
        if request.method == "POST" and request.path == "/v1/refunds":
            return self._create_refund(params)
        raise ShapeError(f"unexpected {request.method} {request.path}")

    def _create_session(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        missing = sorted(SESSION_REQUIRED - set(params))
        if missing:
            raise ShapeError(f"checkout session without {missing}")
        if params["mode"] != "payment":
            raise ShapeError(f"mode must be payment, got {params['mode']!r}")
        if params["locale"] not in LOCALES:
            raise ShapeError(f"locale {params['locale']!r}")
        if not params["line_items[0][price_data][unit_amount]"].isdigit():
            raise ShapeError("unit_amount must be an integer number of cents")
        for key in ("success_url", "cancel_url"):
            if not params[key].startswith(("http://", "https://")):
                raise ShapeError(f"{key} must be an absolute URL, got {params[key]!r}")
        if "@" not in params["customer_email"]:
            raise ShapeError(f"customer_email {params['customer_email']!r}")
        number = next(self._ids)
        session_id = f"cs_test_fake{number:04d}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "client_reference_id": params["client_reference_id"],
            "customer_email": params["customer_email"],
            "locale": params["locale"],
            "currency": params["line_items[0][price_data][currency]"],
            "amount_total": int(params["line_items[0][price_data][unit_amount]"])
            * int(params["line_items[0][quantity]"]),
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "payment_intent": f"pi_test_fake{number:04d}",
            "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")},
            "url": f"{self.url}/pay/{session_id}",
        }
        self.sessions[session_id] = session
        return 200, session

    def _create_refund(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intent = params.get("payment_intent", "")
        if not intent.startswith("pi_"):
            raise ShapeError(f"refund without a payment_intent (got {intent!r})")
        if any(r["payment_intent"] == intent for r in self.refunds.values()):
            return 400, _error_body("Charge has already been refunded.", code="charge_already_refunded")
        session = next((s for s in self.sessions.values() if s["payment_intent"] == intent), None)
        refund_id = f"re_test_fake{next(self._ids):04d}"
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": session["amount_total"] if session else 39900,
            "currency": session["currency"] if session else "eur",
            "payment_intent": intent,
            "status": "succeeded",
            "reason": params.get("reason"),
            "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")},
        }
        self.refunds[refund_id] = refund
        return 200, refund

    def _checkout_page(self, session_id: str) -> Response:
        """Stripe's hosted page, reduced to what a test needs: the amount and a Pay link back to success_url."""
        session = self.sessions.get(session_id)
        if session is None:
            return Response("no such session", status=404)
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        html = (
            f'<!doctype html><html lang="{session["locale"]}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
            '<title>Fake Checkout</title></head><body style="font:16px system-ui;max-width:30rem;margin:2rem auto;'
            f'padding:0 1rem"><h1>Fake Stripe Checkout</h1><p id="amount">{amount}</p>'
            f'<p id="email">{session["customer_email"]}</p>'
            f'<p><a id="pay" href="{session["success_url"]}">Pay</a> · <a id="cancel" href="{session["cancel_url"]}">'
            "Back</a></p></body></html>"
        )
        return Response(html, content_type="text/html; charset=utf-8")

    # --- what Stripe would send to the webhook --------------------------------------------

    def completed_event(self, session_id: str, *, event_id: str | None = None) -> dict[str, Any]:
        session = {**self.sessions[session_id], "status": "complete", "payment_status": "paid"}
        self.sessions[session_id] = session
        return _event(event_id or f"evt_completed_{session_id}", "checkout.session.completed", session)

    def expired_event(self, session_id: str) -> dict[str, Any]:
        session = {**self.sessions[session_id], "status": "expired"}
        return _event(f"evt_expired_{session_id}", "checkout.session.expired", session)

    def charge_refunded_event(self, payment_intent: str) -> dict[str, Any]:
        refund = next((r for r in self.refunds.values() if r["payment_intent"] == payment_intent), None)
        charge = {
            "id": f"ch_{payment_intent[3:]}",
            "object": "charge",
            "amount": 39900,
            "amount_refunded": 39900,
            "currency": "eur",
            "payment_intent": payment_intent,
            "refunded": True,
            "metadata": {},
            "refunds": {"object": "list", "data": [refund] if refund else []},
        }
        return _event(f"evt_refunded_{payment_intent}", "charge.refunded", charge)


def _event(event_id: str, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": type_,
        "data": {"object": obj},
    }


def _error_body(message: str, code: str = "parameter_invalid") -> dict[str, Any]:
    return {"error": {"type": "invalid_request_error", "code": code, "message": message}}


def _error(status: int, message: str) -> Response:
    return _json(status, _error_body(message))


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")
