"""automation.build (rendering only): a static site from the brief, the design spec and the page copy.

Pages are flat files (`index.html`, `<slug>.html`) beside `assets/`, so every link is a plain relative path that
works under Django's `/sites/<slug>/` and at the root of a Vercel deployment alike. Nothing on a page loads from
another host: no CDN, no web fonts, no remote images or scripts.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import quote, urlsplit

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from agents.copywriting import copy_context
from agents.design import HEX, PAGE_LAYOUTS
from agents.page_copy import validate_page_copy
from agents.site_ui import LEGAL_LABELS, LEGAL_TEXT, UI
from orders.brief import SECTOR_FAMILIES, Brief
from orders.business_details import DAYS, ImageRef

PALETTE_KEYS = ("brand", "primary", "on_primary", "background", "surface", "text", "muted", "accent", "on_accent")
# Font stacks go into CSS unescaped, so only names, quotes, commas, spaces and hyphens are allowed.
FONT_STACK = re.compile(r"^[A-Za-z0-9 ,\"'-]{1,200}$")
RADIUS = re.compile(r"^\d{1,2}px$")
HEROES = frozenset({"split", "compact", "banner"})
CONTENTS = frozenset({"grid", "stacked", "columns", "steps"})
BLOCKS = frozenset({"hero", "sections", "cta", "contact", "visit", "callbar", "facts", "gallery", "form"})
# A card this many times longer than the median of its neighbours takes a whole row, so a ten-line card never
# stands beside a one-line one.
WIDE_CARD_RATIO = 1.8
PHOTO_SIZES = "(max-width: 48rem) 100vw, 33vw"
STOP_WORDS = frozenset({"de", "du", "des", "la", "le", "les", "l", "d", "et", "the", "and", "of", "&"})
# schema.org type per sector family, for the JSON-LD block search engines read.
SCHEMA_TYPES = {
    "bakery": "Bakery",
    "plumber": "Plumber",
    "law": "Attorney",
    "restaurant": "Restaurant",
    "hairdresser": "HairSalon",
    "generic": "LocalBusiness",
}


def _normalise_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"[\s\"'<>\\]", base_url):
        raise ValueError(f"base_url must be an absolute http(s) URL without spaces or quotes, got {base_url!r}")
    return base_url if base_url.endswith("/") else f"{base_url}/"


def _checked_design(design: dict[str, Any]) -> dict[str, Any]:
    """The design spec may come back from storage or another provider: check what reaches CSS unescaped."""
    palette = design.get("palette")
    if not isinstance(palette, dict) or any(not HEX.match(str(palette.get(k, ""))) for k in PALETTE_KEYS):
        raise ValueError(f"design palette must give #rrggbb colours for {', '.join(PALETTE_KEYS)}")
    fonts = design.get("fonts")
    if not isinstance(fonts, dict) or any(not FONT_STACK.match(str(fonts.get(k, ""))) for k in ("heading", "body")):
        raise ValueError("design fonts must give heading and body font stacks (names, quotes, commas only)")
    radius = str((design.get("shape") or {}).get("radius", "8px"))
    family = design.get("illustration") if design.get("illustration") in SECTOR_FAMILIES else "generic"
    return {"palette": palette, "fonts": fonts, "radius": radius if RADIUS.match(radius) else "8px", "family": family}


def _layout(design: dict[str, Any], index: int) -> dict[str, Any]:
    layouts = design.get("layouts")
    layout = layouts[index] if isinstance(layouts, list) and index < len(layouts) else {}
    layout = layout if isinstance(layout, dict) else {}
    fallback = PAGE_LAYOUTS["home" if index == 0 else "generic"]
    blocks = layout.get("blocks")
    return {
        "kind": layout.get("kind", "generic"),
        "hero": layout.get("hero") if layout.get("hero") in HEROES else fallback["hero"],
        "content": layout.get("content") if layout.get("content") in CONTENTS else fallback["content"],
        "blocks": [b for b in blocks if b in BLOCKS] if isinstance(blocks, list) else list(fallback["blocks"]),
    }


def _file_names(pages: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for index, page in enumerate(pages):
        name = "index.html" if index == 0 else f"{page['slug']}.html"
        base, n = name[:-5], 2
        while name in names or (index and name == "index.html"):
            name, n = f"{base}-{n}.html", n + 1
        names.append(name)
    return names


def initials(name: str) -> str:
    """Up to two initials from the significant words: 'Cabinet Durand & Associés' -> 'CD'."""
    words = [w for w in re.split(r"[\s'\u2019\-]+", name) if w and w.lower() not in STOP_WORDS and w[0].isalnum()]
    letters = "".join(w[0] for w in words[:2]).upper()
    return letters or (name.strip()[:1].upper() or "?")


def _json_ld(brief: Brief, base_url: str) -> SafeString:
    details = brief.details
    address = {
        "@type": "PostalAddress",
        "streetAddress": details.street_address or None,
        "postalCode": details.postcode or None,
        "addressLocality": brief.city or None,
    }
    address = {k: v for k, v in address.items() if v is not None}
    data = {
        "@context": "https://schema.org",
        "@type": SCHEMA_TYPES.get(brief.sector_family, "LocalBusiness"),
        "name": brief.business_name,
        "url": base_url,
        "email": brief.contact_email,
        "telephone": details.phone or None,
        "description": brief.description or None,
        "address": address if len(address) > 1 else None,
        "openingHours": [
            f"{day[:2].capitalize()} {start}-{end}" for day, ranges in details.opening_hours for start, end in ranges
        ]
        or None,
        "sameAs": list(details.social_links) or None,
    }
    text = json.dumps({k: v for k, v in data.items() if v is not None}, ensure_ascii=False, sort_keys=True)
    # Escape the characters that could close the <script> element or start markup; JSON keeps their meaning.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return mark_safe(text)  # noqa: S308 - escaped just above


def render_logo(brief: Brief, design: dict[str, Any]) -> str:
    checked = _checked_design(design)
    letters = initials(brief.business_name)
    radius = int(checked["radius"][:-2])
    return render_to_string(
        "sites/logo.svg",
        {
            "name": brief.business_name,
            "initials": letters,
            "palette": checked["palette"],
            "font": checked["fonts"]["heading"],
            "font_size": 30 if len(letters) > 1 else 36,
            "radius": min(radius * 2, 32),
            "inner_radius": min(radius * 2, 26),
        },
    )


def _srcset(ref: ImageRef, prefix: str) -> str:
    return ", ".join(f"{prefix}-{w}.{ref.extension} {w}w" for w in ref.widths)


def _picture(ref: ImageRef, prefix: str) -> dict[str, Any]:
    widest = ref.widths[-1]
    return {
        "src": f"{prefix}-{widest}.{ref.extension}",
        "srcset": _srcset(ref, prefix),
        "alt": ref.alt,
        "width": widest,
        "height": max(1, round(ref.height * widest / ref.width)),
    }


def image_paths(brief: Brief) -> dict[str, tuple[ImageRef, str]]:
    """Site file prefix of every uploaded image: `assets/photos/<id>` and `assets/logo-<id>`."""
    paths = {f"assets/photos/{ref.id}": (ref, f"assets/photos/{ref.id}") for ref in brief.details.photos}
    if brief.details.logo is not None:
        paths[f"assets/logo-{brief.details.logo.id}"] = (brief.details.logo, f"assets/logo-{brief.details.logo.id}")
    return paths


def _balanced(sections: list[dict[str, Any]], content: str) -> list[dict[str, Any]]:
    """Mark the cards that take a whole row in a grid: much longer than their neighbours' median length."""
    if content not in ("grid", "columns") or len(sections) < 2:
        return [{**section, "wide": False} for section in sections]
    lengths = [len(section["body"]) + len(section["heading"]) for section in sections]
    marked = []
    for index, section in enumerate(sections):
        others = sorted(lengths[:index] + lengths[index + 1 :])
        median = others[len(others) // 2]
        marked.append({**section, "wide": lengths[index] >= WIDE_CARD_RATIO * median})
    return marked


def _hours_rows(brief: Brief, ui: dict[str, Any]) -> list[dict[str, Any]]:
    hours = brief.details.hours_map
    if not hours:
        return []
    return [
        {
            "day": day,
            "label": ui["days"][day],
            "ranges": " ".join(f"{a}-{b}" for a, b in hours.get(day, ())),
            "text": ", ".join(f"{a} \N{EN DASH} {b}" for a, b in hours.get(day, ())) or ui["closed"],
        }
        for day in DAYS
    ]


def _map_url(brief: Brief) -> str:
    details = brief.details
    if not details.street_address:
        return ""
    query = ", ".join(part for part in (details.street_address, f"{details.postcode} {brief.city}".strip()) if part)
    return f"https://www.openstreetmap.org/search?query={quote(query)}"


def _social(brief: Brief) -> list[dict[str, str]]:
    links = []
    for url in brief.details.social_links:
        host = (urlsplit(url).hostname or url).removeprefix("www.")
        links.append({"url": url, "label": host})
    return links


def _legal_pages(brief: Brief, ui: dict[str, Any]) -> list[dict[str, Any]]:
    text = LEGAL_TEXT[brief.language]
    return [
        {
            "file": ui["legal_file"],
            "kind": "legal",
            "copy": {
                "slug": ui["legal_file"][:-5],
                "title": f"{text['legal_title']} · {brief.business_name}",
                "nav_label": ui["legal_notice"],
                "meta_description": text["legal_lead"],
                "hero": {"heading": text["legal_title"], "subheading": text["legal_lead"], "cta_label": ""},
                "sections": [],
            },
        },
        {
            "file": ui["privacy_file"],
            "kind": "privacy",
            "copy": {
                "slug": ui["privacy_file"][:-5],
                "title": f"{text['privacy_title']} · {brief.business_name}",
                "nav_label": ui["privacy"],
                "meta_description": text["privacy_lead"],
                "hero": {"heading": text["privacy_title"], "subheading": text["privacy_lead"], "cta_label": ""},
                "sections": [],
            },
        },
    ]


def _legal_context(brief: Brief, host: dict[str, str] | None, retention_days: int) -> dict[str, Any]:
    text = LEGAL_TEXT[brief.language]
    labels = LEGAL_LABELS[brief.language]
    legal = brief.details.legal_map
    identity = [
        {"label": labels[key], "value": legal[key]}
        for key in ("company_name", "legal_form", "share_capital", "registration_number", "vat_number")
        if legal.get(key)
    ]
    regulated = [
        {"label": labels[key], "value": legal[key]}
        for key in ("professional_body", "professional_registration")
        if legal.get(key)
    ]
    values = {
        "name": brief.business_name,
        "email": brief.contact_email,
        "retention_months": max(1, retention_days // 30),
    }
    return {
        "text": text,
        "identity": identity,
        "regulated": regulated,
        "director": legal.get("publication_director", ""),
        "director_label": labels["publication_director"],
        "host": host if host and host.get("name") else None,
        "privacy_sections": [
            {"heading": heading, "body": body.format_map(values)} for heading, body in text["privacy_sections"]
        ],
    }


def render_site(
    *,
    brief: Brief,
    design: dict[str, Any],
    pages: list[dict[str, Any]],
    base_url: str,
    contact_action: str = "",
    host: dict[str, str] | None = None,
    images: dict[str, bytes] | None = None,
    retention_days: int = 365,
) -> dict[str, bytes]:
    """Render every file of the site: relative path -> bytes.

    `contact_action` is the absolute URL the contact form posts to (default: `<base_url>contact`, the product's
    route for sites it serves); `host` names the hosting provider for the legal notice; `images` holds the
    stored renditions of the brief's photos and logo by site path (orders.media.site_image_files).
    """
    if not pages:
        raise ValueError("render_site needs at least one page of copy")
    base_url = _normalise_base_url(base_url)
    contact_action = contact_action or f"{base_url}contact"
    _normalise_base_url(contact_action)  # the same rules: absolute http(s), nothing that could break the attribute
    checked = _checked_design(design)
    pages = [validate_page_copy(page) for page in pages]
    names = _file_names(pages)
    layouts = [_layout(design, i) for i in range(len(pages))]
    ui = UI[brief.language]
    ctx = copy_context(brief)
    details = brief.details
    images = dict(images or {})
    expected = {f"{prefix}-{w}.{ref.extension}" for ref, prefix in image_paths(brief).values() for w in ref.widths}
    missing = sorted(expected - set(images))
    if missing:
        raise ValueError(f"render_site is missing the image files {', '.join(missing)}")
    contact = next((names[i] for i, layout in enumerate(layouts) if layout["kind"] == "contact"), None)
    mailto = f"mailto:{brief.contact_email}"
    home_cta = pages[0]["hero"]["cta_label"]
    legal_pages = _legal_pages(brief, ui)
    for legal_page in legal_pages:
        if legal_page["file"] in names:  # a customer page already has that name: keep both
            legal_page["file"] = f"{legal_page['file'][:-5]}-info.html"
    logo = details.logo
    shared = {
        "brief": brief,
        "details": details,
        "lang": brief.language,
        "ui": ui,
        "og_locale": ui["og_locale"],
        "palette": checked["palette"],
        "noun_cap": ctx["noun_cap"],
        "eyebrow": f"{ctx['noun_cap']} · {brief.city}" if brief.city else ctx["noun_cap"],
        "structured_data": _json_ld(brief, base_url),
        "illustration_template": f"sites/illustrations/{checked['family']}.html",
        "tel": details.tel_href,
        "call_text": f"{ui['call_now']}{' :' if brief.language == 'fr' else ':'} {details.phone}",
        "hours": _hours_rows(brief, ui),
        # "Open now" is computed in the business's zone: the brief's, else the site language's default.
        "time_zone": details.time_zone or ui["time_zone"],
        "map_url": _map_url(brief),
        "social": _social(brief),
        "photos": [_picture(ref, f"assets/photos/{ref.id}") for ref in details.photos],
        "photo_sizes": PHOTO_SIZES,
        "logo": _picture(logo, f"assets/logo-{logo.id}") if logo else None,
        "legal_links": [{"href": p["file"], "label": p["copy"]["nav_label"]} for p in legal_pages],
        "privacy_href": legal_pages[1]["file"],
        "legal": _legal_context(brief, host, retention_days),
        "contact_action": contact_action,
        "form_intro": ui["form_intro"].format(name=brief.business_name),
        "form_failed": ui["form_failed"].format(email=brief.contact_email),
    }
    nav_items = [(names[i], pages[i]["nav_label"]) for i in range(len(pages))]

    files: dict[str, bytes] = {}
    every_page = [
        (page, name, {**layout, "sections": _balanced(page["sections"], layout["content"])})
        for page, name, layout in zip(pages, names, layouts, strict=True)
    ] + [
        (
            legal_page["copy"],
            legal_page["file"],
            {
                "kind": legal_page["kind"],
                "hero": "compact",
                "content": "stacked",
                "blocks": ["hero", legal_page["kind"]],
                "sections": [],
            },
        )
        for legal_page in legal_pages
    ]
    for index, (page, name, layout) in enumerate(every_page):
        nav = [{"href": href, "label": label, "current": href == name} for href, label in nav_items]
        # On the contact page itself, "contact us" buttons open the mail client instead of reloading the page.
        cta_href = contact if contact and contact != name else mailto
        urgent = layout["kind"] == "emergency"
        html = render_to_string(
            "sites/page.html",
            {
                **shared,
                "page": page,
                "layout": layout,
                "nav": nav,
                "page_file": name,
                "page_url": base_url if index == 0 else f"{base_url}{name}",
                "cta_href": cta_href,
                "cta_label": home_cta if cta_href != mailto else ui["write"],
                # Urgent pages put the phone in the hero itself: above the fold on a phone.
                "hero_call": bool(details.phone) and (urgent or (index == 0 and "callbar" in layout["blocks"])),
            },
        )
        files[name] = html.encode("utf-8")

    files["assets/site.css"] = render_to_string("sites/site.css", checked).encode("utf-8")
    files["assets/logo.svg"] = render_logo(brief, design).encode("utf-8")
    files.update(images)
    urls = [base_url if i == 0 else f"{base_url}{name}" for i, (_p, name, _l) in enumerate(every_page)]
    files["sitemap.xml"] = render_to_string("sites/sitemap.xml", {"urls": urls}).encode("utf-8")
    robots = render_to_string("sites/robots.txt", {"sitemap_url": f"{base_url}sitemap.xml"})
    files["robots.txt"] = robots.strip().encode("utf-8") + b"\n"
    return files


def site_manifest(files: dict[str, bytes]) -> dict[str, Any]:
    """Paths, sizes and SHA-256 of the build output, plus one digest over all of it (stable across rebuilds)."""
    entries = [
        {"path": path, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
        for path, content in sorted(files.items())
    ]
    overall = hashlib.sha256("".join(f"{e['path']}\0{e['sha256']}\n" for e in entries).encode()).hexdigest()
    return {
        "files": entries,
        "count": len(entries),
        "total_bytes": sum(e["size"] for e in entries),
        "sha256": overall,
    }
