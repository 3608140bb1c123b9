"""The brief's business details: validation (with the French legal notice's fields), images, and the API intake."""

from __future__ import annotations

import io
import struct
from typing import Any

import pytest
from django.core.files.storage import default_storage
from PIL import Image
from rest_framework.test import APIClient

from agents.actions.common import brief_data
from orders.brief import Brief, validate_brief
from orders.business_details import luhn_valid
from orders.media import InvalidImage, prepare_image, prepare_uploads
from orders.models import Project
from tests.support.briefs import load_briefs
from tests.support.images import GPS_IFD, b64, bad_exif_jpeg, bomb_png, logo_bytes, photo_bytes, png_bytes

BAKERY, PLUMBER, LAW = load_briefs()[:3]
CORE = {key: BAKERY[key] for key in ("business_name", "sector", "city", "description", "pages", "language")}
CORE["contact_email"] = BAKERY["contact_email"]
FRENCH_NOTICE_FIELDS = {
    "street_address",
    "postcode",
    "phone",
    "legal.company_name",
    "legal.legal_form",
    "legal.registration_number",
    "legal.publication_director",
}


def test_a_french_brief_without_the_legal_notice_fields_is_refused_naming_each_of_them():
    errors = validate_brief(CORE)

    assert set(errors) == FRENCH_NOTICE_FIELDS
    for messages in errors.values():
        assert "mentions légales" in " ".join(messages)


def test_a_french_law_firm_must_also_name_its_professional_body():
    legal = {k: v for k, v in LAW["legal"].items() if k != "professional_body"}

    errors = validate_brief({**LAW, "legal": legal})

    assert list(errors) == ["legal.professional_body"]
    assert "bar" in errors["legal.professional_body"][0]


@pytest.mark.parametrize(
    "sector",
    [
        "Médecin généraliste",
        "Cabinet d'architecte",
        "Expert-comptable",
        "Masseur-kinésithérapeute",
        "Vétérinaire",
        "Agent immobilier",
        "Géomètre-expert",
        "Commissaire de justice",
        "Sage-femme",
        "Pharmacie",
    ],
)
def test_a_french_regulated_profession_beyond_lawyers_must_name_its_professional_body(sector: str):
    legal = {k: v for k, v in LAW["legal"].items() if k != "professional_body"}

    errors = validate_brief({**LAW, "sector": sector, "legal": legal})

    assert list(errors) == ["legal.professional_body"]


@pytest.mark.parametrize("form", ["SARL", "SAS", "SASU", "EURL", "SA", "SELARL", "Société civile immobilière"])
def test_a_french_company_must_show_its_share_capital(form: str):
    legal = {k: v for k, v in BAKERY["legal"].items() if k != "share_capital"}

    errors = validate_brief({**BAKERY, "legal": {**legal, "legal_form": form}})

    assert list(errors) == ["legal.share_capital"]
    assert "share capital" in errors["legal.share_capital"][0]


@pytest.mark.parametrize("form", ["EI", "Entreprise individuelle", "Micro-entreprise", "Association loi 1901"])
def test_a_sole_trader_or_an_association_has_no_share_capital_to_show(form: str):
    legal = {k: v for k, v in BAKERY["legal"].items() if k != "share_capital"}
    assert validate_brief({**BAKERY, "legal": {**legal, "legal_form": form}}) == {}


def test_an_ordinary_trade_needs_no_professional_body():
    legal = {k: v for k, v in BAKERY["legal"].items() if k != "professional_body"}
    assert validate_brief({**BAKERY, "legal": legal}) == {}


def test_an_english_brief_needs_no_french_legal_notice():
    brief = {k: v for k, v in PLUMBER.items() if k not in ("legal", "phone", "street_address", "postcode")}
    assert validate_brief(brief) == {}


