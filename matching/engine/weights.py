"""Learned field weights: Fellegi-Sunter m and u probabilities, estimated by EM.

Each field's similarity (in [0, 1]) falls in one of a few levels: exact, close,
similar, different. For a true match, ``m[f][k]`` is the chance that field
``f`` is at level ``k``; for a non-match, ``u[f][k]``. ``u`` comes from random
pairs of the two tables (nearly all non-matches, as Splink estimates it); ``m``
and the share of matches come from EM over each blocking rule's pairs. A pair's
match weight is the sum over present fields of ``log2(m / u)`` at its level (a
missing value adds nothing); its score is that weight rescaled to [0, 1] between
the lowest and the highest weight any pair can have, so the order of pairs is the
order of their match probability.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["LEVELS", "LearnedWeights", "levels_of", "learn_weights"]

#: Lower bounds of the levels after "exact" (score 1): close, similar; the rest is different.
LEVELS: tuple[float, ...] = (0.88, 0.7)

_FLOOR = 1e-4


def levels_of(scores: np.ndarray, bounds: Sequence[float] = LEVELS) -> np.ndarray:
    """Level of each similarity: 0 exact, 1.. by ``bounds`` descending, -1 where NaN.

    >>> levels_of(np.array([1.0, 0.9, 0.75, 0.2, np.nan])).tolist()
    [0, 1, 2, 3, -1]
    """
    out = np.full(scores.shape, -1, np.int64)
    present = ~np.isnan(scores)
    s = scores[present]
    level = np.where(s >= 1.0, 0, 1 + np.searchsorted(-np.asarray(bounds), -s, side="left"))
    out[present] = level
    return out


@dataclass(frozen=True)
class LearnedWeights:
    """m and u per field and level, and the prior share of matches.

    Parameters
    ----------
    fields : tuple of str
        Field names, in spec order.
    m, u : tuple of tuple of float
        Per field, per level (exact, then by :data:`LEVELS`, then different).
    prior : float
        Share of matches among the candidate pairs EM ran on.
    bounds : tuple of float
        The level bounds used.
    """

    fields: tuple[str, ...]
    m: tuple[tuple[float, ...], ...]
    u: tuple[tuple[float, ...], ...]
    prior: float
    bounds: tuple[float, ...] = LEVELS

    @property
    def table(self) -> np.ndarray:
        """Match weights ``log2(m / u)``, shape (fields, levels)."""
        m = np.maximum(np.asarray(self.m), _FLOOR)
        u = np.maximum(np.asarray(self.u), _FLOOR)
        return np.log2(m / u)

    def span(self) -> tuple[float, float]:
        """The lowest and highest match weight a pair can have (missing adds 0)."""
        t = self.table
        return float(np.minimum(t.min(axis=1), 0).sum()), float(np.maximum(t.max(axis=1), 0).sum())

    def score(self, fields: Sequence[np.ndarray]) -> np.ndarray:
        """Scores in [0, 1] of pairs from their field similarities; NaN where none is present."""
        t = self.table
        low, high = self.span()
        weight = np.zeros(len(fields[0]))
        present = np.zeros(len(fields[0]), bool)
        for f, scores in enumerate(fields):
            level = levels_of(scores, self.bounds)
            ok = level >= 0
            weight[ok] += t[f, level[ok]]
            present |= ok
        scale = high - low if high > low else 1.0
        out = np.clip((weight - low) / scale, 0.0, 1.0)
        out[~present] = np.nan
        return out

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LearnedWeights:
        return cls(
            fields=tuple(data["fields"]),
            m=tuple(tuple(r) for r in data["m"]),
            u=tuple(tuple(r) for r in data["u"]),
            prior=float(data["prior"]),
            bounds=tuple(data.get("bounds", LEVELS)),
        )

    def report(self) -> str:
        """The learned table as text, one line per field."""
        names = ["exact", *(f">={b:g}" for b in self.bounds), "other"]
        head = f"{'field':<16}" + "".join(f"{n:>22}" for n in names)
        lines = [f"learned weights (prior match share {self.prior:.4f}); m / u (log2 m/u):", head]
        t = self.table
        for f, name in enumerate(self.fields):
            cells = "".join(
                f"{self.m[f][k]:>8.3f}/{self.u[f][k]:<6.4f}({t[f, k]:+5.1f})"
                for k in range(len(names))
            )
            lines.append(f"{name:<16}{cells}")
        return "\n".join(lines)


def _patterns(levels: np.ndarray, n_levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``levels`` (pairs x fields) and how often each occurs."""
    base = n_levels + 1
    key = np.zeros(len(levels), np.int64)
    for f in range(levels.shape[1]):
        key = key * base + (levels[:, f] + 1)
    _, first, count = np.unique(key, return_index=True, return_counts=True)
    return levels[first], count


