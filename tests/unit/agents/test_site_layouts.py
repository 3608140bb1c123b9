"""What a generated site does with the brief: compositions per business, balanced cards, harmonious accent,
phone, hours, map link, photos, logo, legal pages and the contact form on the pages themselves."""

from __future__ import annotations

import colorsys
import xml.etree.ElementTree as ET
from typing import Any

import html5lib
import pytest

from agents.copywriting import OfflineCopywriter
from agents.design import generate_design
from agents.site import _balanced, render_site
from orders.brief import Brief, validate_brief
from orders.demo_briefs import DEMO_BRIEFS
from orders.media import prepare_image
from tests.support.briefs import load_briefs
from tests.support.images import logo_bytes, photo_bytes

BASE_URL = "https://example-site.vercel.app/"
BAKERY, PLUMBER, LAW = load_briefs()[:3]


def build(brief: Brief, images: dict[str, bytes] | None = None) -> dict[str, bytes]:
    design = generate_design(brief)
    writer = OfflineCopywriter()
    pages = [
        writer.write_page(brief=brief, design=design, page=page, index=i, idempotency_key=f"k{i}")
        for i, page in enumerate(brief.pages)
    ]
    return render_site(brief=brief, design=design, pages=pages, base_url=BASE_URL, images=images)


def tree(html: bytes) -> ET.Element:
    return html5lib.parse(html.decode(), namespaceHTMLElements=False)


def structure(html: bytes) -> tuple[str, ...]:
    """The page's composition: each block of <main> by its classes, in order (text ignored)."""
    main = tree(html).find(".//main")
    return tuple(section.get("class", "") for section in main.findall("section"))


def html_pages(files: dict[str, bytes]) -> dict[str, bytes]:
    return {path: body for path, body in files.items() if path.endswith(".html")}


def test_the_three_demo_briefs_get_three_different_compositions():
    sites = [build(Brief.from_dict(data)) for data in DEMO_BRIEFS]
    homes = [structure(files["index.html"]) for files in sites]

    assert len(set(homes)) == 3, homes
    assert [generate_design(Brief.from_dict(d))["composition"] for d in DEMO_BRIEFS] == [
        "storefront",
        "rapid",
        "practice",
    ]
    bakery, plumber, law = homes
    assert bakery[1] == "visit"  # a shop people visit: hours and address right under the hero
    assert plumber[1] == "callbar"  # a trade people call: the number right under the hero
    assert "facts" in law and law[0] == "hero hero-banner"  # a firm people consult: who it is
    # The whole sites differ too, page by page, not only their home pages.
    assert len({tuple(structure(body) for body in html_pages(files).values()) for files in sites}) == 3


def test_the_accent_stays_in_the_brand_colour_family():
    pink_salon = Brief.from_dict({**PLUMBER, "sector": "hairdresser", "brand_color": "#d63384"})

    palette = generate_design(pink_salon)["palette"]

    def hue(colour: str) -> float:
        r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
        return colorsys.rgb_to_hls(r, g, b)[0] * 360

    distance = abs(hue(palette["accent"]) - hue(palette["brand"])) % 360
    assert min(distance, 360 - distance) <= 45, f"accent {palette['accent']} clashes with brand {palette['brand']}"
    assert generate_design(pink_salon)["accent_harmony"]["harmonious"] is True


def test_a_much_longer_card_takes_its_own_row_and_similar_cards_share_one():
    sections = [
        {"heading": "Nos pains", "body": "Levain naturel, farines locales. " * 12},
        {"heading": "Bon à savoir", "body": "Ouvert le dimanche."},
        {"heading": "Viennoiseries", "body": "Pur beurre, chaque matin."},
    ]
    assert [s["wide"] for s in _balanced(sections, "grid")] == [True, False, False]
    assert [s["wide"] for s in _balanced(sections[1:], "grid")] == [False, False]
    assert [s["wide"] for s in _balanced(sections, "stacked")] == [False, False, False]


@pytest.mark.parametrize("data", [BAKERY, PLUMBER, LAW], ids=["bakery", "plumber", "law"])
def test_every_page_links_to_the_phone_the_legal_notice_and_the_privacy_page(data: dict[str, Any]):
    files = build(Brief.from_dict(data))
    legal, privacy = (
        ("mentions-legales.html", "confidentialite.html")
        if data["language"] == "fr"
        else ("legal-notice.html", "privacy.html")
    )
    assert legal in files and privacy in files
    for path, body in html_pages(files).items():
        hrefs = [a.get("href") for a in tree(body).iter("a")]
        assert any(h.startswith("tel:") for h in hrefs), path
        assert legal in hrefs and privacy in hrefs, path


