import copy
import difflib
import re

import pytest

from agents.copywriting import (
    META_DESCRIPTION_MAX,
    Copywriter,
    OfflineCopywriter,
    offers_from_description,
    validate_page_copy,
)
from agents.design import generate_design
from agents.page_copy import page_slugs
from orders.brief import Brief
from tests.support.briefs import FRENCH_LEGAL, load_briefs

VALID = load_briefs()[:3]
BAKERY, PLUMBER, LAW = (Brief.from_dict(d) for d in VALID)
FR_WORDS = {"le", "la", "les", "des", "et", "vous", "nous", "votre", "pour", "une", "du", "avec"}
EN_WORDS = {"the", "and", "you", "we", "your", "our", "for", "with", "a", "of"}


def write_site(brief: Brief, writer: Copywriter | None = None) -> list[dict]:
    writer = writer or OfflineCopywriter()
    design = generate_design(brief)
    return [
        writer.write_page(brief=brief, design=design, page=page, index=i, idempotency_key=f"key-{i}")
        for i, page in enumerate(brief.pages)
    ]


def all_text(pages: list[dict]) -> str:
    parts = []
    for page in pages:
        parts += [page["title"], page["meta_description"], *page["hero"].values()]
        parts += [s["heading"] + " " + s["body"] for s in page["sections"]]
    return " ".join(parts)


def words(text: str) -> list[str]:
    return re.findall(r"[a-zà-ÿ]+", text.lower())


@pytest.mark.parametrize("brief", [BAKERY, PLUMBER, LAW], ids=lambda b: b.business_name)
def test_every_page_of_every_fixture_brief_is_valid_page_copy(brief):
    pages = write_site(brief)
    assert len(pages) == len(brief.pages)
    for page in pages:
        assert validate_page_copy(page) == page
        assert len(page["meta_description"]) <= META_DESCRIPTION_MAX
        assert 2 <= len(page["sections"]) <= 4


@pytest.mark.parametrize("brief", [BAKERY, PLUMBER, LAW], ids=lambda b: b.business_name)
def test_first_page_is_index_and_slugs_are_unique_and_url_safe(brief):
    slugs = [page["slug"] for page in write_site(brief)]
    assert slugs[0] == "index"
    assert len(set(slugs)) == len(slugs)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug) for slug in slugs)


def test_slugs_avoid_reserved_names_and_clashes():
    assert page_slugs(["Home", "Index", "Assets", "Café", "Cafe!", "???"]) == [
        "index",
        "index-page",
        "assets-page",
        "cafe",
        "cafe-2",
        "page-6",
    ]


def test_copy_is_deterministic_so_retries_give_the_same_text():
    assert write_site(LAW) == write_site(LAW)


def test_the_three_briefs_get_visibly_different_copy_with_their_sector_words():
    texts = {
        name: all_text(write_site(brief)) for name, brief in (("bakery", BAKERY), ("plumber", PLUMBER), ("law", LAW))
    }
    names = list(texts)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            similarity = difflib.SequenceMatcher(None, words(texts[a]), words(texts[b])).ratio()
            assert similarity < 0.3, (a, b, similarity)
    assert {"pain", "levain", "fournil"} <= set(words(texts["bakery"]))
    assert {"plumber", "boiler", "leaks"} <= set(words(texts["plumber"]))
    assert {"avocats", "droit", "honoraires"} <= set(words(texts["law"]))
    for name, brief in (("bakery", BAKERY), ("plumber", PLUMBER), ("law", LAW)):
        assert brief.business_name in texts[name]
        assert brief.city in texts[name]


@pytest.mark.parametrize(
    ("brief", "language"), [(BAKERY, "fr"), (LAW, "fr"), (PLUMBER, "en")], ids=["bakery", "law", "plumber"]
)
def test_copy_is_written_in_the_brief_language(brief, language):
    tokens = words(all_text(write_site(brief)))
    french = sum(t in FR_WORDS for t in tokens)
    english = sum(t in EN_WORDS for t in tokens)
    if language == "fr":
        assert french > 5 * english
    else:
        assert english > 5 * french


