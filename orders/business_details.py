"""The brief's optional business details: phone, address, opening hours, legal identity, social links, images.

Pure (no database, no network), like orders/brief.py, which calls `validate_business_details` from
`validate_brief` and keeps the result as `Brief.details`. A French brief must carry what a French legal
notice (mentions légales, loi pour la confiance dans l'économie numérique, art. 6 III) has to show: the
publisher's name and legal form, its registration number, its address and phone, and who directs the
publication; regulated trades (lawyers here) add their professional body.

Images arrive at intake as uploads (`{"data": <base64>, "alt": ...}`, checked and resized by orders/media.py)
and are kept as references to the stored renditions (`{"id": <digest>, "alt", "width", "height", "widths"}`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DETAIL_KEYS = (
    "phone",
    "street_address",
    "postcode",
    "opening_hours",
    "time_zone",
    "legal",
    "social_links",
    "photos",
    "logo",
)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LEGAL_KEYS = (
    "company_name",
    "legal_form",
    "registration_number",
    "vat_number",
    "share_capital",
    "publication_director",
    "professional_body",
    "professional_registration",
)
# What a French legal notice cannot do without (the address and phone are top-level fields of the brief).
FRENCH_LEGAL_REQUIRED = (
    "legal.company_name",
    "legal.legal_form",
    "legal.registration_number",
    "legal.publication_director",
)
FRENCH_CONTACT_REQUIRED = ("street_address", "postcode", "phone")
# Legal forms of companies registered at the RCS (sociétés): their notice shows the share capital (LCEN art. 6 III 1
# b); a sole trader (EI, micro-entreprise) or an association has none.
COMPANY_FORM = re.compile(
    r"\b(sarl|sas|sasu|eurl|sa|snc|sca|scs|selarl|selas|selasu|selafa|selca|scp|sci|scop|scic|spfpl|"
    r"societes?)\b"
)
# Sector families whose trade is regulated: the notice names the professional body (e.g. the bar) too. Other
# regulated professions (doctors, architects, accountants...) are recognised by orders.brief.regulated_trade.
REGULATED_FAMILIES = frozenset({"law"})
MAX_PHOTOS = 6
MAX_SOCIAL_LINKS = 6
MAX_ALT = 200
MAX_LEGAL_TEXT = 160
MAX_ADDRESS = 200
MAX_RANGES_PER_DAY = 3
PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{4,22}[0-9]$")
POSTCODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$")
FRENCH_POSTCODE = re.compile(r"^\d{5}$")
TIME_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
IMAGE_ID = re.compile(r"^[0-9a-f]{32}$")
# SIREN (9 digits), SIRET (14), Companies House (8 characters: digits or two letters and six digits), or other.
GENERIC_REGISTRATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{3,30}$")
VAT = re.compile(r"^[A-Z]{2}[0-9A-Z ]{2,16}$")


@dataclass(frozen=True)
class ImageRef:
    """A stored image: `id` names its renditions in storage (orders/media.py), one per width."""

    id: str
    alt: str
    width: int
    height: int
    widths: tuple[int, ...]
    format: str  # "jpeg" or "png"

    @property
    def extension(self) -> str:
        return "png" if self.format == "png" else "jpg"


@dataclass(frozen=True)
class BusinessDetails:
    phone: str = ""
    street_address: str = ""
    postcode: str = ""
    # day -> ((opens, closes), ...) as "HH:MM"; a day left out is closed. Empty: hours not given.
    opening_hours: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    # Where the hours are kept (an IANA name, e.g. "Europe/Paris"); blank: the site language's default zone.
    time_zone: str = ""
    legal: tuple[tuple[str, str], ...] = ()
    social_links: tuple[str, ...] = ()
    photos: tuple[ImageRef, ...] = ()
    logo: ImageRef | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BusinessDetails:
        """Build from a brief already checked by validate_business_details (stored image references only)."""
        hours = data.get("opening_hours") or {}
        legal = data.get("legal") or {}
        return cls(
            phone=_one_line(data.get("phone")),
            street_address=_one_line(data.get("street_address")),
            postcode=_one_line(data.get("postcode")).upper(),
            opening_hours=tuple(
                (day, tuple(tuple(r.split("-", 1)) for r in hours.get(day) or ()))  # type: ignore[misc]
                for day in DAYS
                if day in hours
            ),
            time_zone=_one_line(data.get("time_zone")),
            legal=tuple((key, _one_line(legal.get(key))) for key in LEGAL_KEYS if _one_line(legal.get(key))),
            social_links=tuple(str(link).strip() for link in data.get("social_links") or ()),
            photos=tuple(_image_ref(p) for p in data.get("photos") or () if isinstance(p, Mapping) and "id" in p),
            logo=_image_ref(data["logo"]) if isinstance(data.get("logo"), Mapping) and "id" in data["logo"] else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The brief's shape (what from_dict reads), blank fields left out."""
        data: dict[str, Any] = {
            "phone": self.phone,
            "street_address": self.street_address,
            "postcode": self.postcode,
            "opening_hours": {day: [f"{a}-{b}" for a, b in ranges] for day, ranges in self.opening_hours},
            "time_zone": self.time_zone,
            "legal": dict(self.legal),
            "social_links": list(self.social_links),
            "photos": [_ref_dict(p) for p in self.photos],
            "logo": _ref_dict(self.logo) if self.logo else None,
        }
        return stored_details(data)

    @property
    def legal_map(self) -> dict[str, str]:
        return dict(self.legal)

    @property
    def hours_map(self) -> dict[str, tuple[tuple[str, str], ...]]:
        return dict(self.opening_hours)

    @property
    def tel_href(self) -> str:
        """`tel:` link target: digits and a leading plus only (RFC 3966 visual separators dropped)."""
        if not self.phone:
            return ""
        digits = re.sub(r"[^0-9]", "", self.phone)
        return f"tel:{'+' if self.phone.startswith('+') else ''}{digits}"

    @property
    def has_address(self) -> bool:
        return bool(self.street_address)


