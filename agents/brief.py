"""Re-export: the brief's validation is order intake and lives in `orders.brief`;
`agents.brief.validate_brief` stays importable by its documented name."""

from orders.brief import InvalidBrief, validate_brief

__all__ = ["InvalidBrief", "validate_brief"]
