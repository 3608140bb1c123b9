"""Re-export: the intake of business details lives in `orders.intake`;
`agents.intake.intake_business_details` stays importable by its documented name."""

from orders.intake import intake_business_details

__all__ = ["intake_business_details"]
