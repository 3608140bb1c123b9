"""The order page's business details: what a French legal notice needs, hours, links, photos and a logo,
validated by the API's functions (validate_brief, intake_business_details) and stored with the project."""

from __future__ import annotations

from html import escape

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from agents.actions.common import brief_data, brief_of
from orders.brief import validate_brief
from orders.business_details import FRENCH_LEGAL_REQUIRED
from orders.media import MAX_UPLOAD_BYTES, rendition_name
from orders.models import Project
from tests.acceptance.journey.conftest import FRENCH_LEGAL_FORM, order_form, submit_order
from tests.support.fake_stripe import FakeStripe
from tests.support.images import bad_exif_jpeg, logo_bytes, photo_bytes

pytestmark = pytest.mark.django_db

# The form's names of what validate_business_details requires of a French brief.
FRENCH_REQUIRED_FIELDS = ["street_address", "postcode", "phone"] + [
    name.replace(".", "_") for name in FRENCH_LEGAL_REQUIRED
]


def without_legal(**overrides: str) -> dict[str, str]:
    return {k: v for k, v in order_form(**overrides).items() if k not in FRENCH_LEGAL_FORM}


@pytest.mark.parametrize(
    ("ui", "message"),
    [
        ("fr", "Obligatoire pour un site en français : les mentions légales doivent l'indiquer."),
        ("en", "Required for a French business site: the legal notice (mentions légales) must show it."),
    ],
    ids=["fr", "en"],
)
def test_a_french_brief_without_its_legal_notice_fields_is_refused_naming_each(
    client: Client, fake_stripe: FakeStripe, ui: str, message: str
) -> None:
    response = client.post(f"/order/?lang={ui}", {**without_legal(), "ui": ui})
    html = response.content.decode()
    assert response.status_code == 400
    for name in FRENCH_REQUIRED_FIELDS:
        assert f'id="error-{name}"' in html, name
        assert escape(message) in html.split(f'id="error-{name}">')[1].split("</p>")[0], name
    assert not Project.objects.exists() and fake_stripe.requests == []


def test_a_french_company_without_its_share_capital_is_refused_on_that_field(
    client: Client, fake_stripe: FakeStripe
) -> None:
    form = {**order_form(), "legal_legal_form": "SAS", "legal_share_capital": "", "ui": "fr"}
    response = client.post("/order/?lang=fr", form)
    html = response.content.decode()
    assert response.status_code == 400
    shown = html.split('id="error-legal_share_capital">')[1].split("</p>")[0]
    assert escape("Obligatoire pour une société : les mentions légales indiquent son capital social.") in shown
    assert not Project.objects.exists() and fake_stripe.requests == []


def test_a_french_brief_with_its_legal_notice_fields_creates_the_project_with_its_details(
    client: Client, fake_stripe: FakeStripe
) -> None:
    response = submit_order(
        client,
        opening_hours_mon="09:00-12:30, 14:00-19:00",
        opening_hours_sat="08:00-13:00",
        legal_vat_number="FR12412345670",
        social_links="https://www.instagram.com/boulangeriemartin\nhttps://www.facebook.com/boulangeriemartin",
    )
    assert response.status_code == 303, response.content.decode()[:2000]
    project = Project.objects.get()
    assert project.details["phone"] == "01 23 45 67 89"
    assert project.details["street_address"] == "1 place de la Mairie" and project.details["postcode"] == "75001"
    assert project.details["legal"] == {
        "company_name": "Exemple SARL",
        "legal_form": "SARL",
        "share_capital": "1 000 €",
        "registration_number": "412 345 670",
        "publication_director": "Camille Exemple",
        "professional_body": "Barreau de Paris",
        "vat_number": "FR12412345670",
    }
    assert project.details["opening_hours"] == {"mon": ["09:00-12:30", "14:00-19:00"], "sat": ["08:00-13:00"]}
    assert project.details["social_links"][0] == "https://www.instagram.com/boulangeriemartin"
    # What the page accepted, setup accepts: the brief the agents read validates and carries the details.
    assert validate_brief(brief_data(project)) == {}
    brief = brief_of(project)
    assert brief.details.legal_map["registration_number"] == "412 345 670"
    assert brief.details.hours_map["mon"] == (("09:00", "12:30"), ("14:00", "19:00"))


def test_an_english_brief_needs_no_french_legal_notice(client: Client, fake_stripe: FakeStripe) -> None:
    response = client.post("/order/?lang=en", {**without_legal(language="en"), "ui": "en"})
    assert response.status_code == 303, response.content.decode()[:2000]
    assert Project.objects.get().details == {}


