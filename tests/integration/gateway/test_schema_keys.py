"""/api/schema/ is public: a crafted `?lang=` or `?version=` must neither cost a build nor stay in memory.

Each distinct value used to build a new schema (about a second of CPU) and keep it forever.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from gateway.views import schema as schema_view
from gateway.views.schema import forget_schemas

pytestmark = pytest.mark.django_db
OPENAPI = {"HTTP_ACCEPT": "application/vnd.oai.openapi+json"}


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    forget_schemas()
    built: list[int] = []
    original = SchemaGenerator.get_schema

    def counting(self: SchemaGenerator, *args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counting)
    yield built
    forget_schemas()


@pytest.mark.parametrize("query", [f"lang=x{n}" for n in range(3)] + [f"version=v{n}" for n in range(3)])
def test_an_unsupported_lang_or_version_is_refused_with_400_and_builds_nothing(builds: list[int], query: str) -> None:
    response = Client().get(f"/api/schema/?{query}", **OPENAPI)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert query.split("=")[0] in response.json()["error"]["detail"]
    assert builds == []


def test_twenty_crafted_values_leave_no_schema_behind(builds: list[int]) -> None:
    client = Client()
    for n in range(10):
        client.get(f"/api/schema/?lang=zz{n}", **OPENAPI)
        client.get(f"/api/schema/?version={n}00", **OPENAPI)

    assert builds == []
    assert len(schema_view._schemas) == 0


def test_the_supported_languages_and_version_are_served_and_each_built_once(builds: list[int]) -> None:
    client = Client()
    queries = ["", "?lang=en", "?lang=fr", "?version=1", "?lang=fr&version=1"]
    statuses = [client.get(f"/api/schema/{q}", **OPENAPI).status_code for q in queries * 2]

    assert statuses == [200] * 10
    assert 1 <= len(builds) <= 4  # (default or en), fr, and with version=1 each; never per request


def test_the_cache_is_bounded_whatever_the_keys(builds: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema_view, "SCHEMA_CACHE_SIZE", 2)
    client = Client()
    for q in ["?lang=en", "?lang=fr", "?lang=en&version=1", "?lang=fr&version=1"]:
        assert client.get(f"/api/schema/{q}", **OPENAPI).status_code == 200

    assert len(schema_view._schemas) == 2
