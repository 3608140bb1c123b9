"""The order page's form: its fields come from one list, its validation is the API's (`validate_brief`).

Every Django field is optional and untyped on purpose: what is accepted is decided by
orders.brief.validate_brief and orders.intake.intake_business_details alone (the functions the API and the
setup step call), so money is never taken for a brief that setup would refuse. This form only maps its flat
fields onto the brief's shape (`legal.company_name`, `opening_hours.mon`, photo files), turns the messages
into the visitor's language and keeps what they typed. The list of fields and their words are
orders/form_fields.py's (`orders.forms.ORDER_FORM_FIELDS` is that list).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django import forms

from orders.brief import (
    DEFAULT_BRAND_COLOR,
    LANGUAGES,
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_SHORT_TEXT,
    clean_brief,
    validate_brief,
)
from orders.business_details import DAYS, MAX_ADDRESS, MAX_LEGAL_TEXT, MAX_PHOTOS
from orders.form_fields import FORM_GROUPS, ORDER_FORM_FIELDS, REQUIRED_FOR_WORDS, BriefField
from orders.intake import intake_business_details
from orders.media import MAX_UPLOAD_BYTES

UI_LANGUAGES = ("fr", "en")
HONEYPOT = "website"  # hidden from people; a bot that fills every field fills this one


# Where validate_brief's error keys ("legal.company_name", "photos") are shown on the form.
FIELD_FOR_KEY = {spec.brief_key: spec.name for spec in ORDER_FORM_FIELDS}

# validate_brief speaks English; a French visitor reads these, field by field.
FRENCH_ERRORS: dict[str, str] = {
    "time_zone": "Indiquez un fuseau horaire comme Europe/Paris ou America/Montreal.",
    "business_name": f"Indiquez le nom de votre entreprise ({MAX_NAME} caractères au plus).",
    "contact_email": "Indiquez une adresse e-mail valide, par exemple nom@exemple.fr.",
    "sector": f"Le métier tient en {MAX_SHORT_TEXT} caractères au plus.",
    "city": f"La ville tient en {MAX_SHORT_TEXT} caractères au plus.",
    "description": f"La description tient en {MAX_DESCRIPTION} caractères au plus.",
    "pages": "Indiquez de 1 à 12 pages, une par ligne, sans doublon, 60 caractères au plus chacune.",
    "brand_color": "Choisissez une couleur au format #rrggbb.",
    "language": "Choisissez le français ou l'anglais.",
    "phone": "Indiquez un numéro de téléphone, par exemple 04 78 12 34 56.",
    "street_address": f"L'adresse tient en {MAX_ADDRESS} caractères au plus.",
    "postcode": "Indiquez un code postal de 5 chiffres, par exemple 69001.",
    "opening_hours": "Indiquez des plages comme 09:00-12:30, 14:00-19:00, dans l'ordre de la journée.",
    "legal.registration_number": "Indiquez le SIREN (9 chiffres) ou le SIRET (14 chiffres) tel qu'enregistré.",
    "legal.vat_number": "Indiquez le numéro de TVA avec son code pays, par exemple FR12345678901.",
    "social_links": "Indiquez au plus 6 liens commençant par https://, un par ligne.",
    "photos": f"Donnez au plus {MAX_PHOTOS} images JPEG, PNG ou WebP, d'au moins 320 px de côté et de "
    f"{MAX_UPLOAD_BYTES // (1024 * 1024)} Mo au plus chacune.",
    "logo": f"Donnez une image JPEG, PNG ou WebP d'au moins 48 px de côté, {MAX_UPLOAD_BYTES // (1024 * 1024)} Mo "
    "au plus.",
}
FRENCH_LEGAL_TEXT_ERROR = f"Ce champ tient en {MAX_LEGAL_TEXT} caractères au plus."
FRENCH_REQUIRED = "Obligatoire pour un site en français : les mentions légales doivent l'indiquer."
FRENCH_REQUIRED_REGULATED = (
    "Obligatoire pour une profession réglementée : les mentions légales nomment son ordre (par exemple le barreau)."
)
FRENCH_REQUIRED_CAPITAL = "Obligatoire pour une société : les mentions légales indiquent son capital social."
FORM_ERROR = {
    "fr": "Votre commande n'est pas encore partie : corrigez le champ signalé ci-dessous.",
    "en": "Your order has not gone yet: please fix the field marked below.",
}
LANGUAGE_NAMES = {"fr": {"fr": "Français", "en": "Anglais"}, "en": {"fr": "French", "en": "English"}}


def _read_capped(upload: Any) -> bytes:
    """The upload's bytes, at most one byte over orders/media.py's limit: enough for it to refuse the file
    as too large without holding a huge one in memory."""
    return upload.read(MAX_UPLOAD_BYTES + 1)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name (Django's documented recipe); the checks are orders/media.py's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(f, initial) for f in files if f]


class OrderForm(forms.Form):
    """Built from ORDER_FORM_FIELDS in the visitor's language (`ui`). Post it with request.FILES."""

    submission_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    website = forms.CharField(required=False, label="Website")  # the honeypot; the template hides it

    def __init__(self, *args: Any, ui: str = "fr", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ui = ui if ui in UI_LANGUAGES else "fr"
        self.brief: dict[str, Any] = {}
        for spec in ORDER_FORM_FIELDS:
            self.fields[spec.name] = self._field(spec)
        if not self.is_bound and not self.initial.get("submission_key"):
            self.initial["submission_key"] = secrets.token_urlsafe(24)
        self.initial.setdefault("language", self.ui)
        self.initial.setdefault("brand_color", DEFAULT_BRAND_COLOR)

    def _field(self, spec: BriefField) -> forms.Field:
        label = spec.label.get(self.ui, spec.label["en"])
        help_text = spec.help.get(self.ui, spec.help.get("en", ""))
        attrs: dict[str, Any] = {"autocomplete": "off"} if spec.kind == "color" else {}
        if spec.required:
            attrs["aria-required"] = "true"
        if spec.kind == "language":
            choices = [(code, LANGUAGE_NAMES[self.ui][code]) for code in LANGUAGES]
            return forms.ChoiceField(choices=choices, required=False, label=label, help_text=help_text)
        if spec.kind in ("image", "images"):
            # Content checks (format, size, pixels) are orders/media.py's; `accept` only filters the picker.
            file_attrs = {"accept": "image/jpeg,image/png,image/webp"}
            if spec.kind == "images":
                return MultipleFileField(
                    required=False, label=label, help_text=help_text, widget=MultipleFileInput(attrs=file_attrs)
                )
            return forms.FileField(
                required=False, label=label, help_text=help_text, widget=forms.ClearableFileInput(attrs=file_attrs)
            )
        widget: forms.Widget
        if spec.kind in ("textarea", "lines", "alts"):
            widget = forms.Textarea(attrs={**attrs, "rows": 4 if spec.kind == "textarea" else 3})
        elif spec.kind == "email":
            widget = forms.EmailInput(attrs={**attrs, "autocomplete": "email"})
        elif spec.kind == "tel":
            widget = forms.TextInput(attrs={**attrs, "type": "tel", "autocomplete": "tel"})
        elif spec.kind == "color":
            widget = forms.TextInput(attrs={**attrs, "type": "color"})
        else:
            widget = forms.TextInput(attrs=attrs)
        # No max_length or required here: the brief's validation is the one rule (see the module doc).
        return forms.CharField(required=False, strip=False, label=label, help_text=help_text, widget=widget)

    def submission_key_for(self, ui: str) -> str:
        """The order's key: the form's one-time token and a digest of what was submitted with it.

        A double click (the same form, the same content) finds the first order; the same form sent again
        with something corrected after Back, or in the other language, is another order (the first one,
        never paid, expires at Stripe and is closed as abandoned), never a silent return of the old brief.
        """
        digest = hashlib.sha256(ui.encode())
        for name in sorted(self.data):
            if name in ("csrfmiddlewaretoken", "submission_key", HONEYPOT, "ui"):
                continue
            for value in self.data.getlist(name) if hasattr(self.data, "getlist") else [self.data[name]]:
                digest.update(f"\x00{name}\x00{value}".encode("utf-8", "surrogatepass"))
        for name in sorted(self.files or {}):
            uploads = self.files.getlist(name) if hasattr(self.files, "getlist") else [self.files[name]]
            for upload in uploads:
                upload.seek(0)
                content = hashlib.sha256()
                for chunk in upload.chunks():
                    content.update(chunk)
                digest.update(f"\x00{name}\x00{content.hexdigest()}".encode())
        token = str(self.cleaned_data.get("submission_key") or "")
        return f"{token[:39]}:{digest.hexdigest()[:24]}"

    @property
    def honeypot_filled(self) -> bool:
        return bool(str(self.data.get(HONEYPOT, "")).strip())

    def groups(self) -> list[dict[str, Any]]:
        """The form's sections for the template: heading, why it is asked, and its fields in list order."""
        sections: dict[str, dict[str, Any]] = {}
        for spec in ORDER_FORM_FIELDS:
            heading, intro = FORM_GROUPS[self.ui][spec.group]
            section = sections.setdefault(
                spec.group, {"id": spec.group, "heading": heading, "intro": intro, "rows": []}
            )
            marker = REQUIRED_FOR_WORDS[self.ui].get(spec.required_for, "")
            section["rows"].append({"field": self[spec.name], "required": spec.required, "required_for": marker})
        return list(sections.values())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        brief = self._brief(cleaned)
        images = {key: brief.pop(key) for key in ("photos", "logo") if key in brief}
        # One validation: the setup step's (validate_brief, which checks the business details too) ...
        errors = validate_brief({**brief, **images})
        if not errors:
            # ... then the intake's, which also opens every image with Pillow and prepares it (orders/media.py).
            details, errors = intake_business_details({**brief, **images}, brief)
            if not errors:
                # Stored as the API stores it (gateway/serializers.py): names and titles cleaned, text printable,
                # so no control character, noncharacter or bidi override reaches the status page, an email or
                # the admin (the site was already built from the cleaned brief).
                cleaned_brief = {k: v for k, v in clean_brief(brief).items() if v is not None}
                brief = {**{k: v for k, v in brief.items() if k not in details}, **cleaned_brief, **details}
        for name, messages in errors.items():
            for message in messages:
                self._add_brief_error(name, message)
        self.brief = brief
        return cleaned

    def _brief(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        """The flat form's values in the brief's shape (what validate_brief and project_create read)."""
        brief: dict[str, Any] = {}
        alts: list[str] = []
        for spec in ORDER_FORM_FIELDS:
            value = cleaned.get(spec.name)
            key = spec.brief_key
            if spec.kind in ("lines", "alts"):
                lines = [line.strip() for line in str(value or "").splitlines() if line.strip()]
                if spec.kind == "alts":
                    alts = lines
                elif lines:
                    brief[key] = lines
            elif spec.kind == "images":
                if value:
                    brief[key] = [{"data": _read_capped(upload), "alt": ""} for upload in value]
            elif spec.kind == "image":
                if value:
                    brief[key] = {"data": _read_capped(value), "alt": ""}
            elif spec.kind == "hours":
                ranges = [part.strip() for part in str(value or "").replace(";", ",").split(",") if part.strip()]
                if ranges:
                    brief.setdefault("opening_hours", {})[key.split(".", 1)[1]] = ranges
            elif isinstance(value, str) and value.strip():
                if "." in key:
                    parent, child = key.split(".", 1)
                    brief.setdefault(parent, {})[child] = value.strip()
                else:
                    brief[key] = value.strip()
            elif spec.required:
                brief[key] = value or ""
        for position, photo in enumerate(brief.get("photos", [])):
            photo["alt"] = alts[position] if position < len(alts) else ""
        if "logo" in brief:
            brief["logo"]["alt"] = f"Logo {brief.get('business_name', '')}".strip()
        return brief

    def _add_brief_error(self, key: str, message: str) -> None:
        """Show one of validate_brief's messages on its field, in French for a French visitor."""
        name = FIELD_FOR_KEY.get(key)
        if key == "opening_hours":
            day = message.split(":", 1)[0]
            name = f"opening_hours_{day}" if day in DAYS else "opening_hours_mon"
        elif key == "legal":
            name = "legal_company_name"
        if self.ui == "fr":
            if message.startswith("Required for a French"):
                message = {
                    "legal.professional_body": FRENCH_REQUIRED_REGULATED,
                    "legal.share_capital": FRENCH_REQUIRED_CAPITAL,
                }.get(key, FRENCH_REQUIRED)
            else:
                fallback = FRENCH_LEGAL_TEXT_ERROR if key.startswith("legal.") else message
                message = FRENCH_ERRORS.get(key, fallback)
        if name is not None and name in self.fields and message in self.errors.get(name, []):
            return  # one French message for several English ones (e.g. two bad photos)
        self.add_error(name if name in self.fields else None, message)
