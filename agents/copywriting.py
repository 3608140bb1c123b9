"""Page copy: the Copywriter protocol and the offline writer (the PageCopy shape is agents.page_copy's).

The offline writer assembles copy from the phrase banks (copy_fr, copy_en) with the brief's own words; a seeded
random generator picks between variants so a retry of the same page gives byte-identical copy.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agents import copy_en, copy_fr, copy_pages
from agents.page_copy import (
    HERO_LIMITS,
    MAX_SECTIONS,
    META_DESCRIPTION_MAX,
    MIN_SECTIONS,
    SECTION_LIMITS,
    TEXT_LIMITS,
    slug_of_page,
    validate_page_copy,
)
from orders.brief import Brief, ascii_fold, page_kind

BANKS = {"fr": copy_fr, "en": copy_en}
PAGES = copy_pages.PAGES
GENERIC = copy_pages.GENERIC
OFFER_MAX = 60


class Copywriter(Protocol):
    def write_page(
        self, *, brief: Brief, design: dict[str, Any], page: str, index: int, idempotency_key: str
    ) -> dict[str, Any]:
        """Return PageCopy for one page of the brief (see agents.page_copy for the shape)."""
        ...


def shorten(text: str, limit: int, suffix: str = "…") -> str:
    """Cut at a word boundary and add an ellipsis, so a shortened text never ends mid-word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - len(suffix) + 1]
    cut = cut[: cut.rfind(" ")] if " " in cut else cut[: limit - len(suffix)]
    return cut.rstrip(" ,;:.-\N{EN DASH}") + suffix


def fit(candidates: Sequence[str], limit: int) -> str:
    """The first candidate (whitespace collapsed) within `limit`; callers end the list with one that always fits.

    Choosing a shorter phrasing keeps every word whole: a 120-character name and an 80-character city make some
    templates too long for a field, never the field invalid. The last resort, should it still be too long, is
    cut at a word boundary.
    """
    texts = [" ".join(text.split()) for text in candidates]
    for text in texts:
        if text and len(text) <= limit:
            return text
    return shorten(texts[-1], limit)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s.strip()]


def offers_from_description(description: str) -> list[str]:
    """Pull a list of services out of text like 'Boiler repairs, bathroom fitting and call-outs.'"""
    offers: list[str] = []
    for sentence in re.split(r"[.;!?\n]+", description):
        segment = sentence.split(":", 1)[1] if ":" in sentence else sentence
        pieces = [p for p in re.split(r",\s*|\s+(?:et|and)\s+", segment) if p.strip()]
        if len(pieces) < 3 and ":" not in sentence:
            continue  # a lone phrase is a statement, not a list of services
        for piece in pieces:
            words = piece.split()
            # An offer becomes a section heading and a list item: a 6-word phrase, not a 2,000-character "word".
            if (
                1 <= len(words) <= 6
                and len(" ".join(words)) <= OFFER_MAX
                and piece.strip().lower() not in (o.lower() for o in offers)
            ):
                phrase = " ".join(words)
                offers.append(phrase if phrase[:2].isupper() else phrase[0].lower() + phrase[1:])
    return offers[:4]


def sector_vocabulary(brief: Brief) -> dict[str, Any]:
    """The phrase bank entry for the brief's sector; the generic one is filled with the brief's own words."""
    bank = BANKS[brief.language]
    family = brief.sector_family
    if family in bank.SECTORS:
        return bank.SECTORS[family]
    vocab = dict(GENERIC[brief.language])
    offers = offers_from_description(brief.description)
    if len(offers) >= 2:
        # Offers are the customer's words; braces are escaped because the phrase templates are formatted later.
        vocab["offers"] = tuple(o.replace("{", "{{").replace("}", "}}") for o in offers)
    return vocab


def _in_city(city: str, language: str) -> str:
    if not city:
        return PAGES[language]["no_city"]
    if language == "en":
        return f"in {city}"
    # French contracts "à Le" and "à Les" into "au" and "aux" (au Mans, aux Sables-d'Olonne).
    if city.startswith("Le "):
        return f"au {city[3:]}"
    if city.startswith("Les "):
        return f"aux {city[4:]}"
    return f"à {city}"


