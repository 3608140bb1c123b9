"""The arithmetic of durations, no database: percentiles, the coarse histogram /metrics exposes,
and distributions that merge exactly.

A distribution counts values rounded to three significant digits (`{"123": 4}`): two of them merge
by addition, so the percentiles of an hour or a week are exact to 0.5 % (to the millisecond below
one second), never an artefact of coarse histogram buckets. metrics/rollups.py keeps one per
window.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

# Upper bounds (ms) of the coarse histogram /metrics exposes as `le` buckets (the last is +Inf).
# Percentiles are computed from the exact distributions, never from these.
BUCKET_BOUNDS_MS: tuple[float, ...] = (50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000)

Distribution = dict[str, int]  # {"<value to 3 significant digits>": count}


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least q % of the values at or below it."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def histogram(durations_ms: Iterable[float]) -> list[int]:
    counts = [0] * (len(BUCKET_BOUNDS_MS) + 1)
    for value in durations_ms:
        counts[bisect.bisect_left(BUCKET_BOUNDS_MS, value)] += 1
    return counts


def histogram_quantile(q: float, counts: Sequence[int]) -> float | None:
    """A percentile estimated from bucket counts, interpolating inside the bucket (as Prometheus does)."""
    total = sum(counts)
    if not total:
        return None
    rank = q / 100 * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index == len(BUCKET_BOUNDS_MS):  # the +Inf bucket: the best we can say is its lower bound
                return BUCKET_BOUNDS_MS[-1]
            lower = BUCKET_BOUNDS_MS[index - 1] if index else 0.0
            upper = BUCKET_BOUNDS_MS[index]
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return BUCKET_BOUNDS_MS[-1]


# --- Distributions: mergeable, exact to three significant digits -------------------------


def significant(value: float, digits: int = 3) -> float:
    """`value` rounded to `digits` significant digits (whole milliseconds below one second stay exact)."""
    if value <= 0:
        return 0.0
    return round(value, digits - 1 - math.floor(math.log10(value)))


def distribution(values: Iterable[float]) -> Distribution:
    counts: Counter[str] = Counter(f"{significant(v):g}" for v in values)
    return dict(counts)


def merge_distributions(parts: Iterable[Mapping[str, int]]) -> Distribution:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return dict(total)


def distribution_percentile(dist: Mapping[str, int], q: float) -> float | None:
    """Nearest-rank percentile of a distribution (the same rank `percentile` takes on raw values)."""
    items = sorted((float(value), count) for value, count in dist.items() if count)
    total = sum(count for _, count in items)
    if not total:
        return None
    rank = max(1, math.ceil(q / 100 * total))
    seen = 0
    for value, count in items:
        seen += count
        if seen >= rank:
            return value
    return items[-1][0]
