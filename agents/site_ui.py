"""Fixed wording of the generated sites (navigation, contact, hours, form, legal pages), in French and English."""

from __future__ import annotations

from typing import Any

UI: dict[str, dict[str, Any]] = {
    "fr": {
        "skip": "Aller au contenu",
        "menu": "Menu",
        "navigation": "Navigation principale",
        "footer_navigation": "Plan du site",
        "legal_navigation": "Informations légales",
        "contact_heading": "Nous contacter",
        "email": "E-mail",
        "phone": "Téléphone",
        "call": "Appeler",
        "call_now": "Appelez-nous",
        "callbar_text": "Une urgence ? Un conseiller vous répond au téléphone.",
        "city": "Ville",
        "address": "Adresse",
        "map_link": "Voir sur OpenStreetMap",
        "write": "Nous écrire",
        "cta_heading": "Une question, un projet ?",
        "cta_text": "Écrivez-nous : nous vous répondons rapidement.",
        "cta_text_phone": "Appelez-nous ou écrivez-nous : nous vous répondons rapidement.",
        "og_locale": "fr_FR",
        "hours_heading": "Horaires d'ouverture",
        "visit_heading": "Nous rendre visite",
        "closed": "Fermé",
        "open_now": "Ouvert en ce moment",
        "closed_now": "Fermé en ce moment",
        "days": {
            "mon": "Lundi",
            "tue": "Mardi",
            "wed": "Mercredi",
            "thu": "Jeudi",
            "fri": "Vendredi",
            "sat": "Samedi",
            "sun": "Dimanche",
        },
        "day_header": "Jour",
        "hours_header": "Horaires",
        "time_zone": "Europe/Paris",
        "gallery_heading": "En images",
        "facts_heading": "Le cabinet en bref",
        "follow": "Suivez-nous",
        "form_heading": "Envoyer un message",
        "form_intro": "Votre message est transmis directement à {name}.",
        "form_name": "Votre nom",
        "form_email": "Votre e-mail",
        "form_phone": "Votre téléphone (facultatif)",
        "form_message": "Votre message",
        "form_honeypot": "Ne pas remplir ce champ",
        "form_send": "Envoyer",
        "form_sending": "Envoi en cours…",
        "form_sent": "Merci, votre message a bien été envoyé. Nous vous répondrons au plus vite.",
        "form_failed": "Le message n'a pas pu être envoyé. Vérifiez les champs ou écrivez-nous à {email}.",
        "form_privacy": "Ce que nous faisons de votre message :",
        "legal_notice": "Mentions légales",
        "privacy": "Confidentialité",
        "legal_file": "mentions-legales.html",
        "privacy_file": "confidentialite.html",
        "back_to_site": "Retour au site",
    },
    "en": {
        "skip": "Skip to content",
        "menu": "Menu",
        "navigation": "Main navigation",
        "footer_navigation": "Site map",
        "legal_navigation": "Legal information",
        "contact_heading": "Contact us",
        "email": "Email",
        "phone": "Phone",
        "call": "Call",
        "call_now": "Call us now",
        "callbar_text": "An emergency? Call and talk to an engineer.",
        "city": "City",
        "address": "Address",
        "map_link": "View on OpenStreetMap",
        "write": "Email us",
        "cta_heading": "Questions or plans?",
        "cta_text": "Write to us and we will get back to you quickly.",
        "cta_text_phone": "Call or write to us and we will get back to you quickly.",
        "og_locale": "en_GB",
        "hours_heading": "Opening hours",
        "visit_heading": "Visit us",
        "closed": "Closed",
        "open_now": "Open now",
        "closed_now": "Closed now",
        "days": {
            "mon": "Monday",
            "tue": "Tuesday",
            "wed": "Wednesday",
            "thu": "Thursday",
            "fri": "Friday",
            "sat": "Saturday",
            "sun": "Sunday",
        },
        "day_header": "Day",
        "hours_header": "Hours",
        "time_zone": "Europe/London",
        "gallery_heading": "Photos",
        "facts_heading": "The firm at a glance",
        "follow": "Follow us",
        "form_heading": "Send us a message",
        "form_intro": "Your message goes straight to {name}.",
        "form_name": "Your name",
        "form_email": "Your email",
        "form_phone": "Your phone (optional)",
        "form_message": "Your message",
        "form_honeypot": "Leave this field empty",
        "form_send": "Send",
        "form_sending": "Sending…",
        "form_sent": "Thank you, your message has been sent. We will get back to you soon.",
        "form_failed": "The message could not be sent. Check the fields or email us at {email}.",
        "form_privacy": "What we do with your message:",
        "legal_notice": "Legal notice",
        "privacy": "Privacy",
        "legal_file": "legal-notice.html",
        "privacy_file": "privacy.html",
        "back_to_site": "Back to the site",
    },
}

