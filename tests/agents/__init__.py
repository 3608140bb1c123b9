"""Tests for the offline content half of the agents (brief, design, copy, site, ads, mail)."""

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load_briefs() -> list[dict[str, Any]]:
    """The three valid fixture briefs followed by the invalid one."""
    return json.loads((FIXTURES / "briefs.json").read_text(encoding="utf-8"))
