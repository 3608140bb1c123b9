"""Our engine at two commits, measured turn about in one sitting: is a change faster or slower?

    python -m benchmarks.compare ecef8cd HEAD --rounds 4
    python -m benchmarks.compare main~3 main --only enqueue,chain --rounds 6

Why turn about: on this small shared machine one figure moves by 10-30 % from one run to the
next, and it drifts within a sitting (autovacuum, checkpoints, the page cache). Two separate
`make bench` runs, one per commit, put that drift into the comparison: the same code measured
first and then second read 15 % apart. Here each round runs both commits, in the order
A B, then B A the next round (ABBA), one run of each figure per turn, so drift falls on both
sides alike; a figure is "worse" only when every sample of one side is beyond every sample of
the other.

Each commit is checked out into its own detached worktree under a temporary folder (your
working tree is not touched, uncommitted changes are not measured) and run with this
interpreter: both commits must import with this virtualenv's packages.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FIGURES = "enqueue,drain,latency,chain,order,cold_start"
RUN_TIMEOUT_SECONDS = 1800


def checkout(rev: str, where: Path) -> str:
    """A detached worktree of `rev` at `where`; returns the commit's short hash."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(where), sha], cwd=ROOT, check=True)
    return sha


def run_once(tree: Path, figures: str, out: Path) -> dict[str, Any]:
    """One run of each figure of ours at `tree`; returns its latest.json."""
    command = [sys.executable, "-m", "benchmarks", "--only", f"{figures},ours", "--runs", "1", "--out", str(out)]
    subprocess.run(command, cwd=tree, check=True, timeout=RUN_TIMEOUT_SECONDS)
    return json.loads((out / "latest.json").read_text())


def samples_of(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """metric -> {label, unit, higher_is_better, runs} of ours in one latest.json."""
    found = {}
    for row in result["aggregate"]["rows"]:
        ours = row["systems"].get("ours")
        if ours and ours.get("runs"):
            found[row["metric"]] = {
                "label": row["label"],
                "unit": row["unit"],
                "higher_is_better": row["higher_is_better"],
                "runs": list(ours["runs"]),
            }
    return found


def verdict(base: list[float], head: list[float], higher_is_better: bool) -> str:
    """'better' / 'worse' when the two sides' samples do not overlap at all, else 'within'."""
    if min(head) > max(base):
        return "better" if higher_is_better else "worse"
    if max(head) < min(base):
        return "worse" if higher_is_better else "better"
    return "within"


def summarise(base: dict[str, dict], head: dict[str, dict]) -> list[dict[str, Any]]:
    rows = []
    for metric, b in base.items():
        h = head.get(metric)
        if not h:
            continue
        mb, mh = statistics.median(b["runs"]), statistics.median(h["runs"])
        rows.append(
            {
                "metric": metric,
                "label": b["label"],
                "unit": b["unit"],
                "base": {"median": mb, "min": min(b["runs"]), "max": max(b["runs"]), "runs": b["runs"]},
                "head": {"median": mh, "min": min(h["runs"]), "max": max(h["runs"]), "runs": h["runs"]},
                "change": (mh / mb - 1) if mb else None,
                "verdict": verdict(b["runs"], h["runs"], b["higher_is_better"]),
            }
        )
    return rows


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def table(rows: list[dict[str, Any]], base_sha: str, head_sha: str) -> str:
    lines = [
        f"| figure | {base_sha} median (min-max) | {head_sha} median (min-max) | change | verdict |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        b, h = r["base"], r["head"]
        change = "" if r["change"] is None else f"{r['change'] * 100:+.1f} %"
        lines.append(
            f"| {r['label']} [{r['unit']}] | {_fmt(b['median'])} ({_fmt(b['min'])}-{_fmt(b['max'])})"
            f" | {_fmt(h['median'])} ({_fmt(h['min'])}-{_fmt(h['max'])}) | {change} | {r['verdict']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the commit to compare against (a rev: ecef8cd, main~3, a tag)")
    parser.add_argument("head", nargs="?", default="HEAD", help="the commit measured against it (default HEAD)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds; each runs both commits once (default 4)")
    parser.add_argument("--only", default=DEFAULT_FIGURES, help=f"figures of ours (default {DEFAULT_FIGURES})")
    parser.add_argument("--out", default="", help="write the samples and the table here (a .json file)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        trees = {"base": Path(tmp, "base"), "head": Path(tmp, "head")}
        shas = {side: checkout(getattr(args, side), tree) for side, tree in trees.items()}
        collected: dict[str, dict[str, dict]] = {"base": {}, "head": {}}
        try:
            for n in range(args.rounds):
                order = ("base", "head") if n % 2 == 0 else ("head", "base")
                for side in order:
                    print(f"[compare] round {n + 1}/{args.rounds}: {side} ({shas[side]})", flush=True)
                    result = run_once(trees[side], args.only, Path(tmp, f"{side}-{n}"))
                    for metric, found in samples_of(result).items():
                        into = collected[side].setdefault(metric, {**found, "runs": []})
                        into["runs"].extend(found["runs"])
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)

    rows = summarise(collected["base"], collected["head"])
    text = table(rows, shas["base"], shas["head"])
    print(text)
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    "command": "python -m benchmarks.compare " + " ".join(argv if argv is not None else sys.argv[1:]),
                    "base": shas["base"],
                    "head": shas["head"],
                    "rounds": args.rounds,
                    "rows": rows,
                    "table": text,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
