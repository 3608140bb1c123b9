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