def _one_line(value: Any) -> str:
    return " ".join(str(value).split()) if isinstance(value, str) else ""


def _image_ref(data: Mapping[str, Any]) -> ImageRef:
    return ImageRef(
        id=str(data["id"]),
        alt=_one_line(data.get("alt")),
        width=int(data["width"]),
        height=int(data["height"]),
        widths=tuple(int(w) for w in data["widths"]),
        format="png" if data.get("format") == "png" else "jpeg",
    )


def _ref_dict(ref: ImageRef) -> dict[str, Any]:
    return {
        "id": ref.id,
        "alt": ref.alt,
        "width": ref.width,
        "height": ref.height,
        "widths": list(ref.widths),
        "format": ref.format,
    }


def validate_business_details(
    data: Mapping[str, Any], *, sector_family: str = "generic", regulated: bool = False
) -> dict[str, list[str]]:
    """Errors by field name (dotted for nested fields, e.g. `legal.registration_number`); empty when valid.

    `regulated`: the business is a regulated profession (orders.brief.regulated_trade: lawyers, doctors,
    architects, accountants...), whose French notice must name its professional body."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    french = (data.get("language") or "fr") == "fr"
    phone = data.get("phone")
    if phone not in (None, ""):
        if not isinstance(phone, str) or not PHONE.match(phone.strip()):
            add(
                "phone",
                f"Enter a phone number of digits, spaces, dots or dashes, optionally starting with + (got {phone!r}).",
            )
        elif len(re.sub(r"\D", "", phone)) < 6:
            add("phone", f"A phone number has at least 6 digits (got {phone!r}).")

    for name, limit, pattern in (("street_address", MAX_ADDRESS, None), ("postcode", 10, POSTCODE)):
        value = data.get(name)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            add(name, f"Must be a string, got {type(value).__name__}.")
        elif len(value.strip()) > limit:
            add(name, f"Ensure this field has at most {limit} characters (it has {len(value.strip())}).")
        elif pattern is not None and not pattern.match(value.strip()):
            add(name, f"Enter a postcode of letters, digits, spaces or dashes (got {value!r}).")
        elif name == "postcode" and french and not FRENCH_POSTCODE.match(value.strip()):
            add(name, f"A French postcode has 5 digits (got {value!r}).")

    for message in _hours_errors(data.get("opening_hours")):
        add("opening_hours", message)
    zone = data.get("time_zone")
    if zone not in (None, "") and (not isinstance(zone, str) or zone.strip() not in _time_zones()):
        add("time_zone", f"Enter a time zone such as Europe/Paris or America/Montreal (got {zone!r}).")
    _legal_errors(data.get("legal"), french=french, add=add)
    for message in _social_errors(data.get("social_links")):
        add("social_links", message)
    for message in _images_errors(data.get("photos"), many=True):
        add("photos", message)
    for message in _images_errors(data.get("logo"), many=False):
        add("logo", message)

    if french:
        legal = data.get("legal") if isinstance(data.get("legal"), Mapping) else {}
        missing = [name for name in FRENCH_CONTACT_REQUIRED if not _filled(data.get(name))]
        missing += [name for name in FRENCH_LEGAL_REQUIRED if not _filled(legal.get(name.split(".", 1)[1]))]
        if (regulated or sector_family in REGULATED_FAMILIES) and not _filled(legal.get("professional_body")):
            missing.append("legal.professional_body")
        if _is_company(legal.get("legal_form")) and not _filled(legal.get("share_capital")):
            missing.append("legal.share_capital")
        for name in missing:
            add(
                name,
                "Required for a French business site: the legal notice (mentions légales) must show it"
                + (
                    " (the professional body of a regulated trade, e.g. the bar)."
                    if name == "legal.professional_body"
                    else " (a company's share capital, e.g. 10 000 €)."
                    if name == "legal.share_capital"
                    else "."
                ),
            )
    return errors


def _is_company(legal_form: Any) -> bool:
    if not isinstance(legal_form, str):
        return False
    folded = unicodedata.normalize("NFKD", legal_form).encode("ascii", "ignore").decode().lower()
    return bool(COMPANY_FORM.search(" ".join(re.sub(r"[^a-z0-9]+", " ", folded).split())))


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _filled(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _hours_errors(hours: Any) -> list[str]:
    if hours in (None, {}):
        return []
    if not isinstance(hours, Mapping):
        return [
            f"Expected an object of days ({', '.join(DAYS)}) to lists of 'HH:MM-HH:MM', got {type(hours).__name__}."
        ]
    problems = [f"Unknown day {day!r}; use {', '.join(DAYS)}." for day in hours if day not in DAYS]
    for day in DAYS:
        ranges = hours.get(day)
        if ranges is None:
            continue
        if not isinstance(ranges, list | tuple) or len(ranges) > MAX_RANGES_PER_DAY:
            problems.append(f"{day}: give a list of at most {MAX_RANGES_PER_DAY} ranges like '09:00-12:30'.")
            continue
        previous_end = -1
        for item in ranges:
            match = TIME_RANGE.match(item) if isinstance(item, str) else None
            if match is None:
                problems.append(f"{day}: {item!r} is not a range like '09:00-12:30'.")
                continue
            start = int(match[1]) * 60 + int(match[2])
            end = int(match[3]) * 60 + int(match[4])
            if end > 24 * 60 or end <= start:
                problems.append(f"{day}: {item!r} must end after it starts, on the same day.")
            elif start < previous_end:
                problems.append(f"{day}: {item!r} overlaps or precedes the range before it.")
            previous_end = max(previous_end, end)
    return problems


def _legal_errors(legal: Any, *, french: bool, add: Any) -> None:
    if legal in (None, {}):
        return
    if not isinstance(legal, Mapping):
        add("legal", f"Expected an object with {', '.join(LEGAL_KEYS)}, got {type(legal).__name__}.")
        return
    for key in legal:
        if key not in LEGAL_KEYS:
            add("legal", f"Unknown field {key!r}; use {', '.join(LEGAL_KEYS)}.")
    for key in LEGAL_KEYS:
        value = legal.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            add(f"legal.{key}", f"Must be a string, got {type(value).__name__}.")
        elif len(value.strip()) > MAX_LEGAL_TEXT:
            add(f"legal.{key}", f"Ensure this field has at most {MAX_LEGAL_TEXT} characters.")
    number = legal.get("registration_number")
    if isinstance(number, str) and number.strip():
        digits = re.sub(r"[\s.]", "", number)
        if french and not (re.fullmatch(r"\d{9}|\d{14}", digits) and luhn_valid(digits)):
            add(
                "legal.registration_number",
                f"Enter the SIREN (9 digits) or SIRET (14 digits) as registered (got {number!r}; the check digit fails"
                " or the length is wrong).",
            )
        elif not french and not GENERIC_REGISTRATION.match(number.strip()):
            add("legal.registration_number", f"Enter a registration number such as 01234567 (got {number!r}).")
    vat = legal.get("vat_number")
    if isinstance(vat, str) and vat.strip() and not VAT.match(vat.strip().upper()):
        add("legal.vat_number", f"Enter a VAT number starting with its country code, e.g. FR12345678901 (got {vat!r}).")


def luhn_valid(digits: str) -> bool:
    """The Luhn check SIREN and SIRET numbers carry in their last digit."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _social_errors(links: Any) -> list[str]:
    if links in (None, []):
        return []
    if not isinstance(links, list | tuple) or len(links) > MAX_SOCIAL_LINKS:
        return [f"Give a list of at most {MAX_SOCIAL_LINKS} https:// links."]
    problems = []
    for link in links:
        parts = urlsplit(link) if isinstance(link, str) else None
        if parts is None or parts.scheme != "https" or not parts.hostname or re.search(r"[\s\"'<>\\]", link):
            problems.append(f"{link!r} is not an https:// link.")
        elif len(link) > 300:
            problems.append("A link has at most 300 characters.")
    return problems


