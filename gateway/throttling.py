"""Re-export: the rate limits live in `core.throttling` (orders and agents use them too, below the
gateway); `gateway.throttling.FailedAuthenticationThrottle` stays importable by its documented name."""

from core.throttling import (
    ClientRateThrottle,
    CustomerPageThrottle,
    FailedAuthenticationThrottle,
    IntakeThrottle,
    OrderFormThrottle,
    PublicThrottle,
    StaffThrottle,
    WebhookThrottle,
    throttle_page,
)

__all__ = [
    "ClientRateThrottle",
    "CustomerPageThrottle",
    "FailedAuthenticationThrottle",
    "IntakeThrottle",
    "OrderFormThrottle",
    "PublicThrottle",
    "StaffThrottle",
    "WebhookThrottle",
    "throttle_page",
]