def test_the_setup_step_refuses_a_french_project_whose_brief_lost_its_legal_fields(db):
    project = Project.objects.create(**{k: v for k, v in CORE.items()}, details={})
    assert set(validate_brief(brief_data(project))) == FRENCH_NOTICE_FIELDS


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"phone": "call me"}, "phone", "phone number"),
        ({"phone": "12 34"}, "phone", "phone number"),
        ({"postcode": "6900"}, "postcode", "5 digits"),
        ({"opening_hours": {"mon": ["09:00-12:00", "11:00-13:00"]}}, "opening_hours", "overlaps"),
        ({"opening_hours": {"mon": ["19:00-09:00"]}}, "opening_hours", "end after"),
        ({"opening_hours": {"lundi": ["09:00-12:00"]}}, "opening_hours", "unknown day"),
        ({"opening_hours": ["09:00-12:00"]}, "opening_hours", "expected an object"),
        ({"legal": {**BAKERY["legal"], "registration_number": "412 345 671"}}, "legal.registration_number", "siren"),
        ({"legal": {**BAKERY["legal"], "vat_number": "12345"}}, "legal.vat_number", "country code"),
        ({"legal": {**BAKERY["legal"], "motto": "x"}}, "legal", "unknown field"),
        ({"social_links": ["http://instagram.com/x"]}, "social_links", "https"),
        ({"social_links": "https://instagram.com/x"}, "social_links", "list"),
        ({"photos": [{"alt": "no data"}] * 7}, "photos", "at most 6"),
        ({"photos": [{"alt": "no data"}]}, "photos", "data"),
    ],
)
def test_each_bad_detail_is_named_by_its_field(change: dict[str, Any], field: str, words: str):
    errors = validate_brief({**BAKERY, **change})

    assert list(errors) == [field]
    assert words in " ".join(errors[field]).lower()


def test_details_round_trip_through_the_brief_value():
    brief = Brief.from_dict(BAKERY)

    assert brief.details.tel_href == "tel:0472001234"
    assert brief.details.hours_map["sat"] == (("07:00", "19:30"),)
    assert "mon" not in brief.details.hours_map  # closed on Mondays
    assert Brief.from_dict(brief.to_dict()) == brief


def test_siren_and_siret_check_digits():
    assert luhn_valid("412345670") and luhn_valid("51234567800019")
    assert not luhn_valid("412345671")


# -- images --------------------------------------------------------------------------------------


def test_a_photo_is_re_encoded_without_exif_at_responsive_widths():
    raw = photo_bytes(2000, 1500)
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(GPS_IFD)  # the upload does carry a GPS position

    prepared = prepare_image(raw, alt="Nos pains au levain")

    assert [w for w, _ in prepared.renditions] == [480, 960, 1600]
    for width, content in prepared.renditions:
        image = Image.open(io.BytesIO(content))
        assert image.format == "JPEG" and image.width == width
        assert not image.getexif(), "no EXIF block at all, so no position and no camera serial"
        assert "exif" not in image.info
    assert prepared.width == 2000 and prepared.height == 1500


def test_a_small_photo_is_never_upscaled():
    prepared = prepare_image(photo_bytes(700, 500))
    assert [w for w, _ in prepared.renditions] == [480, 700]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"GIF89a not really", "not an image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not an image"),
        (photo_bytes(800, 600)[:2000], "damaged"),
        (bomb_png(), "megapixels"),
        (photo_bytes(200, 150), "at least 320"),
        (b"", "empty"),
        (bad_exif_jpeg(), "EXIF metadata is damaged"),
    ],
    ids=["not-an-image", "svg", "truncated", "decompression-bomb", "too-small", "empty", "malformed-exif"],
)
def test_only_real_images_within_the_limits_are_accepted(raw: bytes, reason: str):
    with pytest.raises(InvalidImage, match=reason):
        prepare_image(raw)


def test_a_sixteen_bit_png_keeps_its_tones():
    # 20000/65535 is about 78/255; converting I;16 straight to RGB clipped it to white.
    grey = Image.frombytes("I;16", (800, 600), struct.pack("<H", 20000) * (800 * 600))
    prepared = prepare_image(png_bytes(grey))
    assert Image.open(io.BytesIO(prepared.renditions[-1][1])).convert("L").getpixel((400, 300)) in range(74, 83)