def _images_errors(value: Any, *, many: bool) -> list[str]:
    if value in (None, [], {}):
        return []
    items = value if many else [value]
    if many and (not isinstance(value, list | tuple) or len(value) > MAX_PHOTOS):
        return [f"Give a list of at most {MAX_PHOTOS} photos."]
    problems = []
    for position, item in enumerate(items, start=1):
        where = f"Photo {position}" if many else "The logo"
        if not isinstance(item, Mapping):
            problems.append(f"{where} must be an object with data (base64) and alt.")
            continue
        alt = item.get("alt", "")
        if not isinstance(alt, str) or len(alt) > MAX_ALT:
            problems.append(f"{where}: alt must be a text of at most {MAX_ALT} characters.")
        if "data" in item:
            if not isinstance(item["data"], str | bytes):
                problems.append(f"{where}: data must be the image file, base64-encoded.")
        elif not (
            isinstance(item.get("id"), str)
            and IMAGE_ID.match(item["id"])
            and isinstance(item.get("widths"), list | tuple)
            and item["widths"]
            and all(isinstance(w, int) and w > 0 for w in item["widths"])
            and isinstance(item.get("width"), int)
            and isinstance(item.get("height"), int)
        ):
            problems.append(f"{where} must carry data (the image, base64-encoded).")
    return problems


def stored_details(data: Mapping[str, Any]) -> dict[str, Any]:
    """The detail fields of a brief as the project keeps them (blank ones dropped)."""
    return {key: data[key] for key in DETAIL_KEYS if data.get(key) not in (None, "", [], {})}
