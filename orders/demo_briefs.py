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
        "phone": "04 72 00 12 34",
        "street_address": "12 rue de la République",
        "postcode": "69002",
        "opening_hours": {
            "tue": ["07:00-13:30", "15:30-19:30"],
            "wed": ["07:00-13:30", "15:30-19:30"],
            "thu": ["07:00-13:30", "15:30-19:30"],
            "fri": ["07:00-13:30", "15:30-19:30"],
            "sat": ["07:00-19:30"],
            "sun": ["07:00-13:00"],
        },
        "legal": {
            "company_name": "Boulangerie Martin SARL",
            "legal_form": "SARL",
            "share_capital": "10 000 €",
            "registration_number": "412 345 670",
            "vat_number": "FR32412345670",
            "publication_director": "Marie Martin",
        },
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
        "phone": "0113 496 0123",
        "street_address": "14 Kirkstall Road",
        "postcode": "LS3 1HS",
        "legal": {
            "company_name": "Leeds Rapid Plumbing Ltd",
            "legal_form": "Private limited company",
            "registration_number": "09876543",
        },
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
        "phone": "05 56 00 45 67",
        "street_address": "8 cours de l'Intendance",
        "postcode": "33000",
        "opening_hours": {
            "mon": ["09:00-12:30", "14:00-19:00"],
            "tue": ["09:00-12:30", "14:00-19:00"],
            "wed": ["09:00-12:30", "14:00-19:00"],
            "thu": ["09:00-12:30", "14:00-19:00"],
            "fri": ["09:00-12:30", "14:00-18:00"],
        },
        "legal": {
            "company_name": "Cabinet Durand & Associés",
            "legal_form": "SELARL",
            "share_capital": "5 000 €",
            "registration_number": "823 456 785",
            "vat_number": "FR45823456785",
            "publication_director": "Claire Durand",
            "professional_body": "Barreau de Bordeaux",
            "professional_registration": "Avocats inscrits au barreau de Bordeaux (France)",
        },
    },
]
