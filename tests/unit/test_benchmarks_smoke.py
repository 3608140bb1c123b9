"""The benchmark harness's pieces work (statistics, the table, the guards, the zero-work
workflows). No timings are asserted here: figures live in benchmarks/, never in tests."""

from __future__ import annotations

import math

import pytest

from benchmarks import common, report
from benchmarks.stats import percentile, summarize


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([3, 1, 2], 50) == 2
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    assert math.isnan(percentile([], 50))


def test_summary_is_median_with_min_and_max_leaving_out_failed_runs() -> None:
    assert summarize([30, 10, None, 20]) == {"median": 20, "min": 10, "max": 30, "n": 3}
    assert summarize([])["median"] is None


def test_table_compares_ours_with_the_best_peer_and_checks_targets() -> None:
    results = {
        "ours": {"metrics": {"drain_1": {"runs": [900, 1000, 1100]}, "latency_p50": {"runs": [3.0]}}},
        "p1": {"metrics": {"drain_1": {"runs": [400]}, "latency_p50": {"runs": [5.0]}}},
        "p2": {"metrics": {"drain_1": {"runs": [600]}, "latency_p50": {"runs": [2.0]}}},
    }
    rows = {r["metric"]: r for r in report.build(results, ["ours", "p1", "p2"])["rows"]}
    drain = rows["drain_1"]
    assert drain["best_peer"] == "p2"
    assert drain["ratio_ours_to_best_peer"] == pytest.approx(1000 / 600)
    assert drain["status"] == "MISS"  # the target is 2x the best peer
    latency = rows["latency_p50"]
    assert latency["best_peer"] == "p2"  # lower is better
    assert latency["status"] == "MISS"  # the target is <= 2 ms
    meta = {
        "date": "d", "command": "c", "runs": 3, "load_start": 0, "load_end": 0, "method": ["m"],
        "versions": {"x": "1"},
        "machine": {"nproc": 2, "ram_gb": 1, "cpu": "cpu", "postgresql": "15", "python": "3.11"},
    }  # fmt: skip
    text = report.markdown(report.build(results, ["ours", "p1", "p2"]), ["ours", "p1", "p2"], meta, results)
    assert "| drain, 1 worker process | tasks/s | 1,000 (900\u20131,100) | 400 | 600 | 1.67x (p2) |" in text
    assert report.terminal(report.build(results, ["ours"]), ["ours"])


def test_benchmarks_only_touch_local_bench_databases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/whatever")
    assert common.db_url("bench_ours") == "postgres://postgres@127.0.0.1:5432/bench_ours"
    monkeypatch.setenv("BENCH_DATABASE_URL", "postgres://u@db.example.com:5432/x")
    with pytest.raises(SystemExit):
        common.db_url("bench_ours")
    with pytest.raises(ValueError, match="bench_"):
        common.reset_database("postgres")


def test_zero_work_workflows_copy_the_order_dag() -> None:
    from agents.workflow import ORDER_WORKFLOW
    from benchmarks.actions import BENCH_ORDER_WORKFLOW, CHAIN_WORKFLOW, critical_path_length

    assert [s.name for s in BENCH_ORDER_WORKFLOW.steps] == [s.name for s in ORDER_WORKFLOW.steps]
    assert [s.needs for s in BENCH_ORDER_WORKFLOW.steps] == [s.needs for s in ORDER_WORKFLOW.steps]
    assert {s.action for s in BENCH_ORDER_WORKFLOW.steps} == {"engine.noop"}
    assert critical_path_length(BENCH_ORDER_WORKFLOW) == 5
    assert critical_path_length(CHAIN_WORKFLOW) == 5