def test_photos_and_a_logo_are_uploaded_prepared_and_stored(client: Client, fake_stripe: FakeStripe) -> None:
    photos = [
        SimpleUploadedFile("shop.jpg", photo_bytes(), content_type="image/jpeg"),
        SimpleUploadedFile("bread.jpg", photo_bytes(colour=(90, 60, 30)), content_type="image/jpeg"),
    ]
    logo = SimpleUploadedFile("logo.png", logo_bytes(), content_type="image/png")
    form = {**order_form(), "ui": "fr", "photos": photos, "logo": logo, "photos_alt": "La boutique\nNos pains"}
    response = client.post("/order/?lang=fr", form)
    assert response.status_code == 303, response.content.decode()[:3000]
    details = Project.objects.get().details
    assert [p["alt"] for p in details["photos"]] == ["La boutique", "Nos pains"]
    assert details["photos"][0]["widths"] == [480, 960, 1600] and details["logo"]["format"] == "png"
    for ref, extension in ((details["photos"][0], "jpg"), (details["logo"], "png")):
        assert default_storage.exists(rendition_name(ref["id"], ref["widths"][0], extension))


def test_a_file_that_is_not_an_image_is_refused_on_its_field_in_french(client: Client, fake_stripe: FakeStripe) -> None:
    fake = SimpleUploadedFile("logo.png", b"%PDF-1.7 not an image", content_type="image/png")
    response = client.post("/order/?lang=fr", {**order_form(), "ui": "fr", "logo": fake})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="error-logo"' in html and "Donnez une image JPEG, PNG ou WebP" in html
    assert not Project.objects.exists() and fake_stripe.requests == []


def test_a_photo_over_the_size_limit_is_refused_on_its_field(client: Client, fake_stripe: FakeStripe) -> None:
    huge = SimpleUploadedFile("huge.jpg", b"\xff" * (MAX_UPLOAD_BYTES + 1024), content_type="image/jpeg")
    response = client.post("/order/?lang=en", {**order_form(), "ui": "en", "photos": [huge]})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="error-photos"' in html and "larger than 5 MB" in html
    assert not Project.objects.exists()


def test_a_photo_with_malformed_exif_is_refused_on_its_field_not_a_500(client: Client, fake_stripe: FakeStripe) -> None:
    broken = SimpleUploadedFile("me.jpg", bad_exif_jpeg(), content_type="image/jpeg")
    response = client.post("/order/?lang=en", {**order_form(), "ui": "en", "photos": [broken]})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="error-photos"' in html and "EXIF metadata is damaged" in html
    assert not Project.objects.exists() and fake_stripe.requests == []


def test_wrong_hours_are_shown_on_their_day(client: Client, fake_stripe: FakeStripe) -> None:
    response = client.post("/order/?lang=en", {**order_form(opening_hours_tue="19:00-09:00"), "ui": "en"})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="error-opening_hours_tue"' in html and "must end after it starts" in html
    assert 'value="19:00-09:00"' in html


def test_the_legal_fields_are_grouped_under_a_heading_saying_why_and_marked_required_for_french(
    client: Client,
) -> None:
    html = client.get("/order/?lang=fr").content.decode()
    legal = html.split('id="group-legal"')[1].split("</fieldset>")[0]
    assert "<legend>Mentions légales</legend>" in legal and "LCEN" in legal
    for name in ("legal_company_name", "legal_legal_form", "legal_registration_number", "legal_publication_director"):
        label = legal.split(f'id="field-{name}"')[1].split("</label>")[0]
        assert "obligatoire pour un site en français" in label, name
    assert 'enctype="multipart/form-data"' in html
    english = client.get("/order/?lang=en").content.decode()
    assert "Legal notice (mentions légales)" in english and "required for a site in French" in english


def test_checkouts_cancel_link_brings_back_the_business_details(client: Client, fake_stripe: FakeStripe) -> None:
    submit_order(client, opening_hours_mon="09:00-12:30, 14:00-19:00")
    cancel_url = fake_stripe.calls("POST", "/v1/checkout/sessions")[0]["params"]["cancel_url"]
    html = client.get(cancel_url.removeprefix("http://testserver")).content.decode()
    assert 'value="Exemple SARL"' in html and 'value="412 345 670"' in html and 'value="75001"' in html
    assert 'value="09:00-12:30, 14:00-19:00"' in html
