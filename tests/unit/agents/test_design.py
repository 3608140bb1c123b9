import json

import pytest

from agents.design import WCAG_AA, contrast_ratio, ensure_contrast, generate_design, relative_luminance
from orders.brief import SECTOR_FAMILIES, Brief
from tests.support.briefs import FRENCH_LEGAL, load_briefs

VALID = load_briefs()[:3]
AWKWARD_COLOURS = ["#ffff00", "#000000", "#777777", "#ffffff", "#00ff00", "#ff00ff", "#0000ff", "#8a4b2a"]
SECTORS = {
    "bakery": "bakery",
    "plumber": "plumber",
    "law": "law firm",
    "restaurant": "restaurant",
    "hairdresser": "hairdresser",
    "generic": "consulting",
}


def brief_for(colour: str, sector: str) -> Brief:
    return Brief.from_dict(
        {
            "business_name": "Test",
            "sector": sector,
            "brand_color": colour,
            "contact_email": "t@test.example",
            **FRENCH_LEGAL,
        }
    )


def test_contrast_ratio_matches_wcag_reference_values():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1.0)
    # #777777 on white is the classic "just fails AA" grey (4.48:1).
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert relative_luminance("#ffffff") == pytest.approx(1.0)
    assert relative_luminance("#000000") == pytest.approx(0.0)


def test_contrast_ratio_rejects_malformed_colours():
    with pytest.raises(ValueError, match="#rrggbb"):
        contrast_ratio("red", "#ffffff")


def _assert_pairs_pass(design: dict) -> None:
    assert design["contrast_pairs"], "the design must list the pairs it uses"
    for pair in design["contrast_pairs"]:
        ratio = contrast_ratio(pair["foreground"], pair["background"])
        assert ratio >= WCAG_AA, pair
        assert pair["ratio"] <= ratio  # the reported figure never overstates
        assert pair["ratio"] >= WCAG_AA


@pytest.mark.parametrize("data", VALID, ids=lambda d: d["business_name"])
def test_every_contrast_pair_meets_wcag_aa_for_fixture_briefs(data):
    _assert_pairs_pass(generate_design(Brief.from_dict(data)))


@pytest.mark.parametrize("colour", AWKWARD_COLOURS)
@pytest.mark.parametrize("sector", SECTORS.values())
def test_every_contrast_pair_meets_wcag_aa_for_awkward_colours(colour, sector):
    _assert_pairs_pass(generate_design(brief_for(colour, sector)))


def test_brand_colour_is_kept_when_it_already_passes_and_only_its_lightness_moves_otherwise():
    kept = generate_design(brief_for("#0b5cab", "plumber"))["palette"]
    assert kept["primary"] == "#0b5cab"
    adjusted = generate_design(brief_for("#ffff00", "plumber"))["palette"]
    assert adjusted["brand"] == "#ffff00"
    assert adjusted["primary"] != "#ffff00"
    r, g, b = (int(adjusted["primary"][i : i + 2], 16) for i in (1, 3, 5))
    assert r == g > b  # still a yellow hue, only darker


def test_ensure_contrast_lightens_on_dark_backgrounds():
    colour = ensure_contrast("#333333", ["#111111"])
    assert contrast_ratio(colour, "#111111") >= WCAG_AA
    assert relative_luminance(colour) > relative_luminance("#333333")


def test_design_is_deterministic_and_json_serialisable():
    brief = Brief.from_dict(VALID[0])
    first, second = generate_design(brief), generate_design(brief)
    assert first == second
    assert json.loads(json.dumps(first)) == first


def test_sector_drives_palette_and_font_mood():
    designs = {family: generate_design(brief_for("#2454a6", sector)) for family, sector in SECTORS.items()}
    assert {d["sector_family"] for d in designs.values()} == set(SECTOR_FAMILIES)
    assert len({d["palette"]["background"] for d in designs.values()}) >= 4
    assert designs["law"]["fonts"]["heading"].endswith("serif") and "sans" not in designs["law"]["fonts"]["heading"]
    assert (
        designs["bakery"]["fonts"]["heading"].endswith("serif") and "sans" not in designs["bakery"]["fonts"]["heading"]
    )
    assert designs["plumber"]["fonts"]["heading"].endswith("sans-serif")


def test_fonts_are_system_stacks_with_no_remote_fonts():
    for sector in SECTORS.values():
        fonts = generate_design(brief_for("#123456", sector))["fonts"]
        for stack in (fonts["heading"], fonts["body"]):
            assert "url(" not in stack
            assert "http" not in stack
            assert stack.split(",")[-1].strip() in ("serif", "sans-serif")


def test_layout_per_page_follows_the_page_kind():
    design = generate_design(Brief.from_dict(VALID[2]))
    kinds = [(layout["page"], layout["kind"]) for layout in design["layouts"]]
    assert kinds == [
        ("Accueil", "home"),
        ("Expertises", "services"),
        ("L'équipe", "about"),
        ("Honoraires", "pricing"),
        ("Contact", "contact"),
    ]
    assert design["composition"] == "practice"  # a law firm: what it does first, then who it is
    assert design["layouts"][0]["hero"] == "banner"
    assert "contact" in design["layouts"][4]["blocks"]
    for layout in design["layouts"]:
        assert layout["blocks"][0] == "hero"