def test_the_legal_notice_names_publisher_registration_director_professional_body_and_host():
    brief = Brief.from_dict(LAW)
    design = generate_design(brief)
    writer = OfflineCopywriter()
    pages = [
        writer.write_page(brief=brief, design=design, page=p, index=i, idempotency_key="k")
        for i, p in enumerate(brief.pages)
    ]
    host = {"name": "Vercel Inc.", "address": "440 N Barranca Ave #4133, Covina, CA 91723, United States"}
    files = render_site(brief=brief, design=design, pages=pages, base_url=BASE_URL, host=host)
    text = " ".join(tree(files["mentions-legales.html"]).find(".//main").itertext())
    for expected in (
        "Cabinet Durand & Associés",
        "SELARL",
        "823 456 785",
        "FR45823456785",
        "Claire Durand",
        "Barreau de Bordeaux",
        "8 cours de l'Intendance",
        "Vercel Inc.",
        "Covina",
    ):
        assert expected in text, expected
    privacy = " ".join(tree(files["confidentialite.html"]).find(".//main").itertext())
    assert "12 mois" in privacy and "accueil@durand-avocats.example" in privacy and "CNIL" in privacy


def test_hours_map_link_and_contact_form_on_the_pages():
    files = build(Brief.from_dict(BAKERY))
    home = tree(files["index.html"])
    rows = {row.get("data-day"): row.get("data-ranges") for row in home.iter("tr") if row.get("data-day")}
    assert rows["tue"] == "07:00-13:30 15:30-19:30" and rows["mon"] == ""  # closed on Mondays
    assert home.find(".//table[@data-tz='Europe/Paris']") is not None
    links = [a.get("href") for a in home.iter("a")]
    assert "https://www.openstreetmap.org/search?query=12%20rue%20de%20la%20R%C3%A9publique%2C%2069002%20Lyon" in links
    assert not list(home.iter("iframe"))
    form = tree(files["contact.html"]).find(".//form")
    assert form.get("method") == "post" and form.get("action") == f"{BASE_URL}contact"
    names = {field.get("name") for field in form.iter() if field.get("name")}
    assert {"name", "email", "phone", "message", "website", "page"} <= names


def test_open_now_uses_the_briefs_time_zone_not_only_the_sites_language():
    # An English site for a Paris business: "open now" on London time was an hour off.
    paris_in_english = {**BAKERY, "language": "en", "time_zone": "Europe/Paris"}
    assert validate_brief(paris_in_english) == {}
    home = tree(build(Brief.from_dict(paris_in_english))["index.html"])
    assert home.find(".//table[@data-tz='Europe/Paris']") is not None
    # Without one, the language's default zone as before.
    english = tree(build(Brief.from_dict({**BAKERY, "language": "en"}))["index.html"])
    assert english.find(".//table[@data-tz='Europe/London']") is not None


@pytest.mark.parametrize("zone", ["Mars/Olympus", 'Europe/Paris" onmouseover="x', 3, "../../etc/passwd"])
def test_an_unknown_time_zone_is_refused(zone: Any):
    assert list(validate_brief({**BAKERY, "time_zone": zone})) == ["time_zone"]


def test_urgent_pages_put_click_to_call_in_the_hero():
    files = build(Brief.from_dict(PLUMBER))
    hero = tree(files["emergency-call-out.html"]).find(".//section[@class='hero hero-split']")
    assert next(a.get("href") for a in hero.iter("a")) == "tel:01134960123"


def test_uploaded_photos_get_srcset_and_the_logo_replaces_the_monogram():
    photo = prepare_image(photo_bytes(), alt="La vitrine")
    logo = prepare_image(logo_bytes(), logo=True)
    data = {**BAKERY, "photos": [photo.ref()], "logo": logo.ref()}
    images = {f"assets/photos/{photo.id}-{w}.jpg": b for w, b in photo.renditions}
    images |= {f"assets/logo-{logo.id}-{w}.png": b for w, b in logo.renditions}
    brief = Brief.from_dict(data)

    files = build(brief, images)

    home = tree(files["index.html"])
    imgs = [img for img in home.iter("img") if img.get("alt") == "La vitrine"]
    assert imgs and imgs[0].get("srcset") == ", ".join(
        f"assets/photos/{photo.id}-{w}.jpg {w}w" for w in (480, 960, 1600)
    )
    brand = home.find(".//a[@class='brand']/img")
    assert brand.get("src") == f"assets/logo-{logo.id}-384.png"
    assert home.find(".//section[@class='gallery']") is not None
    for name in images:
        assert files[name] == images[name]
    with pytest.raises(ValueError, match="missing the image files"):
        build(brief, {})


def test_an_urgent_page_tells_the_visitor_to_call_when_the_brief_gives_a_phone():
    brief = Brief.from_dict(PLUMBER)
    text = " ".join(tree(build(brief)["emergency-call-out.html"]).find(".//main").itertext())
    assert "Ring 0113 496 0123" in text and "Call 0113 496 0123" in text
    no_phone = Brief.from_dict({k: v for k, v in PLUMBER.items() if k != "phone"})
    assert "Ring" not in " ".join(tree(build(no_phone)["emergency-call-out.html"]).find(".//main").itertext())
