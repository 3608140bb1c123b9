import pytest
from django.conf import settings

from orders.mail import render_email, send_email

STATUS_URL = "https://studio.example/status/4f9c2b7e1d/"
SITE_URL = "https://boulangerie-martin-lyon.vercel.app/"
SUMMARY = "Votre campagne Google Ads est prête : 4 groupes d'annonces.\nBudget : 20,00 € par jour."


def payment_context() -> dict:
    return {
        "business_name": "Boulangerie Martin",
        "status_url": STATUS_URL,
        "order_reference": "SF-1A2B3C4D",
        "amount_paid": "399,00\N{NO-BREAK SPACE}€",
        "paid_on": "2 décembre 2026",
    }


def live_context() -> dict:
    return {**payment_context(), "site_url": SITE_URL, "campaign_summary": SUMMARY}


@pytest.mark.parametrize(("language", "subject_words"), [("fr", "Paiement reçu"), ("en", "Payment received")])
def test_payment_received_contains_the_status_link_in_both_bodies(language, subject_words):
    subject, text, html = render_email("payment_received", language=language, context=payment_context())
    assert subject_words in subject
    assert "Boulangerie Martin" in subject
    assert STATUS_URL in text
    assert f'href="{STATUS_URL}"' in html
    assert f'<html lang="{language}">' in html


@pytest.mark.parametrize(("language", "subject_words"), [("fr", "est en ligne"), ("en", "is live")])
def test_site_live_contains_site_url_status_link_and_campaign_summary(language, subject_words):
    subject, text, html = render_email("site_live", language=language, context=live_context())
    assert subject_words in subject
    for body in (text, html):
        assert SITE_URL in body
        assert STATUS_URL in body
    assert SUMMARY in text
    assert "4 groupes d&#x27;annonces.<br>Budget" in html
    assert f'href="{SITE_URL}"' in html


def test_french_and_english_bodies_are_in_their_language():
    _, fr_text, _ = render_email("site_live", language="fr", context=live_context())
    _, en_text, _ = render_email("site_live", language="en", context=live_context())
    assert "Bonjour" in fr_text and "Votre site" in fr_text
    assert "Hello" in en_text and "Your site" in en_text


def test_business_name_is_escaped_in_html_and_kept_in_text():
    context = {**payment_context(), "business_name": "Durand <b>& Fils</b>"}
    subject, text, html = render_email("payment_received", language="en", context=context)
    assert "Durand &lt;b&gt;&amp; Fils&lt;/b&gt;" in html
    assert "<b>&" not in html
    assert "Durand <b>& Fils</b>" in text
    assert "Durand <b>& Fils</b>" in subject


def test_line_breaks_in_the_name_never_reach_the_subject_header():
    context = {**payment_context(), "business_name": "Evil\nBcc: victim@example.com"}
    subject, _, _ = render_email("payment_received", language="en", context=context)
    assert "\n" not in subject


@pytest.mark.parametrize(
    ("kind", "language", "message"),
    [("invoice", "fr", "unknown email kind 'invoice'"), ("site_live", "de", "unknown email language 'de'")],
)
def test_unknown_kind_or_language_raises_a_clear_value_error(kind, language, message):
    with pytest.raises(ValueError, match=message):
        render_email(kind, language=language, context=live_context())


def test_missing_or_relative_links_are_refused():
    with pytest.raises(ValueError, match="site_url, campaign_summary"):
        render_email("site_live", language="fr", context=payment_context())
    with pytest.raises(ValueError, match="absolute"):
        render_email("payment_received", language="fr", context={**payment_context(), "status_url": "/status/x/"})


@pytest.mark.parametrize("language", ["fr", "en"])
def test_send_email_sends_text_with_an_html_alternative(mailoutbox, language):
    send_email("site_live", to="contact@boulangerie-martin.example", language=language, context=live_context())
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["contact@boulangerie-martin.example"]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert SITE_URL in message.body and STATUS_URL in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert SITE_URL in html and STATUS_URL in html


def test_send_email_refuses_an_empty_recipient_list(mailoutbox):
    with pytest.raises(ValueError, match="no recipient"):
        send_email("payment_received", to=[], language="fr", context=payment_context())
    assert mailoutbox == []


FULL_CONTEXT = {
    **payment_context(),
    "site_url": SITE_URL,
    "campaign_summary": SUMMARY,
    "support_email": "hello@studio.example",
    "refund_amount": "399,00\N{NO-BREAK SPACE}€",
}


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("kind", ["payment_received", "site_live", "order_failed", "refunded", "revision_live"])
def test_every_customer_email_carries_the_order_reference_and_the_amount_paid(kind, language):
    from orders.mail import SUBJECTS

    assert kind in SUBJECTS
    _subject, text, html = render_email(kind, language=language, context=FULL_CONTEXT)
    for body in (text, html):
        assert "SF-1A2B3C4D" in body
        assert "399,00\N{NO-BREAK SPACE}€" in body
    assert f'<html lang="{language}">' in html


def test_an_email_without_its_order_reference_is_refused():
    context = {k: v for k, v in FULL_CONTEXT.items() if k != "order_reference"}
    with pytest.raises(ValueError, match="order_reference"):
        render_email("order_failed", language="en", context=context)


@pytest.mark.parametrize(("language", "words"), [("fr", "Reçu"), ("en", "Receipt")])
def test_payment_received_is_a_receipt(language, words):
    _, text, html = render_email("payment_received", language=language, context=payment_context())
    assert words in text and "2 décembre 2026" in text and "Stripe" in text
    assert words.lower() in html.lower()
