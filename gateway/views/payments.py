"""POST /api/payments/webhook: Stripe's events, verified over the raw body, deduplicated.

Answers as Stripe's docs advise: 400 for a body that is not a verified Stripe
event (nothing stored), 200 for every verified event, handled or not, since a
non-2xx makes Stripe redeliver it for up to three days. What the event did (a
workflow started, or why it was refused) is in the answer and in the inbox row.
A verified body that the database cannot store (NaN, \u0000, nesting past 64
levels: gateway/parsers.py) is a 400 with nothing stored, and a warning in the log.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.throttling import WebhookThrottle
from gateway.permissions import Public
from gateway.serializers import ErrorSerializer
from gateway.services import stripe_event_receive
from gateway.signatures import stripe_verify
from gateway.views.base import JsonApi

ReceiptSerializer = inline_serializer(
    "WebhookReceipt",
    {
        "received": serializers.BooleanField(),
        "duplicate": serializers.BooleanField(),
        "status": serializers.CharField(),
        "outcome": serializers.CharField(),
    },
)

# The part of a Stripe event this route reads, for the schema (and the schema fuzzer): the
# view stores the whole event as sent, so every other field is allowed and kept.
StripeEventSerializer = inline_serializer(
    "StripeEvent",
    {
        "id": serializers.CharField(max_length=255),
        "type": serializers.CharField(),
        "data": inline_serializer(
            "StripeEventData",
            {
                "object": inline_serializer(
                    "StripeCheckoutSession",
                    {
                        "id": serializers.CharField(),
                        "client_reference_id": serializers.CharField(allow_null=True),
                        "amount_total": serializers.IntegerField(allow_null=True),
                        "currency": serializers.CharField(allow_null=True),
                        "payment_status": serializers.CharField(),
                    },
                )
            },
        ),
    },
)
PAID_EVENT_EXAMPLE = {
    "id": "evt_1QdemoA2eZvKYlo2C0ffeeAa",
    "object": "event",
    "type": "checkout.session.completed",
    "data": {
        "object": {
            "id": "cs_test_a1demoB2c3D4e5F6g7H8i9J0kLmNoPqRsTuV",
            "object": "checkout.session",
            "client_reference_id": "8b0f7d2c-7d1e-4a8e-9d0c-0f5a3c1b2e4d",
            "amount_total": 39900,
            "currency": "eur",
            "payment_status": "paid",
        }
    },
}


class StripeWebhookView(JsonApi, APIView):
    authentication_classes: list = []
    permission_classes = [Public]  # the Stripe signature is the authentication, checked below
    throttle_classes = [WebhookThrottle]

    @extend_schema(
        request=StripeEventSerializer,
        responses={200: ReceiptSerializer, 400: ErrorSerializer, 503: ErrorSerializer},
        examples=[OpenApiExample("A paid order", value=PAID_EVENT_EXAMPLE, request_only=True)],
        parameters=[OpenApiParameter("Stripe-Signature", str, OpenApiParameter.HEADER, required=True)],
        auth=[],
        operation_id="payments_webhook",
        summary="Stripe's webhook: a paid order starts its workflow",
        description=(
            "Stripe posts its events here, signed with `STRIPE_WEBHOOK_SECRET` (`Stripe-Signature`, checked "
            "over the raw body, 5 minutes tolerance). A `checkout.session.completed` (or "
            "`checkout.session.async_payment_succeeded`) for exactly the price its session asked (its metadata; "
            "else `ORDER_PRICE_CENTS`), naming a project in `client_reference_id`, marks it paid and starts its "
            "one workflow run. Every verified event is answered 200 and kept in the webhook inbox, with what it "
            "did in `outcome` (a wrong amount or an unknown project is refused there, starting nothing, and staff "
            "are emailed: the customer was charged); a second delivery of an event changes nothing "
            "(`duplicate`). A body that is not a verified Stripe event is a 400, and nothing is stored. Locally, "
            "`manage.py send_test_payment <project>` sends one."
        ),
    )
    def post(self, request: Request) -> Response:
        event = stripe_verify(request.body, request.headers.get("Stripe-Signature"))
        row, duplicate = stripe_event_receive(event=event)
        return Response({"received": True, "duplicate": duplicate, "status": row.status, "outcome": row.outcome})
