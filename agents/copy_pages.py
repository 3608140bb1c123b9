"""Phrases shared by every sector (page-level phrases and the generic-sector fallback), in French and English.

Same placeholders as the sector banks in copy_fr and copy_en; the generic fallback builds on the customer's own
sector word ({sector}, {sector_title}) and description.
"""

from __future__ import annotations

from typing import Any

GENERIC: dict[str, dict[str, Any]] = {
    "fr": {
        "noun": "{sector}",
        "keyword": "{sector}",
        "offers_heading": "Ce que nous proposons",
        "offers": ("conseil personnalisé", "réalisation sur mesure", "suivi après la prestation"),
        "offer_details": (
            "Nous commençons par comprendre votre besoin, vos contraintes et votre budget.",
            "Une prestation adaptée à votre situation, avec un interlocuteur unique du début à la fin.",
            "Après la prestation, nous restons disponibles pour ajuster et répondre à vos questions.",
            "Un travail soigné, expliqué étape par étape.",
        ),
        "hero": ("{name}, {sector} {in_city}", "Votre partenaire {in_city}"),
        "subheading": (
            "Un service sérieux, des réponses claires et un interlocuteur qui connaît votre dossier.",
            "Nous prenons le temps de comprendre votre besoin avant de vous proposer une solution.",
        ),
        "cta": "Nous contacter",
        "values": (
            ("Un interlocuteur unique", "Vous savez à qui parler, du premier échange au suivi."),
            ("Des engagements clairs", "Délais et prix sont annoncés avant de commencer."),
            ("Un ancrage local", "Nous connaissons le territoire et ses acteurs, et nous y travaillons chaque jour."),
        ),
        "story": "{name} accompagne ses clients {in_city} avec une exigence simple : bien faire son métier et "
        "l'expliquer clairement.",
        "approach": "Chaque demande commence par un échange pour cerner vos besoins, puis une proposition écrite.",
        "contact_tip": ("Pour bien préparer votre demande", "Décrivez votre besoin, vos délais et vos questions."),
        "pricing": (
            (
                "Une proposition écrite",
                "Chaque prestation fait l'objet d'une proposition détaillée avant de commencer.",
            ),
            ("Sans surprise", "Le prix convenu est le prix facturé, sauf changement que vous avez validé."),
        ),
        "emergency": (
            ("Une demande urgente ?", "Indiquez-le dans votre message : nous vous répondons en priorité."),
            ("Ce qu'il faut nous dire", "Décrivez la situation, vos délais et le meilleur moyen de vous joindre."),
        ),
        "topics": {},
        "ad_themes": (("{sector_title}", ("{sector}",)),),
        "ad_headlines": ("Un interlocuteur unique", "Devis clair et rapide", "Contactez-nous", "Un service sérieux"),
        "ad_descriptions": (
            "{name} : {sector} {in_city}. Des réponses claires et un suivi personnalisé.",
            "Décrivez votre besoin : nous vous répondons avec une proposition écrite.",
        ),
    },
    "en": {
        "noun": "{sector}",
        "keyword": "{sector}",
        "offers_heading": "What we offer",
        "offers": ("tailored advice", "work made to measure", "follow-up after the job"),
        "offer_details": (
            "We start by understanding what you need, your constraints and your budget.",
            "A service fitted to your situation, with one point of contact from start to finish.",
            "After the job we stay available to adjust things and answer your questions.",
            "Careful work, explained step by step.",
        ),
        "hero": ("{name}: {sector} {in_city}", "Your local partner {in_city}"),
        "subheading": (
            "A serious service, clear answers and one contact who knows your file.",
            "We take the time to understand your needs before proposing a solution.",
        ),
        "cta": "Contact us",
        "values": (
            ("One point of contact", "You always know who to talk to, from first message to follow-up."),
            ("Clear commitments", "Timing and price are agreed before we start."),
            ("Rooted locally", "We know the area and the people in it, and we work here every day."),
        ),
        "story": "{name} works with clients {in_city} to one simple standard: do the job well and explain it clearly.",
        "approach": "Every request starts with a conversation about your needs, followed by a written proposal.",
        "contact_tip": ("Preparing your request", "Describe what you need, your timing and any questions."),
        "pricing": (
            ("A written proposal", "Every job gets a detailed written proposal before we start."),
            ("No surprises", "The price we agree is the price you pay, unless you approve a change."),
        ),
        "emergency": (
            ("Something urgent?", "Say so in your message and we will answer first."),
            ("What to tell us", "Describe the situation, your deadline and the best way to reach you."),
        ),
        "topics": {},
        "ad_themes": (("{sector_title}", ("{sector}",)),),
        "ad_headlines": ("One Point Of Contact", "Clear, Fast Quotes", "Contact Us Today", "A Service You Can Trust"),
        "ad_descriptions": (
            "{name}: {sector} {in_city}. Clear answers and personal follow-up.",
            "Tell us what you need and we will reply with a written proposal.",
        ),
    },
}

