"""Any brief intake accepts gets offline copy within the page-copy limits: the design step never fails on length.

A 120-character name and an 80-character city (both within intake's limits) once made the Home hero heading
222 characters, over the 160 limit: the paid order then failed for good.
"""

from __future__ import annotations

import random
import re
import string
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agents.copywriting import (
    HERO_LIMITS,
    SECTION_LIMITS,
    TEXT_LIMITS,
    OfflineCopywriter,
    offers_from_description,
    validate_page_copy,
)
from orders.brief import MAX_NAME, MAX_PAGE_TITLE, MAX_SHORT_TEXT, Brief, validate_brief
from tests.support.briefs import FRENCH_LEGAL

WRITER = OfflineCopywriter()
# One sector word per family (and none: the generic family, also reached by unknown words).
SECTORS = ("boulangerie", "bakery", "plombier", "plumber", "avocat", "solicitor", "coiffeur", "hair salon",
           "restaurant", "", "agence de voyage", "-")  # fmt: skip
# Titles of every page kind, in both languages (home, about, team, services, contact, pricing, emergency, other).
PAGE_WORDS = ("Accueil", "Home", "À propos", "Notre équipe", "Our team", "Services", "Contact", "Tarifs", "Prices",
              "Urgences", "Emergency", "Nos pains", "Boilers", "Galerie")  # fmt: skip
LETTERS = string.ascii_letters + "éèàçÉÀœßİ"


def _padded(word: str, limit: int, rnd: random.Random) -> str:
    """`word` followed by random words up to exactly `limit` characters (a title or name at intake's limit)."""
    text = word
    while len(text) < limit:
        text += " " + "".join(rnd.choice(LETTERS) for _ in range(rnd.randint(1, 25)))
    return text[:limit].rstrip() or word


def at_limit_text(limit: int, words: tuple[str, ...] = ("",)) -> st.SearchStrategy[str]:
    """Texts at or near `limit`: one unbroken word, random words, or a known word padded to the limit."""
    return st.one_of(
        st.text(alphabet=LETTERS, min_size=limit, max_size=limit),
        st.builds(_padded, st.sampled_from(words), st.just(limit), st.randoms(use_true_random=False)),
        st.text(min_size=1, max_size=limit),
    )


def brief_data() -> st.SearchStrategy[dict[str, Any]]:
    city = st.one_of(
        st.just(""),
        at_limit_text(MAX_SHORT_TEXT, ("Le", "Les", "Saint")),
    )
    description = st.one_of(
        st.just(""),
        st.text(max_size=400),
        # Lists of services become section headings: pieces of every length, up to intake's 2,000 characters.
        st.lists(st.text(alphabet=LETTERS + " ", min_size=1, max_size=300), min_size=3, max_size=8).map(
            lambda items: ("Services : " + ", ".join(items) + ".")[:2000]
        ),
    )
    email = st.sampled_from(["a@example.com", "x" * 300 + "@example.com", "o'neil.very.long.name@sub.example.fr"])
    return st.fixed_dictionaries(
        {
            "business_name": at_limit_text(MAX_NAME, ("Le", "Les", "L'Étoile", "Hôtel")),
            "sector": st.one_of(st.sampled_from(SECTORS), at_limit_text(MAX_SHORT_TEXT, SECTORS)),
            "city": city,
            "description": description,
            "language": st.sampled_from(["fr", "en"]),
            "contact_email": email,
            "pages": st.lists(at_limit_text(MAX_PAGE_TITLE, PAGE_WORDS), min_size=1, max_size=6),
        },
        optional={"phone": st.sampled_from(["+33 1 23 45 67 89 01 23 45", "01 23 45 67 89"])},
    )


def accepted_brief(data: dict[str, Any]) -> Brief:
    if data["language"] == "fr":
        data = {**FRENCH_LEGAL, **data}
    assume(not validate_brief(data))
    return Brief.from_dict(data)


def all_pages(brief: Brief) -> list[dict[str, Any]]:
    return [
        WRITER.write_page(brief=brief, design={}, page=page, index=index, idempotency_key="k")
        for index, page in enumerate(brief.pages)
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(brief_data())
def test_offline_copy_of_every_page_of_any_accepted_brief_passes_page_copy_validation(data: dict[str, Any]) -> None:
    brief = accepted_brief(data)
    for copy in all_pages(brief):  # write_page validates; a ValueError here is a paid order that fails
        assert validate_page_copy(copy) == copy


@given(st.integers(min_value=0, max_value=2**32), st.sampled_from(["fr", "en"]), st.sampled_from(SECTORS))
@settings(max_examples=60, deadline=None)
def test_a_name_and_city_at_intake_limits_are_kept_whole_never_cut_mid_word(seed, language, sector) -> None:
    rnd = random.Random(seed)
    name = "".join(rnd.choice(string.ascii_letters) for _ in range(MAX_NAME))
    city = "".join(rnd.choice(string.ascii_letters) for _ in range(MAX_SHORT_TEXT))
    data = {"business_name": name, "city": city, "sector": sector, "contact_email": "a@example.com"}
    data |= {"language": language, "pages": ["Home", "About", "Services", "Contact", "Urgences", "x" * 60]}
    brief = accepted_brief(data)
    for copy in all_pages(brief):
        fields = [copy["title"], copy["meta_description"], *copy["hero"].values()]
        fields += [text for section in copy["sections"] for text in section.values()]
        for text in fields:
            # The name and city appear whole or not at all: no "Abc…" made of their first letters.
            for word in (name, city):
                for match in re.finditer(re.escape(word[:10]), text):
                    assert text[match.start() :].startswith(word), (copy["slug"], text)
    home = all_pages(brief)[0]
    assert name in home["title"]
    assert len(home["hero"]["heading"]) <= HERO_LIMITS["heading"]
    assert len(home["title"]) <= TEXT_LIMITS["title"]


def test_offers_from_a_description_are_short_phrases_fit_for_a_heading() -> None:
    long_piece = "x" * 300
    offers = offers_from_description(f"We do: tiling, {long_piece}, plastering and painting.")
    assert offers == ["tiling", "plastering", "painting"]
    assert all(len(offer) <= SECTION_LIMITS["heading"] for offer in offers)
