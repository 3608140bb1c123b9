import re

import pytest

from orders.brief import DEFAULT_PAGES, Brief, InvalidBrief, page_kind, sector_family, slugify_business, validate_brief
from tests.support.briefs import FRENCH_LEGAL, load_briefs

BRIEFS = load_briefs()
VALID = BRIEFS[:3]
INVALID = BRIEFS[3]
GOOD = {"business_name": "Atelier Nova", "contact_email": "hello@nova.example", **FRENCH_LEGAL}


@pytest.mark.parametrize("data", VALID, ids=lambda d: d["business_name"])
def test_fixture_briefs_are_valid_and_round_trip(data):
    assert validate_brief(data) == {}
    brief = Brief.from_dict(data)
    assert brief.pages == tuple(data["pages"])
    assert Brief.from_dict(brief.to_dict()) == brief


def test_invalid_fixture_brief_names_each_bad_field():
    errors = validate_brief(INVALID)
    assert set(errors) == {"business_name", "pages", "brand_color", "language", "contact_email"}
    assert all(errors[field] for field in errors)
    assert "brown" in errors["brand_color"][0]
    assert "de" in errors["language"][0]


def test_from_dict_raises_invalid_brief_with_every_field_in_the_message():
    with pytest.raises(InvalidBrief) as caught:
        Brief.from_dict(INVALID)
    assert set(caught.value.errors) == {"business_name", "pages", "brand_color", "language", "contact_email"}
    for field in caught.value.errors:
        assert field in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("business_name", 42),
        ("business_name", None),
        ("business_name", "   "),
        ("business_name", "x" * 121),
        ("contact_email", ["a@b.example"]),
        ("contact_email", "no-at-sign"),
        ("brand_color", 123),
        ("brand_color", "#12345"),
        ("brand_color", "#gg0000"),
        ("language", "de"),
        ("language", 1),
        ("pages", "Home"),
        ("pages", {"Home": 1}),
        ("pages", []),
        ("pages", [f"Page {n}" for n in range(13)]),
        ("pages", ["Home", ""]),
        ("pages", ["Home", 3]),
        ("pages", ["Home", "x" * 61]),
        ("pages", ["Home", "Contact", "contact"]),
        ("sector", {"name": "bakery"}),
        ("sector", "x" * 81),
        ("city", 75001),
        ("description", "x" * 2001),
    ],
)
def test_bad_field_gives_an_error_for_that_field_never_an_exception(field, value):
    errors = validate_brief({**GOOD, field: value})
    assert list(errors) == [field]


@pytest.mark.parametrize("data", [None, [], "brief", 3])
def test_a_brief_that_is_not_an_object_is_refused(data):
    assert list(validate_brief(data)) == ["brief"]


@pytest.mark.parametrize("language", ["fr", "en"])
def test_missing_pages_default_to_the_language_defaults(language):
    brief = Brief.from_dict({**GOOD, "language": language})
    assert brief.pages == DEFAULT_PAGES[language]


def test_missing_language_and_colour_get_defaults():
    brief = Brief.from_dict(GOOD)
    assert brief.language == "fr"
    assert brief.pages == ("Accueil", "À propos", "Services", "Contact")
    assert brief.brand_color.startswith("#")
    assert len(brief.brand_color) == 7


def test_text_is_normalised():
    brief = Brief.from_dict(
        {**GOOD, "business_name": "  Atelier \n Nova ", "brand_color": "#AABBCC", "pages": [" Home "]}
    )
    assert brief.business_name == "Atelier Nova"
    assert brief.brand_color == "#aabbcc"
    assert brief.pages == ("Home",)


@pytest.mark.parametrize(
    ("name", "city", "slug"),
    [
        ("Boulangerie Martin", "Lyon", "boulangerie-martin-lyon"),
        ("Cabinet Durand & Associés", "Bordeaux", "cabinet-durand-associes-bordeaux"),
        ("Leeds Rapid Plumbing", "Leeds", "leeds-rapid-plumbing"),
        ("Çà et là", "", "ca-et-la"),
        ("Пекарня Иван", "Москва", "pekarnya-ivan-moskva"),
        ("Αρτοποιείο", "Αθήνα", "artopoieio-athina"),
        ("L'Île Flottante", "Saint-Étienne", "l-ile-flottante-saint-etienne"),
    ],
)
def test_slugify_business(name, city, slug):
    assert slugify_business(name, city) == slug


def test_a_name_with_no_letters_at_all_gets_a_short_random_slug():
    first, second = slugify_business("!!!", ""), slugify_business("!!!", "")
    assert re.fullmatch(r"site-[a-z0-9]{6}", first) and first != second


def test_long_slug_is_cut_at_a_hyphen_within_60_ascii_chars():
    slug = slugify_business("Entreprise Générale de Rénovation et de Maçonnerie Traditionnelle", "Villeneuve-d'Ascq")
    assert len(slug) <= 60
    assert slug.isascii()
    assert not slug.endswith("-")
    assert "renovation-et-de-maconnerie" in slug


@pytest.mark.parametrize(
    ("sector", "name", "description", "family"),
    [
        ("bakery", "", "", "bakery"),
        ("Boulangerie-pâtisserie", "", "", "bakery"),
        ("plombier chauffagiste", "", "", "plumber"),
        ("law firm", "", "", "law"),
        ("Avocat", "", "", "law"),
        ("salon de coiffure", "", "", "hairdresser"),
        ("Barber", "", "", "hairdresser"),
        ("restaurant", "", "", "restaurant"),
        ("architecte d'intérieur", "", "Aménagement de cuisines", "generic"),
        ("", "Boulangerie Durand", "", "bakery"),
        ("", "Atelier", "Cuisine bistrot de marché, restaurant familial", "restaurant"),
        ("", "", "", "generic"),
    ],
)
def test_sector_family_prefers_the_stated_sector(sector, name, description, family):
    assert sector_family(sector, name, description) == family


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        ("Accueil", "home"),
        ("Home", "home"),
        ("À propos", "about"),
        ("L'équipe", "about"),
        ("Our team", "about"),
        ("Services", "services"),
        ("Expertises", "services"),
        ("Nos prestations", "services"),
        ("Contact", "contact"),
        ("Contactez-nous", "contact"),
        ("Honoraires", "pricing"),
        ("Tarifs", "pricing"),
        ("Pricing", "pricing"),
        ("Emergency call-out", "emergency"),
        ("Dépannage urgent", "emergency"),
        ("Nos pains", "generic"),
    ],
)
def test_page_kind(title, kind):
    assert page_kind(title) == kind
