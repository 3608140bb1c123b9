"""One paid order, end to end, in inline mode with the real agents and the offline providers.

The artefacts are checked from the outside: the published pages as a visitor fetches them, colour
contrast recomputed here from the WCAG formula, the ads read back from the CSV Google Ads Editor would
import, and the two emails as the customer receives them.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import html5lib
import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.files.storage import FileSystemStorage, default_storage

from agents.models import StoredFile
from agents.storage import DatabaseStorage
from orders.models import ProjectStatus
from tests.support.briefs import load_briefs
from tests.support.orders import drive, place_order, run_order, step_outputs, step_tasks

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
BRIEFS = load_briefs()[:3]
IDS = ["bakery-lyon-fr", "plumber-leeds-en", "law-bordeaux-fr"]
# What each language's emails must say (subjects from the brief's language, bodies greeting in it).
MAIL_WORDS = {
    "fr": {"payment_received": ("Paiement reçu", "Bonjour"), "site_live": ("est en ligne", "Bonjour")},
    "en": {"payment_received": ("Payment received", "Hello"), "site_live": ("is live", "Hello")},
}


@pytest.fixture(autouse=True)
def media_in_tmp(settings: Any, tmp_path: Path) -> Path:
    """Sites are written under this test's tmp dir, never into the checkout's var/media."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.DEPLOY_PROVIDER = "local"
    settings.LLM_BASE_URL = ""
    # WhiteNoise warns about a missing STATIC_ROOT; these tests fetch no static files.
    settings.STATIC_ROOT = str(tmp_path / "static")
    (tmp_path / "static").mkdir()
    return tmp_path / "media"


@pytest.fixture(params=BRIEFS, ids=IDS)
def order(request: pytest.FixtureRequest) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    brief = request.param
    project = run_order(brief)
    assert project.status == ProjectStatus.DELIVERED, step_tasks(project)
    return brief, project, step_outputs(project)


# -- independent checks ------------------------------------------------------------------------


def wcag_contrast(foreground: str, background: str) -> float:
    """WCAG 2.2 contrast ratio, written out here rather than taken from agents.design."""

    def luminance(hex_colour: str) -> float:
        assert re.fullmatch(r"#[0-9a-fA-F]{6}", hex_colour), hex_colour
        channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def site_path(project: Any, path: str = "") -> str:
    return f"/sites/{project.slug}/{path}"


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def cells(row: dict[str, str], prefix: str, count: int) -> list[str]:
    return [row[f"{prefix} {n}"] for n in range(1, count + 1) if row.get(f"{prefix} {n}")]


# -- the order's artefacts ---------------------------------------------------------------------


def test_every_published_page_exists_and_parses_as_strict_html5(client, order):
    brief, project, outputs = order
    files = outputs["build"]["files"]
    pages = [path for path in files if path.endswith(".html")]
    # One page per page the brief asked for, plus the legal notice and the privacy page.
    assert len(pages) == len(brief["pages"]) + 2, "one page per page the brief asked for, plus the two legal pages"
    assert {"index.html", "sitemap.xml", "robots.txt", "assets/site.css", "assets/logo.svg"} <= set(files)
    assert project.site_url == f"http://127.0.0.1:8000/sites/{project.slug}/"
    for path in files:
        response = client.get(site_path(project, path))
        assert response.status_code == 200, path
    for path in pages:
        response = client.get(site_path(project, path))
        assert response["Content-Type"] == "text/html; charset=utf-8", path
        html = response.content.decode("utf-8")
        parser = html5lib.HTMLParser(strict=True)
        parser.parse(html)  # strict: raises ParseError at the first error
        assert parser.errors == [], (path, parser.errors)
        assert f'<html lang="{brief["language"]}"' in html, path
    home = client.get(site_path(project))
    assert home.status_code == 200 and home.content == client.get(site_path(project, "index.html")).content


def test_every_text_and_background_pair_of_the_design_meets_wcag_aa(order):
    _brief, _project, outputs = order
    design = outputs["design"]["design"]
    pairs = design["contrast_pairs"]
    palette = design["palette"]
    # Every pair names colours of the palette the stylesheet was rendered from.
    assert {p["foreground"] for p in pairs} | {p["background"] for p in pairs} <= set(palette.values())
    # The stylesheet's own pairs (templates/sites/site.css): body, cards, buttons, badges, footer.
    used = {
        (palette["text"], palette["background"]),
        (palette["muted"], palette["surface"]),
        (palette["on_primary"], palette["primary"]),
        (palette["on_accent"], palette["accent"]),
        (palette["background"], palette["text"]),
    }
    assert used <= {(p["foreground"], p["background"]) for p in pairs}
    for pair in pairs:
        ratio = wcag_contrast(pair["foreground"], pair["background"])
        assert ratio >= 4.5, pair
        assert pair["ratio"] <= ratio + 1e-9, f"the design claims more contrast than there is: {pair}"


