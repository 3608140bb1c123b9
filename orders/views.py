"""The customer's pages: the order form (/order/), the live status page (/status/<token>/), its JSON
feed, and the "request changes" form on a delivered order's status page."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation.trans_real import parse_accept_lang_header
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core.throttling import CustomerPageThrottle, OrderFormThrottle, throttle_page
from orchestration import dispatch
from orders.checkout import demo_checkout_enabled, order_submit, payments_enabled, resume_url
from orders.exceptions import CheckoutUnavailable, PaymentRejected, RevisionRefused
from orders.forms import FORM_ERROR, ORDER_FORM_FIELDS, UI_LANGUAGES, OrderForm
from orders.mail import format_money
from orders.models import Project, ProjectStatus
from orders.revisions import MAX_FEEDBACK, revision_request
from orders.services import project_mark_paid
from orders.status import customer_view

logger = logging.getLogger("orders")

PAGE_WORDS = {
    "fr": {
        "title": "Commander votre site",
        "lead": "Un site professionnel en ligne en 25 minutes et une campagne Google Ads prête à lancer.",
        "price": "{price} TTC, paiement unique et sécurisé par Stripe.",
        "submit": "Continuer vers le paiement",
        "unavailable": "Le paiement est momentanément indisponible. Votre brief est conservé : réessayez "
        "dans un instant.",
        "rejected": "Votre commande n'a pas pu être envoyée.",
        "resumed": "Vous n'avez pas été débité. Votre brief est là : modifiez-le si besoin et reprenez le paiement.",
        "required": "obligatoire",
        "payments_off": "Les paiements sont désactivés sur ce serveur (STRIPE_API_KEY n'est pas définie) : "
        "vous pouvez remplir le formulaire, mais pas commander.",
        "demo": "Démo locale : aucun paiement réel. Le bouton de paiement mène à une page de démonstration qui "
        "remplace Stripe Checkout (STRIPE_API_KEY n'est pas définie).",
    },
    "en": {
        "title": "Order your website",
        "lead": "A professional website live in 25 minutes, and a Google Ads campaign ready to start.",
        "price": "{price} including VAT, one secure payment through Stripe.",
        "submit": "Continue to payment",
        "unavailable": "Payment is unavailable for a moment. Your brief is kept: please try again shortly.",
        "rejected": "Your order could not be sent.",
        "resumed": "You were not charged. Your brief is here: change it if you like and go back to payment.",
        "required": "required",
        "payments_off": "Payments are switched off on this server (STRIPE_API_KEY is not set): you can fill in the "
        "form, but not order.",
        "demo": "Local demo: no real payment. The payment button leads to a demo page standing in for Stripe "
        "Checkout (STRIPE_API_KEY is not set).",
    },
}
CHANGES_WORDS = {
    "fr": {
        "empty": "Dites-nous ce qu'il faut changer.",
        "too_long": f"{MAX_FEEDBACK} caractères au plus, s'il vous plaît.",
        "not_delivered": "Les modifications se demandent une fois le site en ligne.",
        "revision_in_progress": "Une modification est déjà en préparation.",
        "no_revisions_left": "Vos modifications comprises ont toutes été utilisées : écrivez-nous.",
    },
    "en": {
        "empty": "Tell us what to change.",
        "too_long": f"At most {MAX_FEEDBACK} characters, please.",
        "not_delivered": "Changes can be asked for once the site is live.",
        "revision_in_progress": "A change is already being prepared.",
        "no_revisions_left": "Every included change has been used: write to us.",
    },
}


def _project(token: str) -> Project:
    project = Project.objects.filter(status_token=token).first()
    if project is None:
        raise Http404("No such order")
    return project


# The visitor's last explicit choice of language, so that it sticks from the order page to
# Checkout's way back and the demo's pages. Not a secret, not tied to an order.
UI_LANGUAGE_COOKIE = "order_lang"


def visitor_language(request: HttpRequest) -> str:
    """?lang= when the visitor chose, else the choice they made before (a cookie), else their
    browser's Accept-Language, else French."""
    for chosen in (request.GET.get("lang"), request.POST.get("ui"), request.COOKIES.get(UI_LANGUAGE_COOKIE)):
        if chosen in UI_LANGUAGES:
            return chosen
    for code, _quality in parse_accept_lang_header(request.headers.get("Accept-Language", "")):
        base = code.split("-")[0].lower()
        if base in UI_LANGUAGES:
            return base
    return "fr"


