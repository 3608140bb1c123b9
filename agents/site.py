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
from urllib.parse import urlsplit

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from agents.brief import SECTOR_FAMILIES, Brief
from agents.copywriting import copy_context, validate_page_copy
from agents.design import HEX, PAGE_LAYOUTS

PALETTE_KEYS = ("brand", "primary", "on_primary", "background", "surface", "text", "muted", "accent", "on_accent")
# Font stacks go into CSS unescaped, so only names, quotes, commas, spaces and hyphens are allowed.
FONT_STACK = re.compile(r"^[A-Za-z0-9 ,\"'-]{1,200}$")
RADIUS = re.compile(r"^\d{1,2}px$")
HEROES = frozenset({"split", "compact"})
CONTENTS = frozenset({"grid", "stacked", "columns", "steps"})
BLOCKS = frozenset({"hero", "sections", "cta", "contact"})
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
UI = {
    "fr": {
        "skip": "Aller au contenu",
        "menu": "Menu",
        "navigation": "Navigation principale",
        "footer_navigation": "Plan du site",
        "contact_heading": "Nous contacter",
        "email": "E-mail",
        "city": "Ville",
        "write": "Nous écrire",
        "cta_heading": "Une question, un projet ?",
        "cta_text": "Écrivez-nous : nous vous répondons rapidement.",
        "og_locale": "fr_FR",
    },
    "en": {
        "skip": "Skip to content",
        "menu": "Menu",
        "navigation": "Main navigation",
        "footer_navigation": "Site map",
        "contact_heading": "Contact us",
        "email": "Email",
        "city": "City",
        "write": "Email us",
        "cta_heading": "Questions or plans?",
        "cta_text": "Write to us and we will get back to you quickly.",
        "og_locale": "en_GB",
    },
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
    data = {
        "@context": "https://schema.org",
        "@type": SCHEMA_TYPES.get(brief.sector_family, "LocalBusiness"),
        "name": brief.business_name,
        "url": base_url,
        "email": brief.contact_email,
        "description": brief.description or None,
        "address": {"@type": "PostalAddress", "addressLocality": brief.city} if brief.city else None,
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


def render_site(
    *, brief: Brief, design: dict[str, Any], pages: list[dict[str, Any]], base_url: str
) -> dict[str, bytes]:
    """Render every file of the site: relative path -> bytes."""
    if not pages:
        raise ValueError("render_site needs at least one page of copy")
    base_url = _normalise_base_url(base_url)
    checked = _checked_design(design)
    pages = [validate_page_copy(page) for page in pages]
    names = _file_names(pages)
    layouts = [_layout(design, i) for i in range(len(pages))]
    ui = UI[brief.language]
    ctx = copy_context(brief)
    contact = next((names[i] for i, layout in enumerate(layouts) if layout["kind"] == "contact"), None)
    mailto = f"mailto:{brief.contact_email}"
    home_cta = pages[0]["hero"]["cta_label"]
    shared = {
        "brief": brief,
        "lang": brief.language,
        "ui": ui,
        "og_locale": ui["og_locale"],
        "palette": checked["palette"],
        "noun_cap": ctx["noun_cap"],
        "eyebrow": f"{ctx['noun_cap']} · {brief.city}" if brief.city else ctx["noun_cap"],
        "structured_data": _json_ld(brief, base_url),
        "illustration_template": f"sites/illustrations/{checked['family']}.html",
    }

    files: dict[str, bytes] = {}
    for index, (page, name, layout) in enumerate(zip(pages, names, layouts, strict=True)):
        nav = [{"href": other, "label": pages[i]["nav_label"], "current": i == index} for i, other in enumerate(names)]
        # On the contact page itself, "contact us" buttons open the mail client instead of reloading the page.
        cta_href = contact if contact and contact != name else mailto
        html = render_to_string(
            "sites/page.html",
            {
                **shared,
                "page": page,
                "layout": layout,
                "nav": nav,
                "page_url": base_url if index == 0 else f"{base_url}{name}",
                "cta_href": cta_href,
                "cta_label": home_cta if cta_href != mailto else ui["write"],
            },
        )
        files[name] = html.encode("utf-8")

    files["assets/site.css"] = render_to_string("sites/site.css", checked).encode("utf-8")
    files["assets/logo.svg"] = render_logo(brief, design).encode("utf-8")
    urls = [base_url if i == 0 else f"{base_url}{name}" for i, name in enumerate(names)]
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
