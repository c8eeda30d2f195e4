"""A pair's place among its record's pairs, as plain arrays: each group's best weight,
``2 ** x`` and ``log2`` by arithmetic alone (the same bits however an array is cut), and
the plain references of :class:`~matching.engine.weights.LearnedWeights`' standing and
shared odds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "best_in_groups",
    "exp2_exact",
    "log2_exact",
    "exclusive_bits_plain",
    "standing_bits_plain",
]


#: Terms of the series :func:`exp2_exact` and :func:`log2_exact` sum (enough for every
#: bit of a double).
_TERMS = 24
_LN2 = math.log(2.0)


def exp2_exact(x: np.ndarray) -> np.ndarray:
    """``2 ** x`` by arithmetic alone (a power series on the fraction, the exponent set
    exactly), so each value comes out the same however an array is cut: numpy's own
    ``exp2`` may differ in the last bit between its vector loop and its scalar tail,
    which would make a Dask run differ from a local one.

    >>> x = np.array([0.0, 1.5, -3.25, -1100.0])
    >>> bool(np.allclose(exp2_exact(x), [1.0, 2**1.5, 2**-3.25, 0.0], rtol=1e-15, atol=0))
    True
    """
    x = np.asarray(x, np.float64)
    whole = np.floor(x)
    frac = (x - whole) * _LN2  # in [0, ln 2)
    term = np.ones_like(frac)
    total = np.ones_like(frac)
    for k in range(1, _TERMS):
        term = term * frac / k
        total = total + term
    return np.ldexp(total, np.clip(whole, -1100, 1100).astype(np.int64))


def log2_exact(z: np.ndarray) -> np.ndarray:
    """``log2(z)`` for ``z > 0`` by arithmetic alone (see :func:`exp2_exact`): the
    exponent exactly, the mantissa's logarithm by the series of ``atanh``.

    >>> z = np.array([1.0, 8.0, 0.75])
    >>> bool(np.allclose(log2_exact(z), [0.0, 3.0, math.log2(0.75)], rtol=0, atol=1e-14))
    True
    """
    mantissa, exponent = np.frexp(np.asarray(z, np.float64))  # mantissa in [0.5, 1)
    s = (mantissa - 1.0) / (mantissa + 1.0)  # in [-1/3, 0)
    s2 = s * s
    power = s.copy()
    total = s.copy()
    for k in range(1, _TERMS):
        power = power * s2
        total = total + power / (2 * k + 1)
    return exponent + 2.0 * total / _LN2


def exclusive_bits_plain(
    prior_bits: float, weight: Sequence[float], groups: Sequence
) -> list[float]:
    """:meth:`LearnedWeights.exclusive_bits` pair by pair: the plain reference.

    >>> [round(b, 3) for b in exclusive_bits_plain(0.0, [3.0, 0.0, 1.0], [1, 1, 2])]
    [-1.0, -3.17, 0.0]
    """
    out = []
    for j, (w, g) in enumerate(zip(weight, groups)):
        if math.isnan(w):
            out.append(0.0)
            continue
        others = sum(
            2.0 ** (v + prior_bits)
            for k, (v, h) in enumerate(zip(weight, groups))
            if k != j and h == g and not math.isnan(v)
        )
        out.append(-math.log2(1.0 + others) if others > 0 else 0.0)
    return out


def best_in_groups(weight: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per pair, the best weight among the pairs of its group (NaN weights left out;
    -inf where a group has none).

    >>> best_in_groups(np.array([1.0, 3.0, np.nan, 2.0]), np.array(["a", "a", "b", "c"])).tolist()
    [3.0, 3.0, -inf, 2.0]
    """
    weight = np.asarray(weight, np.float64)
    if not len(weight):
        return np.empty(0)
    _, group = np.unique(np.asarray(groups), return_inverse=True)
    group = group.ravel()
    best = np.full(group.max() + 1, -np.inf)
    ok = ~np.isnan(weight)
    np.maximum.at(best, group[ok], weight[ok])
    return best[group]


def standing_bits_plain(standing: float, weight: Sequence[float], groups: Sequence) -> list[float]:
    """:meth:`LearnedWeights.standing_bits` pair by pair: the plain reference.

    >>> standing_bits_plain(0.5, [4.0, 1.0, -2.0, float("nan")], [7, 7, 3, 3])
    [0.0, -1.5, 0.0, 0.0]
    """
    best: dict = {}
    for w, g in zip(weight, groups):
        if not math.isnan(w):
            best[g] = max(best.get(g, -math.inf), w)
    return [0.0 if math.isnan(w) else standing * (w - best[g]) for w, g in zip(weight, groups)]
