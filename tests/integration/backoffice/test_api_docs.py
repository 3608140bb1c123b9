"""The API docs a developer reads: every operation has a summary and a description written for
them (never a code docstring), documents every error it can answer with the one error body and
an example, and the token scheme says how to get a key."""

from __future__ import annotations

import inspect
import pkgutil
import re
import uuid
from importlib import import_module
from typing import Any

import pytest
from django.test import Client
from django.urls import resolve

import gateway
import gateway.views
from gateway.docs import GatewayAutoSchema

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
SAMPLE = {"agent": "engine", "name": "echo", "task_id": "1"}


@pytest.fixture(scope="module")
def schema(django_db_setup: Any, django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op) for path, item in schema["paths"].items() for method, op in item.items() if method in METHODS
    ]


def code_docstrings() -> set[str]:
    """Every docstring of the gateway's modules, classes and functions, and of DRF's views."""
    docs: set[str] = set()
    modules = [import_module(f"gateway.{m.name}") for m in pkgutil.iter_modules(gateway.__path__)]
    modules += [import_module(f"gateway.views.{m.name}") for m in pkgutil.iter_modules(gateway.views.__path__)]
    for module in modules:
        for _, obj in inspect.getmembers(module, lambda o: inspect.isclass(o) or inspect.isfunction(o)):
            for candidate in (obj, *(getattr(obj, name, None) for name in METHODS)):
                doc = inspect.getdoc(candidate) if candidate is not None else None
                if doc:
                    docs.add(doc.strip())
        if module.__doc__:
            docs.add(inspect.cleandoc(module.__doc__))
    return docs


def view_of(path: str) -> Any:
    concrete = re.sub(r"\{(\w+)\}", lambda m: SAMPLE.get(m.group(1), str(uuid.uuid4())), path)
    return resolve(concrete).func.cls


def test_no_operation_describes_itself_with_a_code_docstring(schema):
    docstrings = code_docstrings()
    assert any(d.startswith("Mix into every gateway API view") for d in docstrings)  # the one that leaked
    for path, method, op in operations(schema):
        where = f"{method.upper()} {path}"
        description = op.get("description", "").strip()
        assert op.get("summary"), f"{where} has no summary"
        assert len(description) >= 60, f"{where} has no description written for its readers"
        assert description not in docstrings, f"{where} is described by a code docstring"
        assert not any(d in description for d in docstrings if len(d) > 40), f"{where} quotes a docstring"


def error_schema_is_the_one_error_body(response: dict[str, Any]) -> bool:
    content = response.get("content", {}).get("application/json", {})
    return content.get("schema", {}).get("$ref") == "#/components/schemas/Error" and bool(content.get("examples"))


def test_every_operation_documents_the_errors_it_can_answer(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["$ref"] == "#/components/schemas/ErrorDetail"
    assert set(schema["components"]["schemas"]["ErrorDetail"]["properties"]) == {"code", "message", "detail"}
    for path, method, op in operations(schema):
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        view = view_of(path)
        expected = set()
        if "requestBody" in op:
            expected |= {"400", "413"}
        if any(requirement for requirement in op.get("security", [])):
            expected.add("401")
        if "{" in path:
            expected.add("404")
        if getattr(view, "throttle_classes", None):
            expected.add("429")
        missing = expected - set(responses)
        assert not missing, f"{where} does not document {sorted(missing)}"
        errors = [code for code in responses if code.startswith(("4", "5"))]
        assert errors, f"{where} documents no error at all"
        for code in errors:
            assert error_schema_is_the_one_error_body(responses[code]), f"{where} {code}: not the error body"


def test_project_creation_documents_each_refusal_with_an_example(schema):
    op = schema["paths"]["/api/projects/"]["post"]
    assert {"201", "400", "401", "403", "413", "429"} <= set(op["responses"])
    invalid = next(iter(op["responses"]["400"]["content"]["application/json"]["examples"].values()))["value"]
    assert invalid["error"]["code"] == "invalid" and "contact_email" in invalid["error"]["detail"]
    throttled = next(iter(op["responses"]["429"]["content"]["application/json"]["examples"].values()))["value"]
    assert throttled["error"]["detail"] == {"retry_after_seconds": 12}
    request = next(iter(op["requestBody"]["content"]["application/json"]["examples"].values()))["value"]
    assert request["contact_email"].endswith(".example") and request["pages"]


def test_the_token_scheme_says_how_to_get_a_key(schema):
    token = schema["components"]["securitySchemes"]["tokenAuth"]
    assert token["in"] == "header" and token["name"] == "Authorization"
    assert "Token <key>" in token["description"] and "drf_create_token" in token["description"]
    assert "Authentication" in schema["info"]["description"] and "Errors" in schema["info"]["description"]


def test_the_schema_class_never_falls_back_to_a_docstring():
    class Undocumented:
        """An internal note for developers."""

    schema = GatewayAutoSchema()
    schema.view = Undocumented()
    schema.method = "GET"
    assert schema.get_description() == ""
