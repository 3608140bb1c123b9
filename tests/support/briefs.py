"""The fixture briefs (tests/fixtures/briefs.json) and what a French brief must carry, for every folder's tests."""

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load_briefs() -> list[dict[str, Any]]:
    """The three valid fixture briefs followed by the invalid one."""
    return json.loads((FIXTURES / "briefs.json").read_text(encoding="utf-8"))


# What a French brief must carry for its legal notice (orders/business_details.py); tests about other things
# add it to their French briefs.
FRENCH_LEGAL: dict[str, Any] = {
    "phone": "01 23 45 67 89",
    "street_address": "1 place de la Mairie",
    "postcode": "75001",
    "legal": {
        "company_name": "Exemple SARL",
        "legal_form": "SARL",
        "share_capital": "1 000 €",
        "registration_number": "412 345 670",
        "publication_director": "Camille Exemple",
        "professional_body": "Barreau de Paris",
    },
}


# The order a customer places through the intake API (the `customer` persona's, tests/conftest.py).
ORDER_BRIEF: dict[str, Any] = {
    "business_name": "Boulangerie Martin",
    "sector": "bakery",
    "city": "Lyon",
    "description": "Pain au levain.",
    "pages": ["Accueil", "Nos pains", "Contact"],
    "brand_color": "#8a4b2a",
    "language": "fr",
    "contact_email": "contact@boulangerie-martin.example",
    # A French site must publish a legal notice: the brief carries what it needs (orders/business_details.py).
    **FRENCH_LEGAL,
}