def _resumed_initial(token: str | None) -> dict[str, Any]:
    """The brief of an unpaid order, for Checkout's cancel link: the customer finds what they typed."""
    if not token:
        return {}
    project = Project.objects.filter(
        status_token=token, status__in=[ProjectStatus.AWAITING_PAYMENT, ProjectStatus.ABANDONED]
    ).first()
    if project is None:
        return {}
    details = project.details or {}
    # The business details typed before, back in the form's flat fields (files cannot be put back in a file input).
    flat: dict[str, Any] = {}
    for spec in ORDER_FORM_FIELDS:
        parent, _, child = spec.brief_key.partition(".")
        value = details.get(parent)
        if child:
            value = value.get(child) if isinstance(value, dict) else None
        if spec.kind == "hours" and value:
            flat[spec.name] = ", ".join(value)
        elif spec.kind == "lines" and isinstance(value, list):
            flat[spec.name] = "\n".join(value)
        elif isinstance(value, str):
            flat[spec.name] = value
    return {
        **flat,
        "business_name": project.business_name,
        "contact_email": project.contact_email,
        "sector": project.sector,
        "city": project.city,
        "description": project.description,
        "pages": "\n".join(project.pages or []),
        "brand_color": project.brand_color,
        "language": project.language,
    }


@require_http_methods(["GET", "HEAD", "POST"])
def order_page(request: HttpRequest) -> HttpResponse:
    ui = visitor_language(request)
    words = PAGE_WORDS[ui]
    notice = ""
    if request.method != "POST":
        initial = _resumed_initial(request.GET.get("resume"))
        notice = words["resumed"] if initial else ""
        if demo_checkout_enabled():
            notice = f"{notice} {words['demo']}".strip()
        elif not payments_enabled():
            notice = f"{notice} {words['payments_off']}".strip()
        return _order_form(request, OrderForm(ui=ui, initial=initial), ui, notice=notice)
    return _order_post(request, ui)


@throttle_page(OrderFormThrottle)
def _order_post(request: HttpRequest, ui: str) -> HttpResponse:
    words = PAGE_WORDS[ui]
    form = OrderForm(request.POST, request.FILES, ui=ui)
    if form.honeypot_filled:
        # Said plainly, with nothing created: a person never sees this field.
        logger.warning("order form honeypot filled", extra={"action": "order_honeypot"})
        return _order_form(request, OrderForm(ui=ui), ui, error=words["rejected"], status=400)
    if not form.is_valid():
        return _order_form(request, form, ui, error=FORM_ERROR[ui], status=400)
    try:
        project = order_submit(brief=form.brief, submission_key=form.submission_key_for(ui), language=ui)
    except CheckoutUnavailable as exc:
        logger.warning("checkout unavailable", extra={"action": "order_submit", "code": exc.code})
        error = words["payments_off"] if exc.code == "stripe_not_configured" else words["unavailable"]
        return _order_form(request, form, ui, error=error, status=503)
    if project.status != ProjectStatus.AWAITING_PAYMENT:
        # The same form sent again after it was paid (Back, then submit): the order's page, not a spent Checkout.
        return HttpResponseRedirect(reverse("status-page", args=[project.status_token]), status=303)
    return HttpResponseRedirect(project.checkout_url, status=303)


DEMO_WORDS = {
    "fr": {
        "title": "Paiement de démonstration",
        "lead": "Cette page remplace Stripe Checkout dans la démo locale : aucune carte, aucun débit.",
        "pay": "Payer (démo)",
        "back": "Retour au formulaire",
    },
    "en": {
        "title": "Demo payment",
        "lead": "This page stands in for Stripe Checkout in the local demo: no card, no charge.",
        "pay": "Pay (demo)",
        "back": "Back to the form",
    },
}


