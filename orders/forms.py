"""The order page's form: its fields come from one list, its validation is the API's (`validate_brief`).

Every Django field is optional and untyped on purpose: what is accepted is decided by
agents.brief.validate_brief alone, the function the API and the setup step call, so money is
never taken for a brief that setup would refuse. This form only turns its messages into the
visitor's language and keeps what they typed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from django import forms

from agents.brief import DEFAULT_BRAND_COLOR, LANGUAGES, MAX_DESCRIPTION, MAX_NAME, MAX_SHORT_TEXT, validate_brief

UI_LANGUAGES = ("fr", "en")
HONEYPOT = "website"  # hidden from people; a bot that fills every field fills this one


@dataclass(frozen=True)
class BriefField:
    """One field of the brief on the order page. `kind`: text, email, textarea, lines, color, language."""

    name: str
    label: dict[str, str]
    kind: str = "text"
    help: dict[str, str] = field(default_factory=dict)
    max_length: int | None = None
    required: bool = False  # shown as required; validate_brief decides


# The brief's fields, in page order. Another module may append optional ones (their names must be
# what validate_brief and project_create read).
ORDER_FORM_FIELDS: list[BriefField] = [
    BriefField(
        "business_name",
        {"fr": "Nom de votre entreprise", "en": "Your business's name"},
        required=True,
        max_length=MAX_NAME,
    ),
    BriefField(
        "contact_email",
        {"fr": "Votre adresse e-mail", "en": "Your email address"},
        kind="email",
        required=True,
        help={
            "fr": "Reçu, suivi et site en ligne : tout arrive ici.",
            "en": "Receipt, progress and your live site: everything comes here.",
        },
    ),
    BriefField(
        "sector",
        {"fr": "Métier", "en": "Trade"},
        max_length=MAX_SHORT_TEXT,
        help={"fr": "Par exemple : boulangerie, plombier, avocat.", "en": "For example: bakery, plumber, lawyer."},
    ),
    BriefField("city", {"fr": "Ville", "en": "Town or city"}, max_length=MAX_SHORT_TEXT),
    BriefField(
        "description",
        {"fr": "Votre activité en quelques phrases", "en": "Your business in a few sentences"},
        kind="textarea",
        max_length=MAX_DESCRIPTION,
    ),
    BriefField(
        "pages",
        {"fr": "Pages du site", "en": "Pages of the site"},
        kind="lines",
        help={
            "fr": "Une par ligne. Laissez vide pour : Accueil, À propos, Services, Contact.",
            "en": "One per line. Leave empty for: Home, About, Services, Contact.",
        },
    ),
    BriefField("brand_color", {"fr": "Couleur de votre marque", "en": "Your brand colour"}, kind="color"),
    BriefField("language", {"fr": "Langue du site", "en": "Language of the site"}, kind="language"),
]

# validate_brief speaks English; a French visitor reads these, field by field.
FRENCH_ERRORS: dict[str, str] = {
    "business_name": f"Indiquez le nom de votre entreprise ({MAX_NAME} caractères au plus).",
    "contact_email": "Indiquez une adresse e-mail valide, par exemple nom@exemple.fr.",
    "sector": f"Le métier tient en {MAX_SHORT_TEXT} caractères au plus.",
    "city": f"La ville tient en {MAX_SHORT_TEXT} caractères au plus.",
    "description": f"La description tient en {MAX_DESCRIPTION} caractères au plus.",
    "pages": "Indiquez de 1 à 12 pages, une par ligne, sans doublon, 60 caractères au plus chacune.",
    "brand_color": "Choisissez une couleur au format #rrggbb.",
    "language": "Choisissez le français ou l'anglais.",
}
FORM_ERROR = {
    "fr": "Votre commande n'est pas encore partie : corrigez le champ signalé ci-dessous.",
    "en": "Your order has not gone yet: please fix the field marked below.",
}
LANGUAGE_NAMES = {"fr": {"fr": "Français", "en": "Anglais"}, "en": {"fr": "French", "en": "English"}}


class OrderForm(forms.Form):
    """Built from ORDER_FORM_FIELDS in the visitor's language (`ui`)."""

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
        widget: forms.Widget
        if spec.kind == "textarea" or spec.kind == "lines":
            widget = forms.Textarea(attrs={**attrs, "rows": 4})
        elif spec.kind == "email":
            widget = forms.EmailInput(attrs={**attrs, "autocomplete": "email"})
        elif spec.kind == "color":
            widget = forms.TextInput(attrs={**attrs, "type": "color"})
        else:
            widget = forms.TextInput(attrs=attrs)
        # No max_length or required here: the brief's validation is the one rule (see the module doc).
        return forms.CharField(required=False, strip=False, label=label, help_text=help_text, widget=widget)

    @property
    def honeypot_filled(self) -> bool:
        return bool(str(self.data.get(HONEYPOT, "")).strip())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        brief: dict[str, Any] = {}
        for spec in ORDER_FORM_FIELDS:
            value = cleaned.get(spec.name)
            if spec.kind == "lines":
                lines = [line.strip() for line in str(value or "").splitlines() if line.strip()]
                if lines:
                    brief[spec.name] = lines
            elif isinstance(value, str) and value.strip():
                brief[spec.name] = value.strip()
            elif spec.required:
                brief[spec.name] = value or ""
        for name, messages in validate_brief(brief).items():
            message = FRENCH_ERRORS.get(name) if self.ui == "fr" else None
            self.add_error(name if name in self.fields else None, message or " ".join(messages))
        self.brief = brief
        return cleaned