def test_page_types_get_copy_that_fits_them():
    law = {page["nav_label"]: page for page in write_site(LAW)}
    assert law["L'équipe"]["hero"]["heading"] == "L'équipe de Cabinet Durand & Associés"
    assert "convention d'honoraires" in all_text([law["Honoraires"]])
    assert LAW.contact_email in all_text([law["Contact"]])
    assert law["Expertises"]["sections"][0]["heading"] == "Droit des affaires"
    plumber = {page["nav_label"]: page for page in write_site(PLUMBER)}
    assert "stopcock" in all_text([plumber["Emergency call-out"]])
    assert plumber["About"]["hero"]["heading"] == "About Leeds Rapid Plumbing"
    bakery = {page["nav_label"]: page for page in write_site(BAKERY)}
    # A page titled after something the sector knows gets that topic, not boilerplate.
    assert bakery["Nos pains"]["sections"][0]["heading"] == "Nos pains au levain"
    assert bakery["Pâtisseries"]["sections"][0]["heading"] == "Pâtisseries de saison"


@pytest.mark.parametrize(
    ("sector", "language", "words_expected"),
    [
        ("restaurant", "fr", {"carte", "table"}),
        ("hairdresser", "en", {"salon", "colour"}),
        ("coiffeur", "fr", {"coiffure", "couleur"}),
        ("plombier", "fr", {"plomberie", "chaudières"}),
        ("bakery", "en", {"sourdough", "bakery"}),
        ("avocat", "en", {"law", "employment", "contracts"}),
    ],
)
def test_each_sector_has_its_own_vocabulary_in_both_languages(sector, language, words_expected):
    brief = Brief.from_dict(
        {
            "business_name": "Maison Test",
            "sector": sector,
            "city": "Nantes",
            "language": language,
            "contact_email": "m@t.example",
            **FRENCH_LEGAL,
        }
    )
    tokens = set(words(all_text(write_site(brief))))
    assert words_expected <= tokens


def test_generic_sector_builds_on_the_brief_own_words():
    brief = Brief.from_dict(
        {
            "business_name": "Atelier Lumière",
            "sector": "architecte d'intérieur",
            "city": "Nantes",
            "description": "Aménagement de cuisines, rénovation d'appartements et conseil en couleurs.",
            "pages": ["Accueil", "Services", "Réalisations", "Contact"],
            "contact_email": "bonjour@atelier-lumiere.example",
            **FRENCH_LEGAL,
        }
    )
    pages = {page["nav_label"]: page for page in write_site(brief)}
    services = [s["heading"] for s in pages["Services"]["sections"]]
    assert services[:3] == ["Aménagement de cuisines", "Rénovation d'appartements", "Conseil en couleurs"]
    assert "architecte d'intérieur" in pages["Accueil"]["title"].lower()
    assert pages["Réalisations"]["hero"]["heading"] == "Réalisations"


def test_offers_are_read_from_lists_in_the_description():
    assert offers_from_description(VALID[0]["description"]) == [
        "pain au levain",
        "viennoiseries pur beurre",
        "gâteaux de saison",
    ]
    assert offers_from_description("We fix things.") == []


def test_braces_and_markup_in_the_brief_are_kept_as_text():
    brief = Brief.from_dict(
        {
            "business_name": "Studio {name} <b>",
            "sector": "{sector}",
            "city": "{city}",
            "description": "A {x}, {y} and {z}.",
            "contact_email": "a@b.example",
            "language": "en",
        }
    )
    text = all_text(write_site(brief))
    assert "Studio {name} <b>" in text


def valid_copy() -> dict:
    return copy.deepcopy(write_site(PLUMBER)[1])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.update(slug="Not A Slug"), "slug"),
        (lambda c: c.update(meta_description="x" * 161), "meta_description"),
        (lambda c: c.update(title=""), "title"),
        (lambda c: c.update(nav_label=None), "nav_label"),
        (lambda c: c.update(hero="Welcome"), "hero"),
        (lambda c: c["hero"].pop("cta_label"), "hero.cta_label"),
        (lambda c: c.update(sections=c["sections"][:1]), "sections"),
        (lambda c: c.update(sections=c["sections"] * 2), "sections"),
        (lambda c: c.update(sections="text"), "sections"),
        (lambda c: c["sections"][1].update(body="  "), r"sections\[1\].body"),
        (lambda c: c["sections"].__setitem__(0, "text"), r"sections\[0\]"),
    ],
)
def test_validate_page_copy_names_the_bad_field(mutate, message):
    data = valid_copy()
    mutate(data)
    with pytest.raises(ValueError, match=message):
        validate_page_copy(data)


def test_validate_page_copy_rejects_non_objects_and_drops_unknown_keys():
    with pytest.raises(ValueError, match="must be an object"):
        validate_page_copy(["not", "a", "dict"])
    data = {**valid_copy(), "extra": "ignored"}
    assert "extra" not in validate_page_copy(data)