def _em(
    rows: np.ndarray,
    count: np.ndarray,
    u: np.ndarray,
    active: np.ndarray,
    *,
    iterations: int,
    prior: float,
) -> tuple[np.ndarray, float]:
    """m of the active fields (NaN rows for the others) and the prior, by EM."""
    n_fields, n_levels = u.shape
    m = np.tile(np.linspace(0.7, 0.05, n_levels), (n_fields, 1))
    m /= m.sum(axis=1, keepdims=True)
    lam = prior
    fields = np.flatnonzero(active)
    for _ in range(iterations):
        llr = np.zeros(len(rows))
        for f in fields:
            ok = rows[:, f] >= 0
            llr[ok] += np.log(np.maximum(m[f, rows[ok, f]], _FLOOR) / u[f, rows[ok, f]])
        odds = np.clip(llr + np.log(lam / (1 - lam)), -50, 50)
        p = 1.0 / (1.0 + np.exp(-odds))
        new_lam = float(np.clip((p * count).sum() / max(count.sum(), 1), 1e-6, 1 - 1e-6))
        for f in fields:
            ok = rows[:, f] >= 0
            mass = np.bincount(rows[ok, f], weights=(p * count)[ok], minlength=n_levels)
            m[f] = (mass + 1e-3) / (mass.sum() + 1e-3 * n_levels)
        settled = abs(new_lam - lam) < 1e-7
        lam = new_lam
        if settled:
            break
    m[~active] = np.nan
    return m, lam


def learn_weights(
    names: Sequence[str],
    sessions: Sequence[tuple[Sequence[np.ndarray], Sequence[bool]]],
    random_fields: Sequence[np.ndarray],
    *,
    bounds: Sequence[float] = LEVELS,
    iterations: int = 50,
    prior: float = 0.1,
) -> LearnedWeights:
    """Estimate m, u and the prior from field similarities.

    As Splink trains: ``u`` from random pairs, then one EM session per blocking
    rule over that rule's pairs, estimating ``m`` only for the fields the rule
    does not block on (its pairs agree on those by construction). Each field's
    ``m`` is the mean over the sessions that estimated it; a field every rule
    blocks on gets ``m`` from a session over all fields.

    Parameters
    ----------
    names : sequence of str
        Field names.
    sessions : sequence of (field similarities, active)
        Per session, per field the similarities of its candidate pairs (NaN:
        missing), and per field whether the session estimates its ``m``.
    random_fields : sequence of ndarray
        Per field, the similarities of random pairs: ``u`` is their level
        frequencies.
    iterations : int
        EM steps per session (fewer when the prior settles).
    prior : float
        Starting share of matches.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> match = rng.random((400, 2)) < 0.3
    >>> cand = [np.where(match[:, f], 1.0, rng.random(400) * 0.6) for f in range(2)]
    >>> rand = [rng.random(1000) * 0.6 for _ in range(2)]
    >>> w = learn_weights(["a", "b"], [(cand, [True, True])], rand)
    >>> bool(w.table[0, 0] > 3 > w.table[0, 3])
    True
    """
    n_levels = len(bounds) + 2
    u = []
    for scores in random_fields:
        level = levels_of(np.asarray(scores, float), bounds)
        freq = np.bincount(level[level >= 0], minlength=n_levels).astype(float)
        u.append((freq + 1.0) / (freq.sum() + n_levels))  # add-one: no zero u
    u = np.array(u)
    estimates, priors = [], []
    covered = np.zeros(len(names), bool)
    for fields, active in sessions:
        active = np.asarray(active, bool)
        if not active.any() or not len(fields[0]):
            continue
        levels = np.stack([levels_of(np.asarray(s, float), bounds) for s in fields], axis=1)
        rows, count = _patterns(levels, n_levels)
        m, lam = _em(rows, count, u, active, iterations=iterations, prior=prior)
        estimates.append(m)
        priors.append(lam)
        covered |= active
    if not covered.all() and sessions:
        fields = [np.concatenate([f[i] for f, _ in sessions]) for i in range(len(names))]
        levels = np.stack([levels_of(np.asarray(s, float), bounds) for s in fields], axis=1)
        rows, count = _patterns(levels, n_levels)
        m, lam = _em(rows, count, u, np.ones(len(names), bool), iterations=iterations, prior=prior)
        m[covered] = np.nan
        estimates.append(m)
    m = np.nanmean(np.stack(estimates), axis=0) if estimates else np.full(u.shape, 1 / n_levels)
    return LearnedWeights(
        fields=tuple(names),
        m=tuple(tuple(float(x) for x in r) for r in m),
        u=tuple(tuple(float(x) for x in r) for r in u),
        prior=float(np.mean(priors)) if priors else prior,
        bounds=tuple(bounds),
    )
