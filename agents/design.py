"""design-ia: a design spec (palette, fonts, layouts) derived from the brief, deterministic and offline.

Every text/background pair the site uses is listed in `contrast_pairs` and meets WCAG 2.x AA (4.5:1);
site.py only uses colours in those pairs, so the guarantee holds on the rendered pages.
"""

from __future__ import annotations

import colorsys
import copy
import math
import re
from dataclasses import dataclass
from typing import Any

from orders.brief import Brief, page_kind

WCAG_AA = 4.5
HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
WHITE = "#ffffff"

SERIF_CLASSIC = 'Georgia, Cambria, "Times New Roman", Times, serif'
SERIF_BOOK = '"Iowan Old Style", "Palatino Linotype", Palatino, "Book Antiqua", Georgia, serif'
SERIF_DIDONE = 'Didot, "Bodoni MT", "Hoefler Text", Georgia, serif'
SANS_SYSTEM = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
SANS_HUMANIST = '"Avenir Next", Avenir, "Segoe UI", "Trebuchet MS", Arial, sans-serif'
SANS_STRONG = '"Franklin Gothic Medium", "Arial Narrow", "Helvetica Neue", Arial, sans-serif'


@dataclass(frozen=True)
class SectorStyle:
    mood: str
    background_hue: float | None  # None: take the brand colour's hue
    background_saturation: float
    accent_hue: float | None  # None: one analogous step from the brand colour
    heading_font: str
    body_font: str
    font_label: str
    radius: str


# Why these choices: warm cream and serif headings read "artisan" for food; cool tints and sturdy sans read
# "reliable" for trades; near-neutral paper and a book serif read "formal" for law.
SECTOR_STYLES: dict[str, SectorStyle] = {
    "bakery": SectorStyle("warm", 38, 0.65, 40, SERIF_BOOK, SANS_HUMANIST, "book serif + humanist sans", "14px"),
    "plumber": SectorStyle("dependable", None, 0.35, 28, SANS_STRONG, SANS_SYSTEM, "strong sans + system sans", "6px"),
    "law": SectorStyle("formal", 45, 0.18, 42, SERIF_CLASSIC, SERIF_BOOK, "classic serif + book serif", "2px"),
    "restaurant": SectorStyle("convivial", 30, 0.55, 8, SERIF_CLASSIC, SANS_HUMANIST, "serif + humanist sans", "12px"),
    "hairdresser": SectorStyle("elegant", 330, 0.4, None, SERIF_DIDONE, SANS_HUMANIST, "didone + humanist", "20px"),
    "generic": SectorStyle("modern", None, 0.3, None, SANS_SYSTEM, SANS_SYSTEM, "system sans", "8px"),
}

# How each kind of page is laid out: hero style, how sections are arranged, and the order of blocks.
PAGE_LAYOUTS: dict[str, dict[str, Any]] = {
    "home": {"hero": "split", "content": "grid", "blocks": ["hero", "sections", "cta", "contact"]},
    "about": {"hero": "compact", "content": "stacked", "blocks": ["hero", "sections", "cta"]},
    "services": {"hero": "compact", "content": "grid", "blocks": ["hero", "sections", "cta"]},
    "contact": {"hero": "compact", "content": "columns", "blocks": ["hero", "contact", "sections"]},
    "pricing": {"hero": "compact", "content": "columns", "blocks": ["hero", "sections", "cta"]},
    "emergency": {"hero": "split", "content": "steps", "blocks": ["hero", "contact", "sections"]},
    "generic": {"hero": "compact", "content": "stacked", "blocks": ["hero", "sections", "cta"]},
}


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    if not HEX.match(color):
        raise ValueError(f"expected a colour as #rrggbb, got {color!r}")
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def rgb_to_hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(channel))):02x}" for channel in rgb)


def relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of an sRGB colour."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in hex_to_rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(hex_a: str, hex_b: str) -> float:
    """WCAG 2.x contrast ratio, from 1.0 to 21.0, order-independent."""
    lighter, darker = sorted((relative_luminance(hex_a), relative_luminance(hex_b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _to_hls(color: str) -> tuple[float, float, float]:
    r, g, b = hex_to_rgb(color)
    return colorsys.rgb_to_hls(r / 255, g / 255, b / 255)


def _from_hls(hue: float, lightness: float, saturation: float) -> str:
    r, g, b = colorsys.hls_to_rgb(hue % 1.0, min(1.0, max(0.0, lightness)), min(1.0, max(0.0, saturation)))
    return rgb_to_hex((r * 255, g * 255, b * 255))


def ensure_contrast(color: str, against: list[str], minimum: float = WCAG_AA) -> str:
    """Move `color`'s lightness (keeping hue and saturation) until it reaches `minimum` against every colour.

    Darken when black contrasts better with the backgrounds than white does, otherwise lighten;
    fall back to black or white, which always give the best reachable contrast.
    """
    if all(contrast_ratio(color, other) >= minimum for other in against):
        return color
    darken = min(contrast_ratio("#000000", o) for o in against) >= min(contrast_ratio(WHITE, o) for o in against)
    hue, lightness, saturation = _to_hls(color)
    step = -0.01 if darken else 0.01
    while 0.0 <= lightness <= 1.0:
        lightness += step
        candidate = _from_hls(hue, lightness, saturation)
        if all(contrast_ratio(candidate, other) >= minimum for other in against):
            return candidate
    return "#000000" if darken else WHITE


def _best_text_on(background: str, light: str, dark: str) -> str:
    return light if contrast_ratio(light, background) >= contrast_ratio(dark, background) else dark


# Accent hues within this distance of the brand's read as one family (analogous); further out they compete
# with it (a mint accent beside a pink brand). Greys have no hue to clash with.
HARMONY_MAX_DEGREES = 45.0
ANALOGOUS_STEP_DEGREES = 30.0


def hue_distance(a: float, b: float) -> float:
    """Distance between two hues on the colour wheel, in degrees (0-180); hues given as 0-1 turns."""
    d = abs(a - b) % 1.0
    return min(d, 1.0 - d) * 360


def harmonious_accent_hue(brand_hue: float, sector_hue: float | None, *, neutral: bool) -> float:
    """The accent's hue (0-1): the sector's when it sits near the brand's, else one analogous step towards it."""
    if neutral:
        return (sector_hue if sector_hue is not None else 211) / 360
    if sector_hue is None:
        return (brand_hue + ANALOGOUS_STEP_DEGREES / 360) % 1.0
    target = sector_hue / 360
    if hue_distance(target, brand_hue) <= HARMONY_MAX_DEGREES:
        return target
    # Step from the brand towards the sector's hue, the short way round the wheel.
    direction = 1 if (target - brand_hue) % 1.0 < 0.5 else -1
    return (brand_hue + direction * ANALOGOUS_STEP_DEGREES / 360) % 1.0


def accent_harmony(palette: dict[str, str]) -> dict[str, Any]:
    """How the accent sits beside the brand colour: the hue distance and whether it stays analogous."""
    brand_hue, _l, brand_saturation = _to_hls(palette["brand"])
    accent_hue, _l2, accent_saturation = _to_hls(palette["accent"])
    neutral = brand_saturation < 0.05 or accent_saturation < 0.05
    distance = 0.0 if neutral else round(hue_distance(brand_hue, accent_hue), 1)
    return {"hue_distance": distance, "harmonious": distance <= HARMONY_MAX_DEGREES, "scheme": "analogous"}


def build_palette(brand_color: str, family: str) -> dict[str, str]:
    """Palette from the brand colour, tinted by the sector; every colour that carries text is contrast-checked."""
    style = SECTOR_STYLES.get(family, SECTOR_STYLES["generic"])
    brand_hue, _brand_lightness, brand_saturation = _to_hls(brand_color.lower())
    neutral = brand_saturation < 0.05  # greys have no meaningful hue to tint with
    bg_hue = brand_hue if style.background_hue is None else style.background_hue / 360
    bg_saturation = 0.0 if neutral and style.background_hue is None else style.background_saturation

    background = _from_hls(bg_hue, 0.975, bg_saturation)
    surface = _from_hls(bg_hue, 0.935, bg_saturation * 0.8)
    light_backgrounds = [background, surface]

    ink_saturation = 0.0 if neutral else 0.3
    text = ensure_contrast(_from_hls(brand_hue, 0.13, ink_saturation), light_backgrounds, 7.0)
    muted = ensure_contrast(_from_hls(brand_hue, 0.36, ink_saturation * 0.5), light_backgrounds)

    # The brand colour is kept when it already reads on the light backgrounds; otherwise only its lightness moves.
    primary = ensure_contrast(brand_color.lower(), light_backgrounds)
    on_primary = ensure_contrast(_best_text_on(primary, WHITE, text), [primary])

    accent_hue = harmonious_accent_hue(brand_hue, style.accent_hue, neutral=neutral)
    accent_seed = _from_hls(accent_hue, 0.5, 0.7)
    on_accent = _best_text_on(accent_seed, WHITE, text)
    accent = ensure_contrast(accent_seed, [on_accent])

    return {
        "brand": brand_color.lower(),
        "primary": primary,
        "on_primary": on_primary,
        "background": background,
        "surface": surface,
        "text": text,
        "muted": muted,
        "accent": accent,
        "on_accent": on_accent,
    }


# (foreground, background, usage): every text colour the stylesheet puts on every background.
SITE_COLOUR_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("text", "background", "body text"),
    ("muted", "background", "secondary text on the page"),
    ("primary", "background", "links, headings accents and active navigation"),
    ("text", "surface", "text in cards, hero and mobile navigation"),
    ("muted", "surface", "captions in cards and hero"),
    ("primary", "surface", "links in cards and hero"),
    ("on_primary", "primary", "buttons, step numbers and call-to-action band"),
    ("primary", "on_primary", "inverse button on the call-to-action band"),
    ("on_accent", "accent", "badges and secondary buttons"),
    ("background", "text", "footer text and links"),
)


def contrast_pairs(palette: dict[str, str]) -> list[dict[str, Any]]:
    pairs = []
    for fg_name, bg_name, usage in SITE_COLOUR_PAIRS:
        fg, bg = palette[fg_name], palette[bg_name]
        # Round down so the reported figure never claims more contrast than there is.
        ratio = math.floor(contrast_ratio(fg, bg) * 100) / 100
        pairs.append({"foreground": fg, "background": bg, "ratio": ratio, "usage": f"{fg_name} on {bg_name}: {usage}"})
    return pairs


# Page compositions: what the home page leads with, chosen from the sector and the brief.
# storefront: a shop people visit (hours and address first, photos); rapid: a trade people call (the phone
# first, then how a call-out goes); practice: a firm people consult (what it does, then who it is).
COMPOSITIONS: dict[str, dict[str, Any]] = {
    "storefront": {"hero": "split", "content": "grid", "blocks": ["hero", "visit", "sections", "cta", "contact"]},
    "rapid": {"hero": "split", "content": "columns", "blocks": ["hero", "callbar", "sections", "cta", "contact"]},
    "practice": {"hero": "banner", "content": "stacked", "blocks": ["hero", "sections", "facts", "cta", "contact"]},
}
STOREFRONT_FAMILIES = frozenset({"bakery", "restaurant", "hairdresser"})


def choose_composition(brief: Brief) -> str:
    family = brief.sector_family
    if family == "law":
        return "practice"
    if family == "plumber" or any(page_kind(title) == "emergency" for title in brief.pages):
        return "rapid"
    if family in STOREFRONT_FAMILIES or brief.details.opening_hours:
        return "storefront"
    return "practice"


def page_layouts(
    pages: tuple[str, ...] | list[str], composition: str = "", *, photos: bool = False
) -> list[dict[str, Any]]:
    layouts = []
    for index, title in enumerate(pages):
        kind = "home" if index == 0 and page_kind(title) in ("home", "generic") else page_kind(title)
        layout = copy.deepcopy(COMPOSITIONS[composition] if kind == "home" and composition else PAGE_LAYOUTS[kind])
        if kind == "contact":
            # The contact form sits right under the ways to reach the business; the hours and map link after it.
            layout["blocks"] = ["hero", "contact", "form", "visit", "sections"]
        if composition == "rapid" and kind != "home" and "callbar" not in layout["blocks"]:
            layout["blocks"].insert(1, "callbar")  # a trade people call: the number right under every title
        if photos and kind in ("home", "about"):
            layout["blocks"].insert(layout["blocks"].index("sections") + 1, "gallery")
        layouts.append({"page": title, "kind": kind, **layout})
    if not any(layout["kind"] == "contact" for layout in layouts):
        layouts[0]["blocks"].append("form")  # no contact page: the form goes on the home page
    return layouts


def generate_design(brief: Brief) -> dict[str, Any]:
    """The full design spec for a brief: JSON-serialisable, deterministic."""
    family = brief.sector_family
    style = SECTOR_STYLES[family]
    palette = build_palette(brief.brand_color, family)
    composition = choose_composition(brief)
    return {
        "version": 2,
        "sector_family": family,
        "composition": composition,
        "mood": style.mood,
        "palette": palette,
        "fonts": {"heading": style.heading_font, "body": style.body_font, "pairing": style.font_label},
        "shape": {"radius": style.radius},
        "illustration": family,
        "layouts": page_layouts(brief.pages, composition, photos=bool(brief.details.photos)),
        "contrast_pairs": contrast_pairs(palette),
        "accent_harmony": accent_harmony(palette),
    }
