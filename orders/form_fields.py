"""What the order page asks, in page order: the brief's fields, the sections they stand in, and
their words in French and English. orders/forms.py builds the form from this list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orders.brief import MAX_DESCRIPTION, MAX_NAME, MAX_SHORT_TEXT
from orders.business_details import DAYS, MAX_ADDRESS, MAX_LEGAL_TEXT, MAX_PHOTOS
from orders.media import MAX_UPLOAD_BYTES


@dataclass(frozen=True)
class BriefField:
    """One field of the brief on the order page.

    `kind`: text, email, tel, textarea, lines, color, language, hours (one day: "09:00-12:30, 14:00-19:00"),
    image (one file) or images (several). `key` is the field's place in the brief when it is nested
    ("legal.company_name", "opening_hours.mon"); the form's field is named `name` (no dot: a CSS selector).
    `required_for`: "fr" when a French site needs it for its legal notice, "regulated" for a regulated trade's.
    """

    name: str
    label: dict[str, str]
    kind: str = "text"
    help: dict[str, str] = field(default_factory=dict)
    max_length: int | None = None
    required: bool = False  # shown as required; validate_brief decides
    group: str = "business"
    key: str = ""
    required_for: str = ""

    @property
    def brief_key(self) -> str:
        return self.key or self.name


def legal_field(
    name: str, label: dict[str, str], *, required_for: str = "", help: dict[str, str] | None = None
) -> BriefField:
    """A field of the legal identity: `legal.<name>` in the brief, `legal_<name>` on the form, as
    long as the legal notice takes."""
    return BriefField(
        f"legal_{name}",
        label,
        help=help or {},
        group="legal",
        key=f"legal.{name}",
        required_for=required_for,
        max_length=MAX_LEGAL_TEXT,
    )


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
    # Contact details, shown on the site; a French site's legal notice needs the address and phone.
    BriefField(
        "phone",
        {"fr": "Téléphone", "en": "Phone"},
        kind="tel",
        group="contact",
        required_for="fr",
        max_length=24,
    ),
    BriefField(
        "street_address",
        {"fr": "Adresse (numéro et rue)", "en": "Street address"},
        group="contact",
        required_for="fr",
        max_length=MAX_ADDRESS,
    ),
    BriefField("postcode", {"fr": "Code postal", "en": "Postcode"}, group="contact", required_for="fr", max_length=10),
    BriefField(
        "time_zone",
        {"fr": "Fuseau horaire des horaires", "en": "Time zone of the hours"},
        group="hours",
        max_length=64,
        help={
            "fr": "Par exemple America/Montreal. Vide : Europe/Paris (site en français), Europe/London (en anglais).",
            "en": "E.g. Europe/Paris. Empty: Europe/Paris for a site in French, Europe/London in English.",
        },
    ),
    *(
        BriefField(
            f"opening_hours_{day}",
            label,
            kind="hours",
            group="hours",
            key=f"opening_hours.{day}",
            help={"fr": "Par exemple : 09:00-12:30, 14:00-19:00. Vide : fermé.", "en": "E.g. 09:00-12:30, 14:00-19:00."}
            if day == "mon"
            else {},
        )
        for day, label in zip(
            DAYS,
            (
                {"fr": "Lundi", "en": "Monday"},
                {"fr": "Mardi", "en": "Tuesday"},
                {"fr": "Mercredi", "en": "Wednesday"},
                {"fr": "Jeudi", "en": "Thursday"},
                {"fr": "Vendredi", "en": "Friday"},
                {"fr": "Samedi", "en": "Saturday"},
                {"fr": "Dimanche", "en": "Sunday"},
            ),
            strict=True,
        )
    ),
    # The legal identity (orders/business_details.py LEGAL_KEYS): what the legal notice publishes.
    legal_field(
        "company_name",
        {"fr": "Raison sociale (ou nom de l'entrepreneur)", "en": "Registered company name"},
        required_for="fr",
    ),
    legal_field(
        "legal_form",
        {"fr": "Forme juridique", "en": "Legal form"},
        required_for="fr",
        help={"fr": "Par exemple : SARL, SAS, EI, micro-entreprise.", "en": "For example: Ltd, LLP, sole trader."},
    ),
    legal_field(
        "registration_number",
        {"fr": "SIREN ou SIRET", "en": "Company registration number"},
        required_for="fr",
    ),
    legal_field(
        "publication_director",
        {"fr": "Directeur ou directrice de la publication", "en": "Person responsible for the site's content"},
        required_for="fr",
    ),
    legal_field("vat_number", {"fr": "Numéro de TVA intracommunautaire", "en": "VAT number"}),
    legal_field("share_capital", {"fr": "Capital social", "en": "Share capital"}),
    legal_field(
        "professional_body",
        {"fr": "Ordre ou organisme professionnel", "en": "Professional body"},
        required_for="regulated",
        help={"fr": "Par exemple : Barreau de Lyon.", "en": "For example: the Law Society."},
    ),
    legal_field(
        "professional_registration",
        {"fr": "Numéro d'inscription à l'ordre", "en": "Professional registration number"},
    ),
    BriefField(
        "social_links",
        {"fr": "Réseaux sociaux", "en": "Social media"},
        kind="lines",
        group="media",
        help={"fr": "Un lien https:// par ligne.", "en": "One https:// link per line."},
    ),
    BriefField(
        "photos",
        {"fr": "Photos", "en": "Photos"},
        kind="images",
        group="media",
        help={
            "fr": f"JPEG, PNG ou WebP, {MAX_PHOTOS} au plus, {MAX_UPLOAD_BYTES // (1024 * 1024)} Mo chacune.",
            "en": f"JPEG, PNG or WebP, at most {MAX_PHOTOS}, {MAX_UPLOAD_BYTES // (1024 * 1024)} MB each.",
        },
    ),
    BriefField(
        "photos_alt",
        {"fr": "Ce que montrent les photos", "en": "What the photos show"},
        kind="alts",
        group="media",
        help={
            "fr": "Une ligne par photo, dans l'ordre : lue aux personnes aveugles.",
            "en": "One line per photo, in order: read out to blind visitors.",
        },
    ),
    BriefField("logo", {"fr": "Logo", "en": "Logo"}, kind="image", group="media"),
]
# The form's sections, in page order: (group, heading, why it is asked).
FORM_GROUPS: dict[str, dict[str, tuple[str, str]]] = {
    "fr": {
        "business": ("Votre entreprise", ""),
        "contact": ("Coordonnées", "Affichées sur votre site."),
        "hours": ("Horaires d'ouverture", "Facultatif : laissez vide les jours de fermeture."),
        "legal": (
            "Mentions légales",
            "La loi (LCEN, art. 6) impose à tout site professionnel français de publier l'identité de son "
            "éditeur : nous rédigeons vos mentions légales à partir de ces informations. Obligatoires pour un "
            "site en français.",
        ),
        "media": ("Photos, logo et réseaux sociaux", "Facultatif."),
    },
    "en": {
        "business": ("Your business", ""),
        "contact": ("Contact details", "Shown on your site."),
        "hours": ("Opening hours", "Optional: leave the days you are closed empty."),
        "legal": (
            "Legal notice (mentions légales)",
            "French law (LCEN, art. 6) requires every French business site to publish who runs it: we write "
            "your legal notice from these details. Required for a site in French.",
        ),
        "media": ("Photos, logo and social media", "Optional."),
    },
}
REQUIRED_FOR_WORDS = {
    "fr": {"fr": "obligatoire pour un site en français", "regulated": "obligatoire pour une profession réglementée"},
    "en": {"fr": "required for a site in French", "regulated": "required for a regulated trade"},
}
