"""Issue 14, "slugs for every script": a business name in any script gets a readable slug, and a
slug can never make an order fail (the 51st order named in Cyrillic used to fail for good)."""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

import pytest
from django.test import Client

from agents.actions.core_platform import fix_slug
from orders.brief import slugify_text
from orders.models import Project, ProjectStatus
from orders.services import project_create
from tests.support.orders import run_order

pytestmark = pytest.mark.django_db

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

# A dozen scripts, a few names each; the same names over and over, as a thousand real orders would be.
NAMES_BY_SCRIPT: dict[str, tuple[tuple[str, str], ...]] = {
    "latin": (("Boulangerie Martin", "Lyon"), ("Café Œuvre", "")),
    "cyrillic": (("Пекарня Иван", "Москва"), ("Кафе Уют", "")),
    "greek": (("Αρτοποιείο Νίκος", "Αθήνα"), ("Ταβέρνα", "")),
    "arabic": (("مخبز الأمل", "دبي"), ("مطعم", "")),
    "hebrew": (("מאפיית לחם", "חיפה"), ("קפה", "")),
    "chinese": (("北京烤鸭店", "北京"), ("茶馆", "")),
    "japanese": (("東京ラーメン", "東京"), ("すし屋", "")),
    "korean": (("서울 빵집", "서울"), ("카페", "")),
    "thai": (("ร้านเบเกอรี่", "กรุงเทพ"), ("ร้านกาแฟ", "")),
    "devanagari": (("दिल्ली बेकरी", "दिल्ली"), ("चाय", "")),
    "armenian": (("Հացատուն", "Երևան"), ("Սրճարան", "")),
    "emoji": (("🍕🍕🍕", ""), ("☕ & 🥐", "")),
}
BRIEF = {"sector": "bakery", "description": "", "language": "en", "contact_email": "owner@example.com"}


def _order(name: str, city: str) -> Project:
    return project_create(business_name=name, city=city, **BRIEF)


def test_sixty_orders_with_one_cyrillic_name_all_get_distinct_readable_slugs() -> None:
    slugs = [fix_slug(_order("Пекарня", "")) for _ in range(60)]

    assert len(set(slugs)) == 60
    assert all(slug.startswith("pekarnya") and SLUG.match(slug) for slug in slugs), slugs
    assert slugs[:3] == ["pekarnya", "pekarnya-2", "pekarnya-3"]


@pytest.mark.parametrize(("script", "names"), list(NAMES_BY_SCRIPT.items()))
def test_a_name_in_any_script_slugs_to_its_transliteration(script: str, names: Any) -> None:
    for name, city in names:
        slug = fix_slug(_order(name, city))
        readable = slugify_text(name)
        assert SLUG.match(slug) and readable and slug.startswith(readable), (script, name, slug)
        assert not slug.startswith("site"), (script, name, slug)


def test_a_thousand_orders_in_a_dozen_scripts_get_distinct_readable_slugs_and_a_sample_is_delivered(
    settings: Any,
) -> None:
    settings.DEPLOY_PROVIDER = "local"
    settings.LLM_BASE_URL = ""
    named = list(itertools.islice(itertools.cycle(n for names in NAMES_BY_SCRIPT.values() for n in names), 1000))
    started = time.monotonic()
    projects = [_order(name, city) for name, city in named]
    slugs = [fix_slug(project) for project in projects]  # the setup step's own allocation, 1,000 times
    elapsed = time.monotonic() - started

    assert len(set(slugs)) == 1000
    for (name, _city), slug in zip(named, slugs, strict=True):
        assert SLUG.match(slug) and len(slug) <= 60, slug
        assert slug.startswith(slugify_text(name)), (name, slug)  # readable: the name, then any suffix
    # Generous (a shared 2-core machine: ~15 s on SQLite, ~65 s on a loaded Postgres): it catches a
    # scheme that retries ever longer chains of taken slugs, not a slow disk.
    assert elapsed < 300, f"creating and slugging 1,000 orders took {elapsed:.1f} s"

    # One paid order per script, each sharing its name with ~40 slugged above, end to end (inline workflow).
    client = Client()
    for name, city in named[:24:2]:
        project = run_order({**BRIEF, "business_name": name, "city": city})
        assert project.status == ProjectStatus.DELIVERED, (name, project.status)
        assert SLUG.match(project.slug) and project.slug.startswith(slugify_text(name)), (name, project.slug)
        page = client.get(f"/sites/{project.slug}/")
        assert page.status_code == 200 and name.split()[0].encode() in page.content, (name, project.slug)