def test_the_ads_in_the_editor_csv_respect_every_google_ads_limit(order):
    brief, project, outputs = order
    rows = csv_rows(outputs["campaign"]["csv"])
    ads = [row for row in rows if row["Ad type"] == "Responsive search ad"]
    keywords = [row for row in rows if row["Ad Group"] and row["Keyword"]]
    assert ads and keywords
    for row in ads:
        headlines = cells(row, "Headline", 15)
        descriptions = cells(row, "Description", 4)
        where = f"{row['Ad Group']}: {headlines}"
        assert 3 <= len(headlines) <= 15, where
        assert 2 <= len(descriptions) <= 4, where
        assert all(len(h) <= 30 for h in headlines), [h for h in headlines if len(h) > 30]
        assert all(len(d) <= 90 for d in descriptions), [d for d in descriptions if len(d) > 90]
        assert len({h.casefold() for h in headlines}) == len(headlines), f"duplicate headlines in {where}"
        assert len({d.casefold() for d in descriptions}) == len(descriptions), f"duplicate descriptions in {where}"
        assert len(row["Path 1"]) <= 15 and len(row["Path 2"]) <= 15
        # Ads land on the site that went live, not on some other address.
        assert row["Final URL"].startswith(project.site_url), row["Final URL"]
    assert all(len(row["Keyword"]) <= 80 and len(row["Keyword"].split()) <= 10 for row in keywords)
    assert [row["Location"] for row in rows if row["Location"]] == [brief["city"]]
    assert rows[0]["Networks"] == "Google Search" and rows[0]["Status"] == "Paused"


def test_both_emails_were_sent_in_the_brief_language_with_the_right_links(client, order):
    brief, project, outputs = order
    language = brief["language"]
    status_url = f"http://127.0.0.1:8000/status/{project.status_token}/"
    assert [m.to for m in mail.outbox] == [[brief["contact_email"]]] * 2
    paid, live = mail.outbox
    for message, kind in ((paid, "payment_received"), (live, "site_live")):
        subject_words, greeting = MAIL_WORDS[language][kind]
        assert subject_words in message.subject and brief["business_name"] in message.subject, message.subject
        assert message.body.startswith(greeting), message.body[:40]
        html, mimetype = message.alternatives[0]
        assert mimetype == "text/html" and f'<html lang="{language}">' in html
    assert status_url in paid.body and f'href="{status_url}"' in paid.alternatives[0][0]
    assert project.site_url in live.body and f'href="{project.site_url}"' in live.alternatives[0][0]
    assert outputs["campaign"]["summary"] in live.body
    # The links work: the status page answers, the site URL is the published home page.
    assert client.get(urlsplit(status_url).path).status_code == 200
    assert client.get(urlsplit(project.site_url).path).status_code == 200


def test_an_order_on_database_storage_keeps_every_file_in_the_database(client, settings, media_in_tmp):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "agents.storage.DatabaseStorage"}}
    project = run_order(BRIEFS[1])
    assert project.status == ProjectStatus.DELIVERED
    assert isinstance(default_storage._wrapped, DatabaseStorage)
    assert not media_in_tmp.exists(), "nothing may reach the (ephemeral) disk"
    build = step_outputs(project)["build"]
    stored = set(StoredFile.objects.values_list("name", flat=True))
    assert {f"sites/{project.slug}/{path}" for path in build["files"]} <= stored
    assert {f"{build['root']}/{path}" for path in build["files"]} <= stored
    for path in build["files"]:
        response = client.get(site_path(project, path))
        assert response.status_code == 200, path
        if path.endswith(".html"):
            html5lib.HTMLParser(strict=True).parse(response.content.decode("utf-8"))


