"""Issue 14, "nobody floods us": rate limits keyed on an address the client cannot choose, the
schema built once per process, directories of published sites are 404s, and no request makes the
server email staff (error mails come from the rollup cron, once per error group and window)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.throttling import SimpleRateThrottle

from gateway.views.schema import forget_schemas
from metrics.models import ErrorGroup
from metrics.rollups import rollup
from orders.models import Project
from tests.conftest import FakeClock

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_rate_of_five() -> Iterator[None]:
    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = {**original, "customer": "5/min"}
    yield
    SimpleRateThrottle.THROTTLE_RATES = original


def _feed_statuses(project: Project, headers: list[dict[str, str]]) -> list[int]:
    client = Client()
    return [client.get(f"/status/{project.status_token}/feed.json", **h).status_code for h in headers]


def test_rotating_x_forwarded_for_does_not_dodge_the_limit(project: Project, customer_rate_of_five: None) -> None:
    statuses = _feed_statuses(project, [{"HTTP_X_FORWARDED_FOR": f"203.0.113.{n}"} for n in range(10)])

    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429] * 5


def test_behind_one_trusted_proxy_the_client_is_the_hop_that_proxy_appended(
    project: Project, customer_rate_of_five: None, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    # The proxy appends what it saw (198.51.100.7); the client wrote everything to its left.
    forged = [{"HTTP_X_FORWARDED_FOR": f"10.0.0.{n}, 198.51.100.7"} for n in range(8)]
    others = [{"HTTP_X_FORWARDED_FOR": f"198.51.100.{n}"} for n in range(100, 103)]

    assert _feed_statuses(project, forged) == [200] * 5 + [429] * 3
    assert _feed_statuses(project, others) == [200] * 3  # other clients have their own budget


def test_on_vercel_the_platform_header_names_the_client(
    project: Project, customer_rate_of_five: None, settings: Any
) -> None:
    settings.CLIENT_IP_HEADER = "X-Vercel-Forwarded-For"
    rotating = [
        {"HTTP_X_FORWARDED_FOR": f"203.0.113.{n}", "HTTP_X_VERCEL_FORWARDED_FOR": "192.0.2.10"} for n in range(7)
    ]

    assert _feed_statuses(project, rotating) == [200] * 5 + [429] * 2


def test_the_schema_is_built_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    forget_schemas()
    built: list[int] = []
    original = SchemaGenerator.get_schema

    def counting(self: SchemaGenerator, *args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counting)
    client = Client()
    bodies = [client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json") for _ in range(5)]

    assert [b.status_code for b in bodies] == [200] * 5
    assert len({b.content for b in bodies}) == 1
    assert b"/api/projects/" in bodies[0].content
    assert len(built) == 1


@pytest.fixture
def published(settings: Any, tmp_path: Path) -> str:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    default_storage.save("sites/demo-site/index.html", ContentFile(b"<!doctype html><title>Demo</title>"))
    default_storage.save("sites/demo-site/assets/site.css", ContentFile(b"body{}"))
    default_storage.save("sites/other-site/index.html", ContentFile(b"<!doctype html><title>Other</title>"))
    return "demo-site"


@pytest.mark.parametrize("path", ["assets", "assets/", "..", "../", "./", "assets/..", "../other-site/", "assets/."])
def test_a_directory_or_a_dot_segment_of_a_published_site_is_a_404(published: str, path: str) -> None:
    client = Client(raise_request_exception=False)

    response = client.get(f"/sites/{published}/{path}")

    assert response.status_code == 404, (path, response.status_code)
    assert mail.outbox == []


def test_the_files_of_a_published_site_are_still_served(published: str) -> None:
    client = Client()

    assert client.get(f"/sites/{published}/").status_code == 200
    assert client.get(f"/sites/{published}/assets/site.css").content == b"body{}"


def test_a_hundred_failing_requests_send_no_mail_and_the_rollup_sends_one(
    published: str, settings: Any, clock: FakeClock, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ROOT_URLCONF = "tests.support.urls"  # the real URLconf plus a view that crashes
    client = Client(raise_request_exception=False)

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(100):
            assert client.get("/crashes/").status_code == 500
            assert client.get("/", HTTP_HOST="attacker.example").status_code == 400  # DisallowedHost
            assert client.get(f"/sites/{published}/assets").status_code == 404
    assert mail.outbox == []  # nothing was sent from inside a request, nor after it

    with django_capture_on_commit_callbacks(execute=True):
        rollup(now=clock.now())
    with django_capture_on_commit_callbacks(execute=True):
        rollup(now=clock.now() + timedelta(seconds=1))

    assert len(mail.outbox) == 1
    (message,) = mail.outbox
    assert "ZeroDivisionError" in message.body and "DisallowedHost" not in message.body
    assert ErrorGroup.objects.get(error_type="ZeroDivisionError").count == 100


def test_an_error_group_is_mailed_again_only_in_a_later_window(
    settings: Any, clock: FakeClock, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ROOT_URLCONF = "tests.support.urls"
    settings.METRICS_ERROR_MAIL_WINDOW_SECONDS = 3600
    client = Client(raise_request_exception=False)

    def roll() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            rollup(now=clock.now())

    client.get("/crashes/")
    roll()
    clock.advance(600)
    client.get("/crashes/")
    roll()  # same group, inside its window: waits
    assert len(mail.outbox) == 1

    clock.advance(3600)
    roll()  # the window has passed: the occurrence of 10 minutes in is mailed now
    roll()
    assert len(mail.outbox) == 2
