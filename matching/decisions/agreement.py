"""Agreement between reviewers: Cohen's kappa with its 95% interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

from matching.decisions.audit import z_value

__all__ = ["cohen_kappa"]


def cohen_kappa(
    first: Sequence[str], second: Sequence[str], *, confidence: float = 0.95
) -> dict[str, float | int]:
    """Cohen's kappa of two reviewers' verdicts on the same records.

    Parameters
    ----------
    first, second : sequence of str
        The two verdicts on each record, in the same order (for example
        ``"accepted"``/``"rejected"``, or the accepted right id).

    Returns
    -------
    dict
        ``n``, ``observed`` (share of records with the same verdict),
        ``expected`` (agreement by chance from each reviewer's own shares),
        ``kappa`` and its interval ``low, high`` from the large-sample standard
        error ``sqrt(po (1 - po) / (n (1 - pe)²))``. ``kappa`` is NaN when
        ``expected`` is 1 (both always gave the same single verdict).

    Examples
    --------
    >>> a = ["y"] * 25 + ["n"] * 25
    >>> b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    >>> r = cohen_kappa(a, b)
    >>> round(r["kappa"], 3), round(r["low"], 3), round(r["high"], 3)
    (0.4, 0.146, 0.654)
    """
    if len(first) != len(second):
        raise ValueError("both reviewers need a verdict on the same records")
    n = len(first)
    if n == 0:
        nan = float("nan")
        return {"n": 0, "observed": nan, "expected": nan, "kappa": nan, "low": nan, "high": nan}
    po = sum(a == b for a, b in zip(first, second)) / n
    labels = set(first) | set(second)
    pe = sum((list(first).count(k) / n) * (list(second).count(k) / n) for k in labels)
    if pe >= 1.0:
        nan = float("nan")
        return {"n": n, "observed": po, "expected": pe, "kappa": nan, "low": nan, "high": nan}
    kappa = (po - pe) / (1 - pe)
    se = math.sqrt(po * (1 - po) / (n * (1 - pe) ** 2))
    z = z_value(confidence)
    return {
        "n": n,
        "observed": po,
        "expected": pe,
        "kappa": kappa,
        "low": max(-1.0, kappa - z * se),
        "high": min(1.0, kappa + z * se),
    }
