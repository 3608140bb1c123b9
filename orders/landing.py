"""`/`: a small landing page for whoever opens the server first (a newcomer after `make run`, a
customer who typed the bare domain): where to order, where staff work, where the API is."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_safe


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:  # the order page is its own feature: link it when this deployment has it
        return None


@require_safe
def landing_page(request: HttpRequest) -> HttpResponse:
    context = {
        "order_url": _url("order-page"),
        "admin_url": reverse("admin:index"),
        "docs_url": reverse("api-docs"),
        "schema_url": reverse("api-schema"),
        "health_url": reverse("api-health"),
        "price": f"{settings.ORDER_PRICE_CENTS / 100:.0f} {settings.ORDER_CURRENCY.upper()}",
        "slo_minutes": settings.ORDER_SLO_SECONDS // 60,
        "debug": settings.DEBUG,
    }
    return render(request, "landing.html", context)
