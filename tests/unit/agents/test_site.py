import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import html5lib
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agents.ads import build_campaign, validate_campaign
from agents.copywriting import OfflineCopywriter
from agents.design import SITE_COLOUR_PAIRS, generate_design
from agents.site import initials, render_site, site_manifest
from orders.brief import Brief, validate_brief
from tests.support.briefs import FRENCH_LEGAL, load_briefs

BASE_URL = "https://boulangerie-martin-lyon.vercel.app/"
VALID = load_briefs()[:3]
OUTBOUND_LINKS = ("https://www.openstreetmap.org/search?query=",)
URL_ATTRIBUTES = ("src", "href", "srcset", "action", "poster", "data", "formaction")


def build(brief: Brief, base_url: str = BASE_URL) -> dict[str, bytes]:
    design = generate_design(brief)
    writer = OfflineCopywriter()
    pages = [
        writer.write_page(brief=brief, design=design, page=page, index=i, idempotency_key=f"k{i}")
        for i, page in enumerate(brief.pages)
    ]
    return render_site(brief=brief, design=design, pages=pages, base_url=base_url)


@pytest.fixture(scope="module")
def sites() -> dict[str, dict[str, bytes]]:
    return {data["business_name"]: build(Brief.from_dict(data)) for data in VALID}


def html_pages(files: dict[str, bytes]) -> dict[str, str]:
    return {path: content.decode("utf-8") for path, content in files.items() if path.endswith(".html")}


def xml(data: bytes) -> ET.Element:
    return ET.fromstring(data)  # noqa: S314 - parses our own build output, not untrusted input


def tree(html: str) -> ET.Element:
    return html5lib.parse(html, namespaceHTMLElements=False)


def test_one_html_file_per_page_plus_assets(sites):
    files = sites["Leeds Rapid Plumbing"]
    assert sorted(files) == sorted(
        [
            "index.html",
            "services.html",
            "emergency-call-out.html",
            "about.html",
            "contact.html",
            "legal-notice.html",
            "privacy.html",
            "assets/site.css",
            "assets/logo.svg",
            "sitemap.xml",
            "robots.txt",
        ]
    )


@pytest.mark.parametrize("name", [d["business_name"] for d in VALID])
def test_every_page_parses_as_strict_html5(sites, name):
    for path, html in html_pages(sites[name]).items():
        assert html.startswith("<!DOCTYPE html>"), path
        html5lib.HTMLParser(strict=True).parse(html)  # raises ParseError on the first error


@pytest.mark.parametrize("name", [d["business_name"] for d in VALID])
def test_pages_make_no_external_requests(sites, name):
    for path, html in html_pages(sites[name]).items():
        for element in tree(html).iter():
            for attribute in URL_ATTRIBUTES:
                value = element.get(attribute, "")
                if element.tag == "a" and attribute == "href" and value.startswith(OUTBOUND_LINKS):
                    continue  # a link the visitor may follow, never loaded by the page
                if element.tag == "form" and attribute == "action" and value == f"{BASE_URL}contact":
                    continue  # the contact form posts to the product, only when the visitor sends it
                assert not re.match(r"^\s*(https?:)?//", value, re.I), (path, element.tag, value)
        # Absolute URLs only point at the site itself (og:url, JSON-LD), name the schema.org vocabulary, or are
        # the map link.
        for url in re.findall(r"https?://[^\s\"'<>]+", html):
            assert url.startswith((BASE_URL, *OUTBOUND_LINKS)) or url == "https://schema.org", (path, url)
    css = sites[name]["assets/site.css"].decode()
    assert "url(" not in css
    assert "@import" not in css
    assert "http" not in css


@pytest.mark.parametrize("data", VALID, ids=lambda d: d["business_name"])
def test_every_page_has_lang_meta_description_open_graph_and_contact(sites, data):
    for path, html in html_pages(sites[data["business_name"]]).items():
        root = tree(html)
        assert root.get("lang") == data["language"]
        metas = {(m.get("name") or m.get("property")): m.get("content") for m in root.iter("meta")}
        assert metas["description"] and len(metas["description"]) <= 160
        assert metas["og:title"]
        assert metas["og:description"] == metas["description"]
        assert metas["og:url"].startswith(BASE_URL)
        assert root.find(".//title").text == metas["og:title"]
        # The footer carries the contact details on every page.
        mailtos = [a.get("href") for a in root.iter("a") if a.get("href", "").startswith("mailto:")]
        assert f"mailto:{data['contact_email']}" in mailtos, path
        assert data["city"] in "".join(root.find(".//footer").itertext())


