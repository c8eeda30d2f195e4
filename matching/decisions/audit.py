"""How sure an estimate is: Wilson intervals, audit sample sizes, audit samples.

An automatic decision (bulk auto-accept or auto-reject) is only as good as its
rule. An audit reviews a random sample of such decisions; these functions say
how many to draw for a wanted margin, draw them, and turn what the auditors
found into an error rate with its interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

__all__ = ["z_value", "wilson_interval", "audit_sample_size", "draw_sample", "audited_errors"]


def z_value(confidence: float = 0.95) -> float:
    """The two-sided normal quantile for ``confidence`` (1.96 for 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n``.

    Unlike the plain ``p ± z·sqrt(p(1-p)/n)``, it stays inside [0, 1] and is
    sensible at 0 and n successes, which audits of good rules often find.

    Returns
    -------
    tuple of float
        ``(low, high)``; ``(0.0, 1.0)`` when ``n`` is 0.

    Examples
    --------
    >>> [round(x, 4) for x in wilson_interval(0, 10)]
    [0.0, 0.2775]
    >>> [round(x, 4) for x in wilson_interval(5, 10)]
    [0.2366, 0.7634]
    """
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At 0 or n successes one end is exactly 0 or 1; rounding would leave it a hair off.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def audit_sample_size(
    population: int, *, margin: float = 0.03, confidence: float = 0.95, expected: float = 0.5
) -> int:
    """Records to audit so an error rate is known to ``± margin`` at ``confidence``.

    Uses ``n0 = z² p (1 - p) / margin²`` with the finite population correction
    ``n0 / (1 + (n0 - 1) / population)``, rounded up; ``expected`` 0.5 is the
    safe choice when nothing is known of the error rate.

    Examples
    --------
    >>> audit_sample_size(10**9), audit_sample_size(5000), audit_sample_size(40)
    (1068, 880, 39)
    """
    if population <= 0:
        return 0
    if not 0.0 < margin < 1.0:
        raise ValueError(f"margin must be between 0 and 1, not {margin}")
    z = z_value(confidence)
    n0 = z * z * expected * (1 - expected) / (margin * margin)
    n = n0 / (1 + (n0 - 1) / population)
    return min(population, math.ceil(n - 1e-9))


def draw_sample(ids: Sequence[str], size: int, *, seed: int) -> list[str]:
    """A simple random sample of ``size`` ids, without replacement, in their given order.

    The same ``seed`` draws the same sample, so an audit can be drawn again.
    """
    size = max(0, min(int(size), len(ids)))
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(ids), size=size, replace=False))
    return [ids[i] for i in picks.tolist()]


def audited_errors(
    wrong: int, audited: int, batch_size: int, *, confidence: float = 0.95
) -> dict[str, float | int]:
    """An automatic batch's error rate from its audit, and wrong decisions in the batch.

    Returns
    -------
    dict
        ``rate, low, high`` (the Wilson interval), ``audited, wrong`` and
        ``estimated_wrong, estimated_wrong_low, estimated_wrong_high`` (the rate
        and its interval times ``batch_size``, rounded).

    Examples
    --------
    >>> r = audited_errors(3, 300, 10_000)
    >>> r["rate"], r["estimated_wrong"], (r["estimated_wrong_low"], r["estimated_wrong_high"])
    (0.01, 100, (34, 290))
    """
    low, high = wilson_interval(wrong, audited, confidence=confidence)
    rate = wrong / audited if audited else float("nan")
    return {
        "rate": rate,
        "low": low,
        "high": high,
        "audited": audited,
        "wrong": wrong,
        "estimated_wrong": round(rate * batch_size) if audited else 0,
        "estimated_wrong_low": round(low * batch_size),
        "estimated_wrong_high": round(high * batch_size),
    }
