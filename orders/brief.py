"""The customer's brief: validation, the immutable value the agents share, and how to read it.

Everything here is pure (no database, no network) so every agent can call it at any time.
"""

from __future__ import annotations

import re
import secrets
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field
from typing import Any

from anyascii import anyascii
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from orders.business_details import BusinessDetails, validate_business_details

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
# A calm blue that passes contrast checks once design.py adjusts it; used only when the brief gives no colour.
DEFAULT_BRAND_COLOR = "#2454a6"
DEFAULT_PAGES: dict[str, tuple[str, ...]] = {
    "en": ("Home", "About", "Services", "Contact"),
    "fr": ("Accueil", "À propos", "Services", "Contact"),
}
MAX_PAGES = 12
MAX_PAGE_TITLE = 60
MAX_NAME = 120
MAX_SHORT_TEXT = 80
MAX_DESCRIPTION = 2000
MAX_EMAIL = 254  # RFC 5321's path limit, and Project.contact_email's column (longer is a 500 on PostgreSQL)
HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")

# Sector families drive vocabulary, palette temperature, fonts and illustrations.
# Patterns run on ASCII-folded lowercase text; order matters (first match wins).
SECTOR_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bakery", re.compile(r"\b(boulang|bakery|baker|patiss|pastr|viennois|bread|cake shop)")),
    ("plumber", re.compile(r"\b(plomb|plumb|chauffagiste|heating engineer|boiler)")),
    ("law", re.compile(r"\b(avocat|law\b|lawyer|legal|solicitor|attorney|barrister|juridique|notaire|droit)")),
    ("hairdresser", re.compile(r"\b(coiff|hair|barber|barbier)")),
    (
        "restaurant",
        re.compile(r"\b(restaurant|bistro|brasserie|pizzeria|trattoria|traiteur|caterer|bar a vin|wine bar|cafe)"),
    ),
)
SECTOR_FAMILIES = ("bakery", "plumber", "law", "hairdresser", "restaurant", "generic")

PAGE_KIND_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("emergency", re.compile(r"\b(urgence|urgences|emergency|emergencies|depannage|24 ?7|call out)")),
    ("contact", re.compile(r"\b(contact|contactez|get in touch|find us|nous trouver|acces|plan d acces)")),
    ("pricing", re.compile(r"\b(tarif|tarifs|prix|pricing|prices|honoraires|fees|rates|devis)\b")),
    ("about", re.compile(r"\b(about|a propos|qui sommes|equipe|team|notre histoire|our story|histoire|cabinet)\b")),
    (
        "services",
        re.compile(
            r"\b(services?|expertises?|prestations?|what we do|savoir faire|domaines|practice areas|competences)\b"
        ),
    ),
    ("home", re.compile(r"^(home|home page|accueil|page d accueil|welcome|bienvenue)$")),
)
PAGE_KINDS = ("home", "about", "services", "contact", "pricing", "emergency", "generic")