@pytest.mark.parametrize("name", [d["business_name"] for d in VALID])
def test_relative_links_resolve_to_rendered_files(sites, name):
    files = sites[name]
    for path, html in html_pages(files).items():
        for element in tree(html).iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value and not value.startswith(("mailto:", "tel:", "#", *OUTBOUND_LINKS)):
                    assert value in files, (path, value)


def test_navigation_marks_the_current_page(sites):
    for path, html in html_pages(sites["Cabinet Durand & Associés"]).items():
        current = [a.get("href") for a in tree(html).iter("a") if a.get("aria-current") == "page"]
        assert current == [path]


@pytest.mark.parametrize("name", [d["business_name"] for d in VALID])
def test_sitemap_is_xml_listing_every_page_with_absolute_urls(sites, name):
    files = sites[name]
    root = xml(files["sitemap.xml"])
    namespace = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    locations = [loc.text for loc in root.iter(f"{namespace}loc")]
    pages = [path for path in files if path.endswith(".html")]
    assert len(locations) == len(pages)
    assert locations[0] == BASE_URL
    assert {BASE_URL + p for p in pages if p != "index.html"} <= set(locations)
    robots = files["robots.txt"].decode()
    assert f"Sitemap: {BASE_URL}sitemap.xml" in robots
    assert "User-agent: *" in robots


def test_sitemap_urls_follow_a_base_url_without_trailing_slash():
    files = build(Brief.from_dict(VALID[1]), "http://localhost:8000/sites/leeds-rapid-plumbing")
    root = xml(files["sitemap.xml"])
    assert "http://localhost:8000/sites/leeds-rapid-plumbing/services.html" in "".join(root.itertext())


def test_stylesheet_uses_the_design_palette_and_fonts_and_is_responsive(sites):
    design = generate_design(Brief.from_dict(VALID[0]))
    css = sites["Boulangerie Martin"]["assets/site.css"].decode()
    for colour in design["palette"].values():
        assert colour in css
    assert design["fonts"]["heading"] in css
    assert "@media (max-width: 48rem)" in css
    assert ".nav-open .site-nav" in css
    assert css.count("{") == css.count("}")


def test_every_text_colour_pair_in_the_stylesheet_is_a_checked_contrast_pair(sites):
    """Guard: a CSS rule that sets both colour and background must use a pair the design checked."""
    css = sites["Leeds Rapid Plumbing"]["assets/site.css"].decode()
    checked = {(fg, bg) for fg, bg, _usage in SITE_COLOUR_PAIRS}
    found = set()
    for body in re.findall(r"\{([^{}]*)\}", css):
        colour = re.search(r"(?<![-\w])color:\s*var\(--([\w-]+)\)", body)
        background = re.search(r"background:\s*var\(--([\w-]+)\)", body)
        if colour and background:
            pair = (colour.group(1).replace("-", "_"), background.group(1).replace("-", "_"))
            found.add(pair)
            assert pair in checked, pair
    assert len(found) >= 5


def test_brief_text_is_escaped_everywhere():
    brief = Brief.from_dict(
        {
            "business_name": 'Chez <script>alert("x")</script> & Fils',
            "sector": "bakery",
            "city": "Lyon <b>",
            "description": "Pain </script><img src=x onerror=alert(1)> & brioches.",
            "pages": ["Accueil", "<Tarifs>", "Contact"],
            "contact_email": "contact@chez-fils.example",
            "language": "fr",
            **FRENCH_LEGAL,
        }
    )
    files = build(brief)
    for path, html in html_pages(files).items():
        html5lib.HTMLParser(strict=True).parse(html)
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path
        scripts = [s for s in tree(html).iter("script") if s.get("type") != "application/ld+json"]
        assert len(scripts) == 2  # the two inline scripts (class switch; menu, hours, form), nothing injected
    xml(files["assets/logo.svg"])
    xml(files["sitemap.xml"])


def test_logo_is_an_svg_monogram_in_brand_colours(sites):
    design = generate_design(Brief.from_dict(VALID[2]))
    root = xml(sites["Cabinet Durand & Associés"]["assets/logo.svg"])
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = root.find("{http://www.w3.org/2000/svg}text")
    assert text.text == "CD"
    assert root.find("{http://www.w3.org/2000/svg}rect").get("fill") == design["palette"]["primary"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Boulangerie Martin", "BM"), ("Cabinet Durand & Associés", "CD"), ("L'Atelier", "A"), ("the 3 brothers", "3B")],
)
def test_initials(name, expected):
    assert initials(name) == expected