PAGES: dict[str, dict[str, Any]] = {
    "fr": {
        "home_title": "{name} – {noun_cap} {in_city}",  # noqa: RUF001 (typographic dash)
        "home_title_short": "{name} – {noun_cap}",  # noqa: RUF001
        "page_title": "{title} – {name}",  # noqa: RUF001
        "page_meta": "{title} – {name}. {sub}",  # noqa: RUF001
        "home_meta": "{name}, {noun} {in_city} : {offers}.",
        "home_meta_short": "{name}, {noun}.",
        "about_heading": "À propos {of_name}",
        "team_heading": "L'équipe {of_name}",
        "about_sub": "Qui nous sommes, comment nous travaillons et ce qui compte pour nous.",
        "story_heading": "Notre histoire",
        "approach_heading": "Notre façon de travailler",
        "team_section": (
            "Une équipe à votre écoute",
            "Chez {name}, vous êtes reçu par des professionnels qui connaissent leur métier et prennent le temps "
            "d'expliquer. Écrivez-nous à {email} pour nous rencontrer.",
        ),
        "services_sub": "Ce que {name} fait pour vous {in_city}.",
        "contact_heading": "Contactez {name}",
        "contact_sub": "Une question, une demande de devis ou de rendez-vous ? Écrivez-nous, nous vous répondons vite.",
        "contact_cta": "Écrire un e-mail",
        "contact_write": ("Écrivez-nous", "Le plus simple est d'écrire à {email} en décrivant votre demande."),
        "contact_where": (
            "Où nous trouver",
            "Retrouvez {name} {in_city}. Pour une demande particulière, prévenez-nous par e-mail avant de passer.",
        ),
        "pricing_sub": "Des prix clairs, annoncés avant de commencer.",
        "pricing_quote": (
            "Demander un devis",
            "Écrivez à {email} en décrivant votre besoin : nous vous envoyons un devis détaillé.",
        ),
        "emergency_heading": "{title} : nous sommes là",
        "emergency_call": (
            "Appelez-nous",
            "Composez le {phone} : pour une urgence, le téléphone va plus vite qu'un e-mail.",
        ),
        "emergency_sub_phone": "Appelez le {phone} ou écrivez à {email} : les demandes urgentes passent en priorité.",
        "emergency_sub": "Décrivez la situation à {email} : les demandes urgentes sont traitées en priorité.",
        "emergency_sub_short": "Décrivez la situation par e-mail : les demandes urgentes sont traitées en priorité.",
        "generic_sub": "{title} chez {name}, {in_city}.",
        "generic_intro": ("{title}", "Vous trouverez ici l'essentiel sur « {title} » chez {name}. {approach}"),
        "generic_question": (
            "Une question sur « {title} » ?",
            "Écrivez-nous à {email} : nous vous répondons avec des informations précises et adaptées à votre demande.",
        ),
        "description_heading": "Bon à savoir",
        "offers_joiner": ", ",
        "no_city": "près de chez vous",
        "no_city_bare": "votre région",
    },
    "en": {
        "home_title": "{name} – {noun_cap} {in_city}",  # noqa: RUF001 (typographic dash)
        "home_title_short": "{name} – {noun_cap}",  # noqa: RUF001
        "page_title": "{title} – {name}",  # noqa: RUF001
        "page_meta": "{title} – {name}. {sub}",  # noqa: RUF001
        "home_meta": "{name}, {noun} {in_city}: {offers}.",
        "home_meta_short": "{name}, {noun}.",
        "about_heading": "About {name}",
        "team_heading": "Meet the {name} team",
        "about_sub": "Who we are, how we work and what matters to us.",
        "story_heading": "Our story",
        "approach_heading": "How we work",
        "team_section": (
            "A team that listens",
            "At {name} you deal with people who know their trade and take the time to explain. Email {email} to "
            "arrange a meeting.",
        ),
        "services_sub": "What {name} does for you {in_city}.",
        "contact_heading": "Get in touch with {name}",
        "contact_sub": "A question, a quote or an appointment? Email us and we will get back to you quickly.",
        "contact_cta": "Send an email",
        "contact_write": ("Email us", "The quickest way to reach us is to write to {email} describing what you need."),
        "contact_where": (
            "Where to find us",
            "Find {name} {in_city}. For anything special, email us before you visit.",
        ),
        "pricing_sub": "Clear prices, agreed before we start.",
        "pricing_quote": (
            "Ask for a quote",
            "Email {email} describing what you need and we will send a detailed quote.",
        ),
        "emergency_heading": "{title}: we are here to help",
        "emergency_call": ("Call us now", "Ring {phone}: for an urgent job, a call is quicker than an email."),
        "emergency_sub_phone": "Call {phone} or write to {email}: urgent requests come first.",
        "emergency_sub": "Describe the situation to {email}: urgent requests are handled first.",
        "emergency_sub_short": "Describe the situation by email: urgent requests are handled first.",
        "generic_sub": "{title} at {name}, {in_city}.",
        "generic_intro": ("{title}", "Everything you need to know about {title_lower} at {name}. {approach}"),
        "generic_question": (
            "Questions about {title_lower}?",
            "Email {email} and we will reply with precise information tailored to your request.",
        ),
        "description_heading": "Good to know",
        "offers_joiner": ", ",
        "no_city": "near you",
        "no_city_bare": "your area",
    },
}