def test_the_laptop_default_storage_is_the_file_system(media_in_tmp):
    assert django_settings.STORAGES["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    project = run_order(BRIEFS[0])
    assert isinstance(default_storage._wrapped, FileSystemStorage)
    assert (media_in_tmp / "sites" / project.slug / "index.html").is_file()
    assert not StoredFile.objects.exists()


# -- the customer's status page ----------------------------------------------------------------


def test_an_unknown_status_token_is_a_404_for_the_page_and_its_feed(client):
    assert client.get("/status/not-a-real-token/").status_code == 404
    assert client.get("/status/not-a-real-token/feed.json").status_code == 404


def test_the_feed_shows_each_step_with_its_status_and_the_progress(client):
    project = place_order(BRIEFS[1])
    feed = client.get(f"/status/{project.status_token}/feed.json")
    assert feed.status_code == 200 and feed["Cache-Control"] == "no-store"
    body = feed.json()
    assert body["progress"] == {"done": 0, "total": 6}
    assert [(s["name"], s["status"]) for s in body["steps"]] == [
        ("setup", "queued"),
        ("design", "waiting"),
        ("build", "waiting"),
        ("campaign", "waiting"),
        ("deploy", "waiting"),
        ("notify", "waiting"),
    ]
    assert body["steps"][0]["state_label"] == "Up next"
    assert body["site_url"] is None and body["slo_seconds"] == 25 * 60

    drive(project)
    body = client.get(f"/status/{project.status_token}/feed.json").json()
    assert body["status"] == "delivered"
    assert body["progress"] == {"done": 6, "total": 6}
    assert {s["status"] for s in body["steps"]} == {"succeeded"}
    assert {s["state_label"] for s in body["steps"]} == {"Done"}
    assert body["steps"][1]["progress"] == {"done": 5, "total": 5}, "design reports its pages"
    assert body["site_url"] == project.site_url


def test_the_page_lists_every_step_with_its_state_and_the_elapsed_time_against_25_minutes(client, clock):
    project = place_order(BRIEFS[0])
    clock.advance(4 * 60 + 7)
    html = client.get(f"/status/{project.status_token}/").content.decode()
    steps = re.findall(
        r'<li data-step="(\w+)" data-status="(\w+)">.*?<span class="label">([^<]+)</span>'
        r'<span class="state">([^<]+)</span></li>',
        html,
    )
    assert [(name, status, state) for name, status, _label, state in steps] == [
        ("setup", "queued", "À venir"),
        ("design", "waiting", "À venir"),
        ("build", "waiting", "À venir"),
        ("campaign", "waiting", "À venir"),
        ("deploy", "waiting", "À venir"),
        ("notify", "waiting", "À venir"),
    ]
    assert steps[0][2] == "Paiement reçu, brief vérifié"
    assert '<span id="elapsed">4 min 07 s</span> / 25 min' in html
    assert '<span id="done">0/6</span>' in html
    # An icon in the page itself: no /favicon.ico request, no 404 in the customer's console.
    assert '<link rel="icon" href="data:,">' in html
    assert '<html lang="fr">' in html and 'name="viewport"' in html


# -- from a fresh process ------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_in_a_fresh_process_delivers_an_order_whose_site_files_exist(tmp_path: Path):
    """No test runner, no tests.actions: the agents must register themselves in a plain `manage.py` process."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PYTEST", "ENGINE_", "DEFAULT_FILE_STORAGE", "SITE_URL", "DEPLOY_", "LLM_"))
    }
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "DEBUG": "1",
            "PYTHONPATH": str(ROOT),
        }
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    migrate = subprocess.run([*manage, "migrate", "--noinput"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    demo = subprocess.run(
        [*manage, "demo", "--orders", "1", "--timeout", "120"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert demo.returncode == 0, (demo.stdout[-2000:], demo.stderr[-3000:])
    assert ": delivered" in demo.stdout
    match = re.search(r"site:\s+(http://\S+/sites/([a-z0-9-]+)/)", demo.stdout)
    assert match, demo.stdout[-2000:]
    site = tmp_path / "media" / "sites" / match.group(2)
    for name in ("index.html", "sitemap.xml", "robots.txt", "assets/site.css", "assets/logo.svg"):
        assert (site / name).is_file(), name
    assert len(list(site.glob("*.html"))) == 6  # Accueil, Nos pains, Pâtisseries, Contact + the two legal pages
    assert re.search(r"status: http://\S+/status/[\w-]+/", demo.stdout)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_gives_every_process_a_site_url_on_the_chosen_port():
    dry = subprocess.run(["make", "-n", "run", "PORT=8123"], cwd=ROOT, capture_output=True, text=True, check=True)
    commands = [line for line in dry.stdout.splitlines() if "manage.py" in line and "migrate" not in line]
    assert len(commands) == 3, dry.stdout
    for line in commands:
        assert "SITE_URL=http://127.0.0.1:8123 " in line, line