def test_each_sector_family_gets_its_own_inline_illustration(sites):
    illustrations = set()
    for files in sites.values():
        svgs = re.findall(r'<svg class="illustration".*?</svg>', files["index.html"].decode(), re.S)
        assert len(svgs) == 1
        assert 'aria-hidden="true"' in svgs[0]
        illustrations.add(re.sub(r"#[0-9a-f]{6}", "", svgs[0]))
    assert len(illustrations) == 3


def test_rendering_is_deterministic_and_the_manifest_lists_every_file(sites):
    files = build(Brief.from_dict(VALID[0]))
    assert files == sites["Boulangerie Martin"]
    manifest = site_manifest(files)
    assert manifest["count"] == len(files)
    assert [entry["path"] for entry in manifest["files"]] == sorted(files)
    assert manifest["total_bytes"] == sum(len(c) for c in files.values())
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"])
    assert site_manifest(dict(reversed(list(files.items()))))["sha256"] == manifest["sha256"]


@pytest.mark.parametrize("base_url", ["", "ftp://x.example/", "/sites/x/", 'https://x.example/"><script>'])
def test_render_refuses_a_base_url_that_is_not_absolute_http(base_url):
    with pytest.raises(ValueError, match="base_url"):
        build(Brief.from_dict(VALID[1]), base_url)


def test_render_refuses_a_design_that_would_inject_css():
    brief = Brief.from_dict(VALID[1])
    design = generate_design(brief)
    page = OfflineCopywriter().write_page(brief=brief, design=design, page="Home", index=0, idempotency_key="k")
    bad_font = {**design, "fonts": {**design["fonts"], "body": "Arial; } body { background: url(//evil.example/x)"}}
    with pytest.raises(ValueError, match="font"):
        render_site(brief=brief, design=bad_font, pages=[page], base_url=BASE_URL)
    bad_colour = {**design, "palette": {**design["palette"], "text": "red"}}
    with pytest.raises(ValueError, match="palette"):
        render_site(brief=brief, design=bad_colour, pages=[page], base_url=BASE_URL)
    with pytest.raises(ValueError, match="slug"):
        render_site(brief=brief, design=design, pages=[{**page, "slug": "../x"}], base_url=BASE_URL)


def _chromium() -> str | None:
    return next(
        (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None
    )


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no Chromium binary on this machine")
@pytest.mark.parametrize("width", [360, 768, 1280])
def test_pages_do_not_overflow_horizontally_and_load_nothing_remote(sites, tmp_path, width):
    sync_api = pytest.importorskip("playwright.sync_api")
    for name, files in sites.items():
        root = tmp_path / re.sub(r"\W+", "-", name)
        for path, content in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(content)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": 800})
            remote: list[str] = []
            page.on(
                "request", lambda request: remote.append(request.url) if not request.url.startswith("file:") else None
            )
            for html in sorted(tmp_path.rglob("*.html")):
                page.goto(Path(html).as_uri())
                assert page.evaluate("document.documentElement.scrollWidth") <= width, html
                if width < 768:
                    page.click(".nav-toggle")
                    assert page.is_visible("#site-nav")
                    assert page.evaluate("document.documentElement.scrollWidth") <= width, html
        finally:
            browser.close()
    assert remote == []


TEXT = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"), exclude_characters="\x85\u2028\u2029"),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip())


@st.composite
def any_brief(draw: st.DrawFn) -> Brief:
    pages = draw(
        st.lists(
            TEXT.map(lambda s: s[:60]), min_size=1, max_size=12, unique_by=lambda s: " ".join(s.split()).casefold()
        )
    )
    data = {
        "business_name": draw(TEXT),
        "sector": draw(
            st.sampled_from(["bakery", "plombier", "avocat", "restaurant", "coiffeur", "", "fleuriste"]) | TEXT
        ),
        "city": draw(st.sampled_from(["", "Lyon", "Le Mans", "Saint-Étienne"]) | TEXT),
        "description": draw(st.text(max_size=300)),
        "pages": pages,
        "brand_color": draw(st.from_regex(r"#[0-9a-f]{6}", fullmatch=True)),
        "language": draw(st.sampled_from(["fr", "en"])),
        "contact_email": "owner@example.com",
        **FRENCH_LEGAL,
    }
    assume(validate_brief(data) == {})
    return Brief.from_dict(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(brief=any_brief())
def test_any_valid_brief_gives_valid_copy_a_strict_html5_site_and_a_valid_campaign(brief):
    files = build(brief)
    for html in html_pages(files).values():
        html5lib.HTMLParser(strict=True).parse(html)
    xml(files["sitemap.xml"])
    xml(files["assets/logo.svg"])
    for pair in generate_design(brief)["contrast_pairs"]:
        assert pair["ratio"] >= 4.5
    assert validate_campaign(build_campaign(brief=brief)) == []