@require_http_methods(["GET", "HEAD", "POST"])
def demo_checkout(request: HttpRequest, token: str) -> HttpResponse:
    """The local demo's Checkout (no STRIPE_API_KEY, ORDER_DEMO_CHECKOUT): Pay marks the order paid, as the
    signed checkout.session.completed would, then on to the status page. A 404 wherever Stripe is used."""
    if not demo_checkout_enabled():
        raise Http404("No demo checkout here")
    project = Project.objects.filter(status_token=token, checkout_session_id__startswith="cs_demo_").first()
    if project is None:
        raise Http404("No such order")
    ui = visitor_language(request)
    if request.method == "POST":
        if project.status == ProjectStatus.AWAITING_PAYMENT:
            try:
                _paid, run, started = project_mark_paid(
                    project_id=project.id,
                    checkout_session_id=project.checkout_session_id or "",
                    amount_cents=settings.ORDER_PRICE_CENTS,
                    currency=settings.ORDER_CURRENCY,
                )
            except PaymentRejected:
                started = False  # paid or closed meanwhile: the status page says which
            else:
                if started:
                    dispatch.kick_on_commit(run.id)
        return HttpResponseRedirect(reverse("status-page", args=[token]), status=303)
    words = DEMO_WORDS[ui]
    amount = format_money(settings.ORDER_PRICE_CENTS, settings.ORDER_CURRENCY, ui)
    response = render(
        request,
        "orders/demo_checkout.html",
        {"project": project, "ui": ui, "words": words, "amount": amount, "back": resume_url(project, ui)},
    )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    return response


def _order_form(
    request: HttpRequest, form: OrderForm, ui: str, *, error: str = "", notice: str = "", status: int = 200
) -> HttpResponse:
    other = "en" if ui == "fr" else "fr"
    response = render(
        request,
        "orders/order.html",
        {
            "form": form,
            "ui": ui,
            "words": PAGE_WORDS[ui],
            # The price the Checkout Session will ask for, from the same settings.
            "price": PAGE_WORDS[ui]["price"].format(
                price=format_money(settings.ORDER_PRICE_CENTS, settings.ORDER_CURRENCY, ui)
            ),
            "error": error,
            "notice": notice,
            "other_language": other,
            "required": [spec.name for spec in ORDER_FORM_FIELDS if spec.required],
            "other_language_url": f"{reverse('order-page')}?lang={other}",
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    response["Content-Language"] = ui
    if request.GET.get("lang") == ui:
        response.set_cookie(
            UI_LANGUAGE_COOKIE, ui, max_age=365 * 24 * 3600, samesite="Lax", secure=request.is_secure(), httponly=True
        )
    return response


@require_safe
@throttle_page(CustomerPageThrottle)
def status_page(request: HttpRequest, token: str) -> HttpResponse:
    project = _project(token)
    return _status_response(request, project, token)


def _status_response(
    request: HttpRequest,
    project: Project,
    token: str,
    *,
    changes_error: str = "",
    feedback: str = "",
    status: int = 200,
) -> HttpResponse:
    view = customer_view(project)
    context: dict[str, Any] = {
        "project": project,
        "view": view,
        "token": token,
        # Rendered on the server too, so the page says something true before (or without) its script.
        "elapsed": format_elapsed(view["elapsed_seconds"]),
        "changes_error": changes_error,
        "feedback": feedback,
        "max_feedback": MAX_FEEDBACK,
    }
    response = render(request, "orders/status.html", context, status=status)
    response["Cache-Control"] = "no-store"
    # The token is the page's only key: never sent to another site. Not "no-referrer": with it Chromium
    # posts the change-request form with "Origin: null", which CSRF's origin check rightly refuses.
    response["Referrer-Policy"] = "same-origin"
    return response


def format_elapsed(seconds: float | None) -> str:
    """'4 min 07 s', as the page's script writes it; an en dash before payment."""
    if seconds is None:
        return "\N{EN DASH}"
    whole = max(0, round(seconds))
    return f"{whole // 60} min {whole % 60:02d} s"


@require_safe
@throttle_page(CustomerPageThrottle)
def status_feed(request: HttpRequest, token: str) -> JsonResponse:
    project = _project(token)
    view = customer_view(project)
    context = {"project": project, "view": view, "token": token, "max_feedback": MAX_FEEDBACK}
    view["sections_html"] = render_to_string("orders/_status_sections.html", context, request=request)
    response = JsonResponse(view)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@throttle_page(OrderFormThrottle)
def status_changes(request: HttpRequest, token: str) -> HttpResponse:
    """The delivered order's "request changes" form: starts a revision, then back to the page."""
    project = _project(token)
    feedback = str(request.POST.get("feedback", ""))
    try:
        revision_request(project=project, feedback=feedback)
    except RevisionRefused as exc:
        words = CHANGES_WORDS.get(project.language, CHANGES_WORDS["en"])
        return _status_response(
            request, project, token, changes_error=words.get(exc.code, exc.message), feedback=feedback, status=400
        )
    return HttpResponseRedirect(reverse("status-page", args=[token]), status=303)
