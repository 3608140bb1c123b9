"""A headless Chromium for browser tests (Debian's package; Playwright drives it).

One browser for every test of this package (tests/acceptance/browser/), a fresh context per test;
put browser tests here to share it. Package-scoped rather than session-scoped on purpose:
while Playwright's sync API is open, its event loop counts as running in this thread, so
Django refuses ORM calls there (unless DJANGO_ALLOW_ASYNC_UNSAFE) and a second
`sync_playwright()` anywhere fails; closing it after this package leaves the rest of the
suite untouched. Skipped with a reason when /usr/bin/chromium or Playwright is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium package (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
    # Playwright's sync API runs an event loop in this thread; Django's ORM then refuses to
    # run here unless told that this test process knows what it is doing.
    # Only while the browser is open: a leaked variable would reach subprocesses (check --deploy).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(autouse=True)
def plain_static_files(settings: Any, tmp_path_factory: Any) -> None:
    """Admin pages without collectstatic: production's manifest storage needs its manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # WhiteNoise warns about a missing STATIC_ROOT; the finders serve the files in tests.
    settings.STATIC_ROOT = str(tmp_path_factory.mktemp("static"))
