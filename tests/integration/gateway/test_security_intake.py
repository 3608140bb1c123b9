"""Issue 14, "money taken for orders that can only fail": what the intake API accepts, the setup
step accepts and can give a slug; names and titles lose bidi controls and zero-width characters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from agents.actions.common import brief_data, brief_of
from agents.actions.core_platform import fix_slug
from orders.brief import validate_brief
from orders.models import Project
from tests.integration.gateway.conftest import BRIEF, assert_error

pytestmark = pytest.mark.django_db

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@pytest.fixture
def no_throttling() -> Iterator[None]:
    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = dict.fromkeys(original, "100000/min")
    yield
    SimpleRateThrottle.THROTTLE_RATES = original


def _setup_accepts(project_id: Any) -> str:
    """What the setup step does with a stored brief: validate it again, then fix its slug."""
    project = Project.objects.get(id=project_id)
    assert validate_brief(brief_data(project)) == {}, brief_data(project)
    brief_of(project)  # the agents' own reading of it does not raise either
    return fix_slug(project)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("business_name", "\u0001\u0002"),  # control characters only
        ("business_name", "\ufdd0\ufffe"),  # noncharacters only
        ("business_name", "\u200b\u202e\u2066"),  # zero-width and bidi controls only
        ("pages", ["Home", "Our  Team", "Our Team"]),  # equal once whitespace is collapsed
        ("pages", ["Home", "Menu\u0007", "Menu"]),  # equal once control characters are removed
        ("pages", ["Home", "Menu\u200b", "Menu"]),  # equal once zero-width characters are removed
        ("pages", ["Home", "\u2060\u00ad"]),  # a title of invisible characters only
    ],
)
def test_a_brief_setup_would_reject_is_refused_at_intake(integration_client: APIClient, field: str, value: Any) -> None:
    response = integration_client.post("/api/projects/", {**BRIEF, field: value}, format="json")

    error = assert_error(response, 400, "invalid")
    assert field in error["detail"], error
    assert not Project.objects.exists()


def test_bidi_controls_and_zero_width_characters_are_stripped_from_names_and_titles(
    integration_client: APIClient,
) -> None:
    brief = {
        **BRIEF,
        "business_name": "Boulan\u200bgerie \u202eMartin\u202c",
        "city": "Ly\u2066on\u2069",
        "pages": ["Accueil\ufeff", "Nos\u200d pains", "Contact"],
        "description": "Pain \u202ebio\u202c au levain.",
    }

    response = integration_client.post("/api/projects/", brief, format="json")

    assert response.status_code == 201, response.content
    project = Project.objects.get(id=response.json()["id"])
    assert (project.business_name, project.city) == ("Boulangerie Martin", "Lyon")
    assert project.pages == ["Accueil", "Nos pains", "Contact"]
    assert project.description == "Pain bio au levain."
    assert _setup_accepts(project.id) == "boulangerie-martin-lyon"


# Text as a hostile or careless client writes it: every script, whitespace of all kinds, control
# and format characters, noncharacters, emoji; short enough to reach the validators' limits.
INVISIBLE = list("\u0000\u0001\u0007\t\n\r \u00a0\u00ad\u200b\u200d\u202e\u2066\u2069\ufeff\ufdd0\ufffe")
HOSTILE = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(INVISIBLE),
        st.sampled_from(list("Пекарня東京ラーメンمخبزמאפייהร้าน🍕Ωé-&'")),
    ),
    max_size=70,
)
# Names that are nothing but invisible characters, and titles that differ only by them: the
# briefs setup used to reject after payment. Drawn often, so the property finds them.
NOTHING = st.text(alphabet=st.sampled_from(INVISIBLE), min_size=1, max_size=6)
TITLE = st.one_of(HOSTILE, st.builds(lambda word, noise: word + noise, st.sampled_from(["Menu", "Our Team"]), NOTHING))
BRIEFS = st.fixed_dictionaries(
    {"business_name": st.one_of(HOSTILE, NOTHING), "contact_email": st.just("owner@example.com")},
    optional={
        "city": HOSTILE,
        "sector": HOSTILE,
        "description": HOSTILE,
        "pages": st.lists(TITLE, min_size=1, max_size=6),
        "language": st.sampled_from(["fr", "en"]),
        "brand_color": st.sampled_from(["#8a4b2a", "#FFFFFF"]),
    },
)


@given(brief=BRIEFS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_brief_the_api_accepts_passes_setup_validation_and_gets_a_slug(
    integration_client: APIClient, no_throttling: None, brief: dict[str, Any]
) -> None:
    response = integration_client.post("/api/projects/", brief, format="json")

    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:
        slug = _setup_accepts(response.json()["id"])
        assert SLUG.match(slug) and len(slug) <= 60, slug
