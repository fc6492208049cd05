"""Distribution distances computed from TFDV statistics, robust on real data.

Numeric features: Jensen–Shannon divergence (bits, in [0, 1]) between the two sides'
probabilities over bins fixed from the *baseline's* quantiles, plus a below-range, an
above-range and a missing bin. Each side's mass per bin comes from its own quantile histogram
(piecewise-linear CDF, point masses kept). Unlike TFDV's numeric JSD — which compares
equal-width 10-bucket histograms spanning each side's own [min, max], so a single outlier
reshapes every bucket — these bins follow the data, and a random split of the same data gives
a divergence near 0 (docs/validation.md has the measurements).

Categorical features: L-infinity distance between category frequencies (as TFDV).

When the raw values are at hand (DataFrames, small CSVs) the numeric bins are exact quantiles
of the baseline and each side's shares are counted exactly. When only statistics are given
(e.g. StatisticsGen output in a pipeline) the shares are read off the quantile sketches, which
err by up to ~0.04 on features with many repeated values (measured on the taxi data), so
:data:`SKETCH_ALLOWANCE` is added to the threshold.

Both thresholds are raised to a sampling-noise floor for small samples (see
:func:`noise_floor`), so a few hundred rows do not raise false alarms.

Example:
    >>> import math
    >>> round(jensen_shannon([0.5, 0.5], [0.5, 0.5]), 6)
    0.0
    >>> round(jensen_shannon([1.0, 0.0], [0.0, 1.0]), 6)
    1.0
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

SKETCH_ALLOWANCE = 0.05
# histogram types in tensorflow_metadata's statistics proto
_QUANTILES = 1


def jensen_shannon(p: list[float], q: list[float]) -> float:
    """Jensen–Shannon divergence in bits between two probability vectors (0 = same, 1 = disjoint)."""
    total = 0.0
    for a, b in zip(p, q, strict=True):
        m = (a + b) / 2
        if a > 0:
            total += 0.5 * a * math.log2(a / m)
        if b > 0:
            total += 0.5 * b * math.log2(b / m)
    return max(0.0, min(1.0, total))


def noise_floor(kind: str, n1: int, n2: int, bins: int = 2) -> float:
    """The value the distance exceeds by chance with probability about 0.001 (two samples, one distribution).

    * JSD over ``bins`` bins: ``8 ln2 · JSD / (1/n1 + 1/n2)`` is approximately chi-square with
      ``bins - 1`` degrees of freedom (the G-test), so the floor is its 0.999 quantile scaled back
      (the expected value is ``(bins - 1)(1/n1 + 1/n2) / (8 ln 2)``).
    * L-infinity: three standard deviations, ``3 sqrt(0.25 (1/n1 + 1/n2))``.

    Example:
        >>> round(noise_floor("linf", 100, 100), 3)
        0.212
        >>> round(noise_floor("jsd", 100, 100, bins=11), 4)
        0.1067
    """
    if n1 <= 0 or n2 <= 0:
        return 0.0
    inv = 1.0 / n1 + 1.0 / n2
    if kind == "jsd":
        from scipy.stats import chi2

        return float(chi2.ppf(0.999, max(bins - 1, 1))) * inv / (8.0 * math.log(2.0))
    return 3.0 * math.sqrt(0.25 * inv)


def _quantile_buckets(feature_stats: Any) -> list[tuple[float, float, float]]:
    for h in feature_stats.num_stats.histograms:
        if h.type == _QUANTILES:
            return [(b.low_value, b.high_value, b.sample_count) for b in h.buckets]
    return []


def _cdf(buckets: list[tuple[float, float, float]], x: float, inclusive: bool) -> float:
    """Mass at or below (``inclusive``) / strictly below ``x``; linear inside buckets."""
    mass = 0.0
    for lo, hi, count in buckets:
        if lo == hi:  # a point mass (many equal values)
            if lo < x or (inclusive and lo == x):
                mass += count
        elif x >= hi:
            mass += count
        elif x > lo:
            mass += count * (x - lo) / (hi - lo)
    return mass


def numeric_bins(baseline: Any) -> list[float]:
    """Bin edges from the baseline's quantile boundaries (unique, ascending)."""
    buckets = _quantile_buckets(baseline)
    return sorted({lo for lo, _, _ in buckets} | {hi for _, hi, _ in buckets})


def numeric_histogram(feature_stats: Any, edges: list[float], num_examples: int) -> list[float]:
    """Probabilities over ``[missing, below edges[0], [e0, e1], (e1, e2], ..., above edges[-1]]``."""
    buckets = _quantile_buckets(feature_stats)
    total = sum(c for _, _, c in buckets)
    missing = feature_stats.num_stats.common_stats.num_missing if feature_stats.HasField("num_stats") else 0
    n = max(num_examples, 1)
    if total <= 0 or not edges:
        return [missing / n] + [0.0] * (len(edges) + 2)
    present = 1.0 - missing / n
    probs = [_cdf(buckets, edges[0], inclusive=False)]
    prev = probs[0]
    for e in edges:
        cur = _cdf(buckets, e, inclusive=True)
        probs.append(max(cur - prev, 0.0))
        prev = cur
    probs.append(max(total - prev, 0.0))
    return [missing / n] + [p / total * present for p in probs]


