"""Named SQL statements read from a `.sql` file (the engine's: orchestration/queries.sql).

A query starts at a `-- name: <name>` line and runs to the next one. The comment lines that
follow its name document it and are left out of the text sent to the server; comments inside
the statement stay. Read once, at import.
"""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$")


def load_queries(path: Path) -> dict[str, str]:
    """name -> statement, each ending with one newline. A name given twice is an error."""
    queries: dict[str, list[str]] = {}
    current: list[str] | None = None
    documenting = False
    for line in path.read_text().splitlines():
        match = _NAME.match(line)
        if match:
            if match.group(1) in queries:
                raise ValueError(f"{path.name}: query {match.group(1)!r} is defined twice")
            current = queries[match.group(1)] = []
            documenting = True
            continue
        if current is None:
            continue  # the file's own header
        if documenting and line.startswith("--"):
            continue
        documenting = False
        current.append(line)
    return {name: "\n".join(body).strip("\n") + "\n" for name, body in queries.items()}
