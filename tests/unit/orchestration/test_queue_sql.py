"""The queue's PostgreSQL statements live in orchestration/queries.sql, one name each."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from orchestration import queue_pg
from orchestration.sql import load_queries

ROOT = Path(__file__).resolve().parents[3]


def test_a_query_runs_from_its_name_to_the_next_without_its_documentation(tmp_path) -> None:
    path = tmp_path / "q.sql"
    path.write_text(
        "-- the file's header\n\n"
        "-- name: first\n-- why it is so\n--\nSELECT 1 -- kept: inside the statement\n-- kept too\nFROM t\n\n"
        "-- name: second\nUPDATE t SET a = 1\n"
    )
    assert load_queries(path) == {
        "first": "SELECT 1 -- kept: inside the statement\n-- kept too\nFROM t\n",
        "second": "UPDATE t SET a = 1\n",
    }


def test_a_name_given_twice_is_refused(tmp_path) -> None:
    path = tmp_path / "q.sql"
    path.write_text("-- name: twice\nSELECT 1\n-- name: twice\nSELECT 2\n")
    with pytest.raises(ValueError, match="'twice' is defined twice"):
        load_queries(path)


def test_every_query_of_the_file_is_used_by_the_queue() -> None:
    source = (ROOT / "orchestration" / "queue_pg.py").read_text()
    used = set(re.findall(r'QUERIES\["([a-z_]+)"\]', source))
    assert used == set(queue_pg.QUERIES)


@pytest.mark.parametrize("module", ["queue.py", "queue_pg.py", "queue_portable.py", "queue_shared.py"])
def test_the_queue_modules_hold_no_sql_of_their_own(module: str) -> None:
    # Statements are in queries.sql, with their reasons; a literal statement in a queue module
    # would be one the file does not list. (Fragments such as the NOTIFY of an insert are not statements.)
    tree = ast.parse((ROOT / "orchestration" / module).read_text())
    statements = [
        node.value.strip()[:40]
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.match(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\s", node.value)
    ]
    assert statements == []