def value_bins(baseline: "np.ndarray", other_size: int | None = None) -> list[float]:
    """Bin edges from the baseline's exact quantiles; more bins for bigger samples (10 to 50).

    With ``other_size`` (the compared sample's size), no more bins than give the smaller sample
    about 10 values each (at least 3): on a few dozen rows, a dozen bins hold two or three values
    and the divergence of two halves of the same data is mostly noise.

    Example:
        >>> import numpy as np
        >>> value_bins(np.arange(1000.0))[:3]
        [0.0, 99.9, 199.8]
    """
    import numpy as np

    x = baseline[~np.isnan(baseline)]
    if x.size == 0:
        return []
    k = int(min(50, max(10, x.size // 200)))
    if other_size is not None:
        k = min(k, max(3, min(x.size, other_size) // 10))
    return sorted({float(v) for v in np.quantile(x, np.linspace(0.0, 1.0, k + 1))})


def values_histogram(values: "np.ndarray", edges: list[float]) -> list[float]:
    """Exact probabilities over the same bins as :func:`numeric_histogram`, from raw values."""
    import numpy as np

    n = max(values.size, 1)
    missing = np.isnan(values)
    x = values[~missing]
    below = float(np.sum(x < edges[0]))
    # bin i (1..len(edges)) holds (edges[i-1], edges[i]], the first one also edges[0] itself
    idx = np.searchsorted(np.asarray(edges), x[x >= edges[0]], side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    return [float(missing.sum()) / n, below / n] + [c / n for c in counts]


def category_frequencies(feature_stats: Any) -> dict[str, float]:
    """Relative frequency of each category (from the rank histogram, else top values)."""
    ss = feature_stats.string_stats
    pairs = [(b.label, b.sample_count) for b in ss.rank_histogram.buckets] or \
            [(t.value, t.frequency) for t in ss.top_values]
    total = sum(c for _, c in pairs)
    return {k: c / total for k, c in pairs} if total else {}


def linf(p: dict[str, float], q: dict[str, float]) -> tuple[float, str]:
    """L-infinity distance and the category where it is reached."""
    best, where = 0.0, ""
    for k in set(p) | set(q):
        d = abs(p.get(k, 0.0) - q.get(k, 0.0))
        if d > best:
            best, where = d, k
    return best, where


def unseen_values(baseline: Any, current: Any, base_values: Any = None,
                  cur_values: Any = None) -> tuple[float, float, int] | None:
    """(share of current values the baseline never had, the share chance explains, current count).

    A baseline of ``n`` values misses categories with total mass about ``f1 / n`` (Good-Turing:
    ``f1`` categories seen once), so that much "new" is expected; the threshold adds 3.3
    standard errors and 0.01. Exact from raw values when given; from the statistics' rank
    histograms only when they list every category (else None). Catches what L-infinity cannot:
    a high-cardinality feature (IDs, zip codes) whose values are all new, each one rare.

    Example:
        >>> import numpy as np
        >>> share, allowed, m = unseen_values(None, None, np.array(["a", "b"] * 50), np.array(["x", "y"] * 50))
        >>> share, allowed < 0.1, m
        (1.0, True, 100)
    """
    if base_values is not None and cur_values is not None:
        import numpy as np
        import pandas as pd

        if not len(base_values) or not len(cur_values):
            return None
        b = pd.Series(np.asarray(base_values)).astype(str)  # hashing, not sorting: 1M strings in ~0.1 s
        c = pd.Series(np.asarray(cur_values)).astype(str)
        counts = b.value_counts(sort=False)
        share = float((~c.isin(counts.index)).mean())
        n, m, f1 = len(b), len(c), int((counts == 1).sum())
    else:
        bs, cs = baseline.string_stats, current.string_stats
        bb, cb = bs.rank_histogram.buckets, cs.rank_histogram.buckets
        if not bb or not cb or len(bb) < bs.unique or len(cb) < cs.unique:
            return None
        known = {x.label for x in bb}
        n = int(sum(x.sample_count for x in bb))
        m = int(sum(x.sample_count for x in cb))
        if not n or not m:
            return None
        share = sum(x.sample_count for x in cb if x.label not in known) / m
        f1 = sum(1 for x in bb if round(x.sample_count) == 1)
    expected = max(f1, 1) / n
    se = math.sqrt(expected * (1 - expected) / m + expected / n)
    return share, min(1.0, expected + 3.3 * se + 0.01), m