def _of_name(name: str, language: str) -> str:
    if language == "en":
        return f"of {name}"
    if name.startswith("Le "):
        return f"du {name[3:]}"
    if name.startswith("Les "):
        return f"des {name[4:]}"
    if ascii_fold(name[:1]) in tuple("aeiouyh"):
        return f"d'{name}"
    return f"de {name}"


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def copy_context(brief: Brief, page: str = "") -> dict[str, str]:
    """Values for the phrase-bank placeholders."""
    pages = PAGES[brief.language]
    # A sector with no letters or digits ("-", "?") says nothing a sentence or a keyword could use.
    has_words = re.search(r"[^\W_]", brief.sector) is not None
    generic_sector = (
        brief.sector.strip() if has_words else ("entreprise locale" if brief.language == "fr" else "local business")
    )
    context = {
        "name": brief.business_name,
        "city": brief.city or pages["no_city_bare"],
        "in_city": _in_city(brief.city, brief.language),
        "of_name": _of_name(brief.business_name, brief.language),
        "email": brief.contact_email,
        "title": page,
        "title_lower": page[:1].lower() + page[1:] if page[1:2].islower() or len(page) == 1 else page,
        "sector": generic_sector.lower() if not generic_sector.isupper() else generic_sector,
        "sector_title": _capitalise(generic_sector),
    }
    vocab = sector_vocabulary(brief)
    context["noun"] = vocab["noun"].format_map(context)
    context["noun_cap"] = _capitalise(context["noun"])
    context["approach"] = vocab["approach"].format_map(context)
    return context


@dataclass(frozen=True)
class _Writing:
    """Everything a page builder needs: the brief, its phrase banks, placeholder values and the seeded rng."""

    brief: Brief
    vocab: dict[str, Any]
    phrases: dict[str, Any]
    ctx: dict[str, str]
    rng: random.Random

    def fill(self, template: str) -> str:
        return template.format_map(self.ctx)

    def pair(self, item: tuple[str, str]) -> dict[str, str]:
        return {"heading": self.fill(item[0]), "body": self.fill(item[1])}

    def fit(self, templates: Sequence[str], limit: int) -> str:
        return fit([self.fill(t) for t in templates], limit)

    def hero(self, heading: str | Sequence[str], subheading: str | Sequence[str], cta_label: str) -> dict[str, str]:
        """Hero copy from templates tried in order; the business name, then the sector's placeholder-free
        subheadings, close each list so a brief at intake's length limits still fits (heading 160, sub 400)."""
        headings = [heading] if isinstance(heading, str) else list(heading)
        subs = [subheading] if isinstance(subheading, str) else list(subheading)
        return {
            "heading": self.fit([*headings, "{name}"], HERO_LIMITS["heading"]),
            "subheading": self.fit([*subs, *self.vocab["subheading"]], HERO_LIMITS["subheading"]),
            "cta_label": fit([cta_label], HERO_LIMITS["cta_label"]),
        }


Sections = list[dict[str, str]]


def _home(w: _Writing) -> tuple[dict[str, str], Sections]:
    intro = sentences(w.brief.description)
    # The customer's own first sentence is the most specific subheading there is.
    use_intro = bool(intro) and 20 <= len(intro[0]) <= 200
    sub = intro[0] if use_intro else w.rng.choice(w.vocab["subheading"])
    chosen = w.rng.choice(w.vocab["hero"])
    headings = [chosen, *(h for h in w.vocab["hero"] if h != chosen)]
    hero = w.hero(headings, sub.replace("{", "{{").replace("}", "}}"), w.vocab["cta"])
    details = w.vocab["offer_details"]
    offers = _capitalise(", ".join(w.fill(o) for o in w.vocab["offers"]))
    sections = [
        {"heading": w.fill(w.vocab["offers_heading"]), "body": f"{offers}. {w.fill(details[0])} {w.fill(details[1])}"},
        w.pair(w.rng.choice(w.vocab["values"])),
        {"heading": w.phrases["story_heading"], "body": w.fill(w.vocab["story"])},
    ]
    rest = intro[1:] if use_intro else intro
    if rest:
        sections.append({"heading": w.phrases["description_heading"], "body": " ".join(rest)})
    return hero, sections


def _about(w: _Writing) -> tuple[dict[str, str], Sections]:
    team = re.search(r"\b(equipe|team)\b", ascii_fold(w.ctx["title"])) is not None
    hero = w.hero(w.phrases["team_heading" if team else "about_heading"], w.phrases["about_sub"], w.vocab["cta"])
    sections = [{"heading": w.phrases["story_heading"], "body": w.fill(w.vocab["story"])}]
    if team:
        sections.append(w.pair(w.phrases["team_section"]))
    sections.append({"heading": w.phrases["approach_heading"], "body": w.ctx["approach"]})
    values = w.rng.sample(list(w.vocab["values"]), 2)
    sections.extend(w.pair(v) for v in values[: MAX_SECTIONS - len(sections)])
    return hero, sections


def _services(w: _Writing) -> tuple[dict[str, str], Sections]:
    hero = w.hero(w.vocab["offers_heading"], w.phrases["services_sub"], w.vocab["cta"])
    details = w.vocab["offer_details"]
    sections = [
        {
            "heading": fit([_capitalise(w.fill(offer))], SECTION_LIMITS["heading"]),
            "body": w.fill(details[i % len(details)]),
        }
        for i, offer in enumerate(w.vocab["offers"][:MAX_SECTIONS])
    ]
    if len(sections) < MIN_SECTIONS:
        sections.append(w.pair(w.rng.choice(w.vocab["values"])))
    return hero, sections


