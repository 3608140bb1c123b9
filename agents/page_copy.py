"""PageCopy: the copy of one page, as every copywriter returns it (the offline writer, a model).

One schema and one validator. ``PAGE_COPY_SCHEMA`` is what a model is asked for (structured
output, strict); it holds only the keywords every strict implementation accepts, so the limits
live in the tables below and in ``page_copy_problems``, which names every way a value differs
from valid PageCopy (a model is re-asked with that list). ``validate_page_copy`` is the gate
before copy is trusted: the clean copy, or a ValueError naming the problems.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from orders.brief import slugify_text

META_DESCRIPTION_MAX = 160
# Names a page may not take: the home page is index.html; the others are the site's own files.
RESERVED_SLUGS = frozenset({"index", "assets", "sitemap", "robots"})
MIN_SECTIONS, MAX_SECTIONS = 2, 4
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Maximum length of every text field; maxima keep a misbehaving model from breaking the layout.
TEXT_LIMITS = {"title": 120, "nav_label": 60, "meta_description": META_DESCRIPTION_MAX}
HERO_LIMITS = {"heading": 160, "subheading": 400, "cta_label": 60}
SECTION_LIMITS = {"heading": 160, "body": 4000}


def _text(description: str) -> dict[str, str]:
    return {"type": "string", "description": description}


PAGE_COPY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["slug", "title", "nav_label", "meta_description", "hero", "sections"],
    "properties": {
        "slug": _text("URL slug: lowercase ASCII letters, digits and hyphens."),
        "title": _text("HTML title of the page, under 70 characters, naming the business."),
        "nav_label": _text("Menu label, one to three words."),
        "meta_description": _text(f"Search result description, at most {META_DESCRIPTION_MAX} characters."),
        "hero": {
            "type": "object",
            "additionalProperties": False,
            "required": ["heading", "subheading", "cta_label"],
            "properties": {
                "heading": _text("Main heading of the page."),
                "subheading": _text("One sentence under the heading."),
                "cta_label": _text("Call-to-action button label, two to four words."),
            },
        },
        "sections": {
            "type": "array",
            "description": f"Between {MIN_SECTIONS} and {MAX_SECTIONS} content sections.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["heading", "body"],
                "properties": {
                    "heading": _text("Section heading."),
                    "body": _text("One or two short paragraphs of plain text, no markdown."),
                },
            },
        },
    },
}


def page_copy_problems(value: Any) -> list[str]:
    """Every way ``value`` differs from valid PageCopy, as readable messages (empty when valid).

    Keys the schema does not name are not a problem: the clean copy leaves them out.
    """
    problems: list[str] = []
    _check_shape(PAGE_COPY_SCHEMA, value, "$", problems)
    if problems:
        return problems
    if not SLUG.match(value["slug"]):
        problems.append(f"$.slug must be lowercase ASCII letters, digits and hyphens, got {value['slug']!r}")
    limits = [(f"$.{name}", value[name], limit) for name, limit in TEXT_LIMITS.items()]
    limits += [(f"$.hero.{name}", value["hero"][name], limit) for name, limit in HERO_LIMITS.items()]
    for i, section in enumerate(value["sections"]):
        limits += [(f"$.sections[{i}].{name}", section[name], limit) for name, limit in SECTION_LIMITS.items()]
    for path, text, limit in limits:
        if len(text.strip()) > limit:
            problems.append(f"{path} has {len(text.strip())} characters, max {limit}")
    if not MIN_SECTIONS <= len(value["sections"]) <= MAX_SECTIONS:
        problems.append(f"$.sections has {len(value['sections'])} items, expected {MIN_SECTIONS} to {MAX_SECTIONS}")
    return problems


def validate_page_copy(value: Any) -> dict[str, Any]:
    """The clean copy of valid PageCopy: strings stripped, keys the schema does not name left out.

    Raises ValueError naming every problem; copy is checked with this before it is trusted.
    """
    problems = page_copy_problems(value)
    if problems:
        raise ValueError(f"page copy: {'; '.join(problems[:10])}")
    return _clean(PAGE_COPY_SCHEMA, value)


def _check_shape(schema: Mapping[str, Any], value: Any, path: str, problems: list[str]) -> None:
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            problems.append(f"{path} must be an object")
            return
        problems.extend(f"{path}.{name} is missing" for name in schema.get("required", []) if name not in value)
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                _check_shape(sub, value[name], f"{path}.{name}", problems)
    elif kind == "array":
        if not isinstance(value, list):
            problems.append(f"{path} must be an array")
            return
        for i, item in enumerate(value):
            _check_shape(schema["items"], item, f"{path}[{i}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path} must be a string, got {type(value).__name__}")
        elif not value.strip():
            problems.append(f"{path} must not be empty")


def _clean(schema: Mapping[str, Any], value: Any) -> Any:
    kind = schema.get("type")
    if kind == "object":
        return {name: _clean(sub, value[name]) for name, sub in schema["properties"].items() if name in value}
    if kind == "array":
        return [_clean(schema["items"], item) for item in value]
    return value.strip() if isinstance(value, str) else value


def page_slugs(pages: list[str] | tuple[str, ...]) -> list[str]:
    """URL-safe, unique slugs: 'index' for the first page; reserved or clashing slugs get a suffix."""
    slugs: list[str] = []
    for index, title in enumerate(pages):
        if index == 0:
            slugs.append("index")
            continue
        base = slugify_text(title, 50) or f"page-{index + 1}"
        if base in RESERVED_SLUGS:
            base = f"{base}-page"
        slug, n = base, 2
        while slug in slugs:
            slug, n = f"{base}-{n}", n + 1
        slugs.append(slug)
    return slugs


def slug_of_page(pages: Sequence[str], page: str, index: int) -> str:
    """The slug of the page at `index` of the brief's `pages`, the same whoever writes its copy
    (the offline writer or a model): 'index' for the home page, else its unique slug. A page not
    in the brief's list at that place gets a slug of its own name."""
    if index < len(pages) and pages[index] == page:
        return page_slugs(list(pages))[index]
    return "index" if index == 0 else page_slugs(["", page])[1]