class InvalidBrief(ValueError):
    """The brief cannot be used; `errors` maps each bad field to its messages (a permanent error)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        detail = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
        super().__init__(f"invalid brief: {detail}")


@dataclass(frozen=True)
class Brief:
    business_name: str
    sector: str
    city: str
    description: str
    pages: tuple[str, ...]
    brand_color: str
    language: str
    contact_email: str
    details: BusinessDetails = dataclass_field(default_factory=BusinessDetails)  # phone, address, hours, legal, images

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Brief:
        """Validate and normalise; raise InvalidBrief naming every bad field."""
        errors = validate_brief(data)
        if errors:
            raise InvalidBrief(errors)
        cleaned = clean_brief(data)
        pages = cleaned["pages"]
        return cls(
            **{**cleaned, "pages": tuple(pages) if pages is not None else DEFAULT_PAGES[cleaned["language"]]},
            details=BusinessDetails.from_dict(data),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pages"] = list(self.pages)
        del data["details"]
        return {**data, **self.details.to_dict()}

    @property
    def sector_family(self) -> str:
        return sector_family(self.sector, self.business_name, self.description)


def validate_brief(data: Any) -> dict[str, list[str]]:
    """Return errors by field name; an empty dict means the brief is valid. Never raises on bad types."""
    if not isinstance(data, Mapping):
        return {"brief": [f"Expected a JSON object, got {type(data).__name__}."]}
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    name = data.get("business_name")
    if not isinstance(name, str):
        add("business_name", "This field is required and must be a string.")
    elif not _clean(name):
        add("business_name", "This field may not be blank.")
    elif len(_clean(name)) > MAX_NAME:
        add("business_name", f"Ensure this field has at most {MAX_NAME} characters (it has {len(_clean(name))}).")

    email = data.get("contact_email")
    if not isinstance(email, str) or not email.strip():
        add("contact_email", "This field is required and must be a string.")
    else:
        try:
            validate_email(email.strip())
            if len(email.strip()) > MAX_EMAIL:
                raise ValidationError("too long")
        except ValidationError:
            add("contact_email", f"Enter a valid email address (got {email[:80]!r}).")

    color = data.get("brand_color")
    if color is not None and (not isinstance(color, str) or not HEX_COLOR.match(color)):
        add("brand_color", f"Enter a colour as #rrggbb (got {color!r}).")

    language = data.get("language")
    if language is not None and language not in LANGUAGES:
        add("language", f"Choose one of {', '.join(LANGUAGES)} (got {language!r}).")

    for field, limit in (("sector", MAX_SHORT_TEXT), ("city", MAX_SHORT_TEXT), ("description", MAX_DESCRIPTION)):
        value = data.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            add(field, f"Must be a string, got {type(value).__name__}.")
        elif len(value.strip()) > limit:
            add(field, f"Ensure this field has at most {limit} characters (it has {len(value.strip())}).")

    for message in _page_errors(data.get("pages")):
        add("pages", message)
    # Phone, address, hours, legal identity, links and images (orders/business_details.py).
    texts = [str(data.get(k) or "") for k in ("sector", "business_name", "description")]
    details_errors = validate_business_details(
        data, sector_family=sector_family(*texts), regulated=regulated_trade(*texts)
    )
    for name, messages in details_errors.items():
        errors.setdefault(name, []).extend(messages)
    return errors


def _page_errors(pages: Any) -> list[str]:
    if pages is None:
        return []  # missing pages fall back to the defaults for the brief's language
    if not isinstance(pages, list | tuple):
        return [f"Expected a list of page titles, got {type(pages).__name__}."]
    if not 1 <= len(pages) <= MAX_PAGES:
        return [f"Give between 1 and {MAX_PAGES} pages (got {len(pages)})."]
    problems: list[str] = []
    seen: set[str] = set()
    for position, page in enumerate(pages, start=1):
        if not isinstance(page, str) or not _clean(page):
            problems.append(f"Page {position} must be a non-empty string.")
            continue
        title = _clean(page)
        if len(title) > MAX_PAGE_TITLE:
            problems.append(f"Page {position} has {len(title)} characters; the limit is {MAX_PAGE_TITLE}.")
        if title.casefold() in seen:
            problems.append(f"Page {title!r} appears more than once.")
        seen.add(title.casefold())
    return problems


# Control characters, lone surrogates and Unicode noncharacters are invalid in HTML and XML: they never reach a page.
_INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef]")
# Bidi embeddings, overrides and isolates reorder the text around them (a name that reads one way and is
# stored another, "Trojan Source" style): never kept, in any field.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _printable(text: str) -> str:
    text = _INVALID_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _BIDI_CONTROLS.sub("", text)
    return "".join(ch for ch in text if (ord(ch) & 0xFFFE) != 0xFFFE)


def _clean(text: str) -> str:
    """Drop invalid characters and collapse whitespace so names and titles render on one line.

    Names and titles also lose every format character (Unicode category Cf: zero-width spaces and
    joiners, bidi marks, soft hyphens, the BOM): invisible, they would make two titles that look
    the same differ, or a name that looks blank pass.
    """
    return " ".join("".join(ch for ch in _printable(text) if unicodedata.category(ch) != "Cf").split())


def clean_brief(data: Mapping[str, Any]) -> dict[str, Any]:
    """The brief as stored and used: names and titles cleaned, text made printable. Call it only on a
    brief `validate_brief` accepted; cleaning a cleaned brief changes nothing, so what intake stores
    passes setup's validation again."""
    pages = data.get("pages")
    return {
        "business_name": _clean(data["business_name"]),
        "sector": _clean(data.get("sector") or ""),
        "city": _clean(data.get("city") or ""),
        "description": _printable(str(data.get("description") or "")).strip(),
        "pages": [_clean(p) for p in pages] if pages is not None else None,
        "brand_color": str(data.get("brand_color") or DEFAULT_BRAND_COLOR).lower(),
        "language": data.get("language") or DEFAULT_LANGUAGE,
        "contact_email": data["contact_email"].strip(),
    }