def _contact(w: _Writing) -> tuple[dict[str, str], Sections]:
    hero = w.hero(w.phrases["contact_heading"], w.phrases["contact_sub"], w.phrases["contact_cta"])
    where = w.vocab.get("where", w.phrases["contact_where"])
    return hero, [w.pair(w.phrases["contact_write"]), w.pair(where), w.pair(w.vocab["contact_tip"])]


def _pricing(w: _Writing) -> tuple[dict[str, str], Sections]:
    hero = w.hero("{title}", w.phrases["pricing_sub"], w.vocab["cta"])
    return hero, [*(w.pair(item) for item in w.vocab["pricing"]), w.pair(w.phrases["pricing_quote"])]


def _emergency(w: _Writing) -> tuple[dict[str, str], Sections]:
    phone = w.brief.details.phone
    subs = [w.phrases["emergency_sub_phone"].replace("{phone}", phone)] if phone else []
    # A 320-character address does not fit a 400-character subheading with the rest of the sentence.
    subs += [w.phrases["emergency_sub"], w.phrases["emergency_sub_short"]]
    hero = w.hero(w.phrases["emergency_heading"], subs, w.phrases["contact_cta"])
    sections = [*(w.pair(item) for item in w.vocab["emergency"]), w.pair(w.vocab["contact_tip"])]
    if phone:
        # An urgent job is a phone call, not an email: the number leads the page (digits and separators only).
        heading, body = w.phrases["emergency_call"]
        sections.insert(0, w.pair((heading, body.replace("{phone}", phone))))
    return hero, sections


def _generic(w: _Writing) -> tuple[dict[str, str], Sections]:
    hero = w.hero("{title}", w.phrases["generic_sub"], w.vocab["cta"])
    folded = ascii_fold(w.ctx["title"])
    # A page titled after something the sector knows ("Nos pains", "Boilers") gets that topic's specific text.
    topic = next((t for key, t in w.vocab["topics"].items() if re.search(rf"\b{key}", folded)), None)
    first = w.pair(topic) if topic else w.pair(w.phrases["generic_intro"])
    return hero, [first, w.pair(w.rng.choice(w.vocab["values"])), w.pair(w.phrases["generic_question"])]


PAGE_BUILDERS: dict[str, Callable[[_Writing], tuple[dict[str, str], Sections]]] = {
    "home": _home,
    "about": _about,
    "services": _services,
    "contact": _contact,
    "pricing": _pricing,
    "emergency": _emergency,
    "generic": _generic,
}


def _summary(text: str, fallbacks: list[str], limit: int) -> str:
    """`text` cut at a word boundary when its cut keeps at least half the limit; else the first fallback that fits."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        return shorten(text, limit)
    return fit(fallbacks, limit)


class OfflineCopywriter:
    """Copy from phrase banks and the brief; no network, deterministic per (brief, page, index)."""

    def write_page(
        self, *, brief: Brief, design: dict[str, Any], page: str, index: int, idempotency_key: str
    ) -> dict[str, Any]:
        # idempotency_key matters to paid providers; this writer is deterministic, so a retry already matches.
        del design, idempotency_key
        seed = f"{brief.business_name}|{brief.sector}|{brief.city}|{brief.language}|{page}|{index}"
        rng = random.Random(int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16))
        phrases = PAGES[brief.language]
        w = _Writing(brief, sector_vocabulary(brief), phrases, copy_context(brief, page), rng)
        kind = page_kind(page)
        if index == 0 and kind == "generic":
            kind = "home"
        hero, sections = PAGE_BUILDERS[kind](w)

        # Titles fall back to shorter phrasings, ending with the name or the page title alone (both within the
        # title limit by intake's own limits), so a long name is never cut; the meta description, a summary,
        # is cut at a word boundary, or falls back the same way when its first words are too long.
        if kind == "home":
            title = w.fit([phrases["home_title"], phrases["home_title_short"], "{name}"], TEXT_LIMITS["title"])
            offers = phrases["offers_joiner"].join(w.fill(o) for o in w.vocab["offers"][:3])
            full_meta = w.fill(phrases["home_meta"].replace("{offers}", offers.replace("{", "{{").replace("}", "}}")))
            meta_fallbacks = [phrases["home_meta_short"], "{name}"]
        else:
            title = w.fit([phrases["page_title"], "{title}"], TEXT_LIMITS["title"])
            full_meta = w.fill(
                phrases["page_meta"].replace("{sub}", hero["subheading"].replace("{", "{{").replace("}", "}}"))
            )
            meta_fallbacks = ["{title} – {name}.", "{title}."]  # noqa: RUF001 (typographic dash)
        meta = _summary(full_meta, [w.fill(t) for t in meta_fallbacks], META_DESCRIPTION_MAX)
        slug = slug_of_page(brief.pages, page, index)
        return validate_page_copy(
            {
                "slug": slug,
                "title": title,
                "nav_label": shorten(page, 30),
                "meta_description": meta,
                "hero": hero,
                "sections": sections,
            }
        )
