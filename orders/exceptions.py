"""Errors of the orders app. Raise the subclasses; `OrderError` is the base to catch."""

from __future__ import annotations


class OrderError(Exception):
    """Base of the orders app's errors (do not raise directly)."""

    code = "order_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PaymentRejected(OrderError):
    """A payment event that must start nothing (unknown project, wrong amount, already handled...)."""


class CheckoutUnavailable(OrderError):
    """Stripe could not give the order a Checkout Session (not configured, refused, did not answer)."""


class RefundRefused(OrderError):
    """A refund that must not be made (never paid, already refunded) or that Stripe refused for good."""


class RefundNotConfirmed(OrderError):
    """Stripe did not answer a refund request (timeout, network): retrying with the same key is safe."""


class RevisionRefused(OrderError):
    """A change request that cannot start now (not delivered, one already under way, none left)."""