def ascii_fold(text: str) -> str:
    """Lowercase ASCII with accents removed: 'À propos' -> 'a propos'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode("ascii").lower()


def transliterate(text: str) -> str:
    """Lowercase ASCII in any script: 'Пекарня' -> 'pekarnya', '北京' -> 'beijing', 'Ça' -> 'ca'.

    anyascii (ISC licence) maps every code point, so a name in Cyrillic, Greek, Arabic, Hebrew, CJK
    or Thai gives a readable slug instead of nothing; NFKC first folds compatibility forms
    (full-width letters, ligatures) to what they look like.
    """
    return anyascii(unicodedata.normalize("NFKC", text)).lower()


def slugify_text(text: str, max_length: int = 60) -> str:
    """URL-safe ASCII slug, cut at a hyphen so no word is left half-written."""
    slug = re.sub(r"[^a-z0-9]+", "-", transliterate(text)).strip("-")
    if len(slug) <= max_length:
        return slug
    cut = slug[: max_length + 1]
    return cut[: cut.rfind("-")] if "-" in cut else slug[:max_length]


SLUG_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def random_slug_suffix(length: int = 6) -> str:
    """A short random suffix (36**6, about 2e9 values): the fallback when a name gives no slug or its
    numbered variants are all taken, so a slug never makes an order fail."""
    return "".join(secrets.choice(SLUG_SUFFIX_ALPHABET) for _ in range(length))


def slugify_business(name: str, city: str) -> str:
    """'Boulangerie Martin', 'Lyon' -> 'boulangerie-martin-lyon' (ASCII, <= 60 chars); a name and city
    that give nothing (only symbols) -> 'site-<random>'."""
    name_slug = slugify_text(name, 200)
    city_slug = slugify_text(city, 200)
    # "Leeds Rapid Plumbing" in Leeds already says where it is; do not repeat the city.
    if city_slug and f"-{city_slug}-" not in f"-{name_slug}-":
        name_slug = f"{name_slug}-{city_slug}" if name_slug else city_slug
    return slugify_text(name_slug, 60) or f"site-{random_slug_suffix()}"


def sector_family(sector: str, business_name: str = "", description: str = "") -> str:
    """Map free-text sector to a family.

    A stated sector decides alone (an interior designer who fits kitchens is not a restaurant); the name and
    then the description are only consulted when the sector is blank.
    """
    for text in (sector,) if sector.strip() else (business_name, description):
        folded = " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_fold(text)).split())
        for family, pattern in SECTOR_PATTERNS:
            if pattern.search(folded):
                return family
    return "generic"


# Regulated professions (LCEN art. 6 III 1: the notice names their professional body and rules) beyond the law
# family: health, architecture, accountancy, surveying, estate agency, judicial officers. Matched on folded text.
REGULATED_TRADES = re.compile(
    r"\b(avocats?|notaires?|huissiers?|commissaires? de justice|medecins?|medical|docteur|dentistes?|"
    r"chirurgiens?|kinesitherapeutes?|kines?|osteopathes?|infirmier|infirmiere|infirmiers|sages? femmes?|"
    r"pharmaciens?|pharmacie|veterinaires?|architectes?|experts? comptables?|geometres? experts?|"
    r"agents? immobiliers?|agence immobiliere|orthophonistes?|psychologues?|opticiens?)\b"
)


def regulated_trade(sector: str, business_name: str = "", description: str = "") -> bool:
    """Whether the business is a regulated profession whose legal notice names its professional body.

    Like sector_family: a stated sector decides alone; the name, then the description, when it is blank."""
    if sector_family(sector, business_name, description) == "law":
        return True
    for text in (sector,) if sector.strip() else (business_name, description):
        if REGULATED_TRADES.search(" ".join(re.sub(r"[^a-z0-9]+", " ", ascii_fold(text)).split())):
            return True
    return False


def page_kind(title: str) -> str:
    """Classify a page title (English or French) so copy and layout fit what the page is for."""
    folded = " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_fold(title)).split())
    for kind, pattern in PAGE_KIND_PATTERNS:
        if pattern.search(folded):
            return kind
    return "generic"


def brief_data(project: Any) -> dict[str, Any]:
    """The brief's fields of a project (orders.models.Project), details at the top level.

    Here, beside the brief, and not among the agents' actions: the admin reads it at import
    time of every process, and importing agents.actions loads every action (Pillow, Stripe).
    """
    return {
        "business_name": project.business_name,
        "sector": project.sector,
        "city": project.city,
        "description": project.description,
        "pages": list(project.pages or []),
        "brand_color": project.brand_color,
        "language": project.language,
        "contact_email": project.contact_email,
        **(project.details or {}),
    }
