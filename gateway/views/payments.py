"""POST /api/payments/webhook: Stripe's events, verified over the raw body, deduplicated.

Answers as Stripe's docs advise: 400 for a body that is not a verified Stripe
event (nothing stored), 200 for every verified event, handled or not, since a
non-2xx makes Stripe redeliver it for up to three days. What the event did (a
workflow started, or why it was refused) is in the answer and in the inbox row.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.permissions import Public
from gateway.services import stripe_event_receive
from gateway.signatures import stripe_verify
from gateway.throttling import WebhookThrottle

ReceiptSerializer = inline_serializer(
    "WebhookReceipt",
    {
        "received": serializers.BooleanField(),
        "duplicate": serializers.BooleanField(),
        "status": serializers.CharField(),
        "outcome": serializers.CharField(),
    },
)


class StripeWebhookView(APIView):
    authentication_classes: list = []
    permission_classes = [Public]  # the Stripe signature is the authentication, checked below
    throttle_classes = [WebhookThrottle]

    @extend_schema(
        request={"application/json": {"type": "object"}},
        responses={200: ReceiptSerializer},
        parameters=[OpenApiParameter("Stripe-Signature", str, OpenApiParameter.HEADER, required=True)],
        auth=[],
        operation_id="payments_webhook",
    )
    def post(self, request: Request) -> Response:
        event = stripe_verify(request.body, request.headers.get("Stripe-Signature"))
        row, duplicate = stripe_event_receive(event=event)
        return Response({"received": True, "duplicate": duplicate, "status": row.status, "outcome": row.outcome})