def test_a_transparent_photo_is_laid_on_white_not_on_its_hidden_colour():
    hidden_red = Image.new("RGBA", (800, 600), (255, 0, 0, 0))
    prepared = prepare_image(png_bytes(hidden_red))
    assert min(Image.open(io.BytesIO(prepared.renditions[-1][1])).getpixel((400, 300))) > 245


def test_images_over_the_briefs_pixel_budget_are_refused_before_any_is_decoded(monkeypatch: Any):
    # Three flat 40-megapixel PNGs weigh about 130 kB each, yet decoding them costs seconds and gigabytes.
    flat = png_bytes(Image.new("RGB", (7000, 5700), (10, 20, 30)))
    decoded: list[bytes] = []
    monkeypatch.setattr("orders.media.prepare_image", lambda raw, **kw: decoded.append(raw))

    photos, logo, errors = prepare_uploads({"photos": [{"data": b64(flat), "alt": ""}] * 3})

    assert photos == [] and logo is None and decoded == []
    assert errors == {
        "photos": [
            "Together the images have 119 megapixels; the limit is 100 for one brief (give smaller exports, "
            "e.g. 12 megapixels each)."
        ]
    }


def test_a_logo_keeps_its_transparency_as_png():
    prepared = prepare_image(logo_bytes(400), logo=True)
    image = Image.open(io.BytesIO(prepared.renditions[-1][1]))
    assert image.format == "PNG" and image.mode == "RGBA"


# -- the API intake ------------------------------------------------------------------------------


@pytest.fixture
def client(db: Any, settings: Any, tmp_path: Any) -> APIClient:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    from django.contrib.auth.models import User

    staff = User.objects.create_user("intake", is_staff=True)
    api = APIClient()
    api.force_authenticate(staff)
    return api


def test_a_french_brief_without_the_legal_notice_fields_is_refused_at_intake(client: APIClient):
    response = client.post("/api/projects/", CORE, format="json")

    assert response.status_code == 400
    detail = response.json()["error"]["detail"]
    assert set(detail) == FRENCH_NOTICE_FIELDS
    assert "mentions légales" in str(detail["legal.registration_number"])
    assert not Project.objects.exists()


def test_the_intake_stores_photos_and_logo_through_the_storage_api(client: APIClient):
    brief = {
        **BAKERY,
        "photos": [{"data": b64(photo_bytes()), "alt": "La vitrine"}, {"data": b64(photo_bytes(900, 1200)), "alt": ""}],
        "logo": {"data": b64(logo_bytes()), "alt": "Logo"},
        "social_links": ["https://www.instagram.com/boulangeriemartin"],
    }

    response = client.post("/api/projects/", brief, format="json")

    assert response.status_code == 201, response.json()
    details = response.json()["details"]
    assert details["phone"] == BAKERY["phone"] and details["legal"] == BAKERY["legal"]
    assert [p["alt"] for p in details["photos"]] == ["La vitrine", ""]
    assert details["photos"][0]["widths"] == [480, 960, 1600]
    for ref in details["photos"]:
        for width in ref["widths"]:
            assert default_storage.exists(f"brief-media/{ref['id']}/{width}.jpg")
    assert default_storage.exists(f"brief-media/{details['logo']['id']}/96.png")
    assert Brief.from_dict(brief_data(Project.objects.get())).details.photos[0].alt == "La vitrine"


def test_the_intake_refuses_a_photo_with_malformed_exif_naming_it_not_a_500(client: APIClient):
    brief = {**BAKERY, "photos": [{"data": b64(bad_exif_jpeg()), "alt": "x"}]}

    response = client.post("/api/projects/", brief, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["detail"]["photos"][0].startswith("Photo 1: The image's EXIF metadata is damaged")
    assert not Project.objects.exists()


def test_the_intake_refuses_a_file_that_is_not_an_image_naming_the_photo(client: APIClient):
    brief = {**BAKERY, "photos": [{"data": b64(photo_bytes()), "alt": "ok"}, {"data": b64(b"%PDF-1.7"), "alt": "x"}]}

    response = client.post("/api/projects/", brief, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["detail"] == {
        "photos": ["Photo 2: The file is not an image we can read (JPEG, PNG or WebP)."]
    }
    assert not Project.objects.exists()
