"""How queue_pg builds its statements from orchestration/queries.sql, and what it answers when the
database's clock is the one that counts. The builders run at import (the module's constants), so
they are called here again to be held to their rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orchestration import queue_pg
from orchestration.queue_pg import NOW, QUERIES, _then_claim_picked, _with_db_now
from tests.support.queue_contract import plain, postgres_only


def test_every_now_of_a_statement_reads_the_callers_time_or_else_the_databases() -> None:
    text = "a = %(now)s, b < %(now)s, c = %(other)s"
    assert _with_db_now(text) == f"a = {NOW}, b < {NOW}, c = %(other)s"
    assert NOW == "COALESCE(%(now)s::timestamptz, statement_timestamp())"


def test_a_claim_statement_is_its_picking_ctes_in_order_then_the_claim_of_what_they_picked() -> None:
    first, second = "WITH a AS (SELECT %(now)s),\n", "b AS (SELECT 1),\n"
    claim_picked = _with_db_now(QUERIES["claim_picked"])
    assert _then_claim_picked(first, second) == _with_db_now(first) + second + claim_picked
    assert _then_claim_picked(first, then="\n-- after") == _with_db_now(first) + claim_picked + "\n-- after"


@postgres_only
@pytest.mark.django_db
def test_with_the_databases_clock_nothing_queued_is_no_time_until_the_next_due() -> None:
    assert queue_pg.seconds_until_next_due() is None
    plain(timezone.now() + timedelta(seconds=60))
    assert 55 < queue_pg.seconds_until_next_due() <= 60
