"""Realistic briefs for `manage.py demo` and the load test: three very different businesses."""

from __future__ import annotations

from typing import Any

DEMO_BRIEFS: list[dict[str, Any]] = [
    {
        "business_name": "Boulangerie Martin",
        "sector": "bakery",
        "city": "Lyon",
        "description": (
            "Boulangerie artisanale depuis 1987 : pain au levain, viennoiseries pur beurre, gâteaux de saison. "
            "Ouvert du mardi au dimanche."
        ),
        "pages": ["Accueil", "Nos pains", "Pâtisseries", "Contact"],
        "brand_color": "#8a4b2a",
        "language": "fr",
        "contact_email": "contact@boulangerie-martin.example",
    },
    {
        "business_name": "Leeds Rapid Plumbing",
        "sector": "plumber",
        "city": "Leeds",
        "description": (
            "Gas Safe registered plumbers covering Leeds and West Yorkshire. Boiler repairs, bathroom fitting "
            "and 24/7 emergency call-outs."
        ),
        "pages": ["Home", "Services", "Emergency call-out", "About", "Contact"],
        "brand_color": "#0b5cab",
        "language": "en",
        "contact_email": "jobs@leedsrapidplumbing.example",
    },
    {
        "business_name": "Cabinet Durand & Associés",
        "sector": "law firm",
        "city": "Bordeaux",
        "description": (
            "Avocats en droit des affaires et droit du travail. Conseil aux PME, contentieux prud'homal, "
            "rédaction de contrats."
        ),
        "pages": ["Accueil", "Expertises", "L'équipe", "Honoraires", "Contact"],
        "brand_color": "#1f2937",
        "language": "fr",
        "contact_email": "accueil@durand-avocats.example",
    },
]