# Labels of the legal identity fields, in the order a legal notice lists them.
LEGAL_LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "company_name": "Raison sociale",
        "legal_form": "Forme juridique",
        "share_capital": "Capital social",
        "registration_number": "SIREN / SIRET",
        "vat_number": "N° de TVA intracommunautaire",
        "publication_director": "Directeur de la publication",
        "professional_body": "Ordre professionnel",
        "professional_registration": "Inscription professionnelle",
    },
    "en": {
        "company_name": "Company name",
        "legal_form": "Legal form",
        "share_capital": "Share capital",
        "registration_number": "Registration number",
        "vat_number": "VAT number",
        "publication_director": "Responsible for the content",
        "professional_body": "Professional body",
        "professional_registration": "Professional registration",
    },
}

# The legal notice and the privacy page: (heading, paragraphs) with {placeholders} from legal_context().
LEGAL_TEXT: dict[str, dict[str, Any]] = {
    "fr": {
        "legal_title": "Mentions légales",
        "legal_lead": "Informations sur l'éditeur et l'hébergeur de ce site, "
        "conformément à l'article 6 de la loi pour la confiance dans l'économie numérique.",
        "publisher": "Éditeur du site",
        "head_office": "Siège",
        "host": "Hébergeur",
        "host_unknown": "L'hébergeur est l'exploitant du service de publication de ce site.",
        "regulated": "Profession réglementée",
        "credits": "Ce site ne dépose aucun cookie et ne charge aucune ressource depuis un autre site.",
        "privacy_title": "Politique de confidentialité",
        "privacy_lead": "Ce que ce site garde de vous, combien de temps, et à qui vous adresser.",
        "privacy_sections": (
            (
                "Ce que nous gardons",
                "Quand vous utilisez le formulaire de contact, nous gardons votre nom, votre adresse e-mail, votre "
                "numéro de téléphone si vous le donnez, votre message et sa date. Rien d'autre : ce site ne dépose "
                "aucun cookie, ne mesure pas votre visite et ne charge rien depuis un autre site.",
            ),
            (
                "Pourquoi",
                "Uniquement pour vous répondre. Le message est transmis par e-mail à {name} ; il n'est ni vendu ni "
                "utilisé pour de la prospection.",
            ),
            (
                "Combien de temps",
                "Les messages sont conservés {retention_months} mois après leur envoi, puis effacés.",
            ),
            (
                "Qui contacter",
                "Pour consulter, corriger ou faire effacer vos données, écrivez à {email}. Vous pouvez aussi "
                "adresser une réclamation à la CNIL (www.cnil.fr).",
            ),
        ),
    },
    "en": {
        "legal_title": "Legal notice",
        "legal_lead": "Who publishes and who hosts this website.",
        "publisher": "Publisher",
        "head_office": "Registered office",
        "host": "Hosting",
        "host_unknown": "This site is hosted by the operator of the service that publishes it.",
        "regulated": "Regulated profession",
        "credits": "This site sets no cookies and loads nothing from any other website.",
        "privacy_title": "Privacy policy",
        "privacy_lead": "What this site keeps about you, for how long, and who to ask.",
        "privacy_sections": (
            (
                "What we keep",
                "When you use the contact form we keep your name, your email address, your phone number if you give "
                "it, your message and its date. Nothing else: this site sets no cookies, does not track your visit "
                "and loads nothing from other websites.",
            ),
            (
                "Why",
                "Only to answer you. The message is emailed to {name}; it is never sold or used for marketing.",
            ),
            (
                "For how long",
                "Messages are kept for {retention_months} months after they are sent, then deleted.",
            ),
            (
                "Who to ask",
                "To see, correct or delete your data, write to {email}. You may also complain to the Information "
                "Commissioner's Office (ico.org.uk).",
            ),
        ),
    },
}

# The host every Vercel deployment names in its legal notice (Vercel's own published details).
VERCEL_HOST = {
    "name": "Vercel Inc.",
    "address": "440 N Barranca Ave #4133, Covina, CA 91723, United States",
    "contact": "privacy@vercel.com",
}
