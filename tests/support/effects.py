"""What the side-effect ledger's tests share: an effect that counts how often it was performed."""

from __future__ import annotations

from typing import Any


class Mailer:
    """A stand-in for sending one email: each call is one more message sent."""

    def __init__(self) -> None:
        self.sent = 0

    def __call__(self) -> dict[str, Any]:
        self.sent += 1
        return {"message_id": f"m{self.sent}"}
