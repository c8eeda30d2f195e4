"""Learned field weights: Fellegi-Sunter m and u probabilities, estimated by EM.

Each field's similarity (in [0, 1]) falls in one of a few levels, set per scorer
(:func:`levels_for`: for Jaro-Winkler exact, >= 0.95, >= 0.88, >= 0.7, other). For a
true match, ``m[f][k]`` is the chance that field ``f`` is at level ``k``; for a
non-match, ``u[f][k]``. ``u`` comes from random pairs of the two tables (nearly all
non-matches, as Splink estimates it); ``m`` and the share of matches come from EM
over each training rule's pairs. A field's match weight at a level is ``log2(m / u)``
made monotone (pooled with its neighbours where a closer level would weigh less than
a farther one), plus, for exact agreement, a term-frequency adjustment (agreeing on a
rare value is worth more than on a common one) and, within a level, a small step by
the raw similarity so that ties within a level are broken. A pair's match weight is
the sum over present fields (a missing value adds nothing); its score is that weight
rescaled to [0, 1] between the lowest and the highest weight any pair can have.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matching.engine.record_math import best_in_groups, exp2_exact, log2_exact

__all__ = [
    "LEVELS",
    "SCORER_LEVELS",
    "TIE_SHARE",
    "LearnedWeights",
    "levels_for",
    "levels_of",
    "learn_weights",
    "monotone_bits",
    "fit_labels",
    "fit_standing",
    "PENALTIES",
]

#: Lower bounds of the levels after "exact" (score 1) used when none is set per scorer.
LEVELS: tuple[float, ...] = (0.88, 0.7)

#: Level bounds per scorer (after exact, before "other"), finer where the scorer is.
SCORER_LEVELS: dict[str, tuple[float, ...]] = {
    "jaro_winkler": (0.95, 0.88, 0.7),
    "levenshtein": (0.9, 0.75, 0.5),
    "qratio": (0.9, 0.8, 0.6),
    "ratio": (0.9, 0.8, 0.6),
    "wratio": (0.9, 0.8, 0.6),
    "token_sort": (0.9, 0.8, 0.6),
    "token_set": (0.9, 0.8, 0.6),
    "partial": (0.9, 0.8, 0.6),
    "tfidf": (0.9, 0.75, 0.55, 0.35),
    "date": (0.8, 0.6),  # day and month swapped; one part differs
    "exact": (),
}

#: Share of the step to the next closer level that the raw similarity adds within a level.
TIE_SHARE = 0.1

_FLOOR = 1e-4


def levels_for(scorer: str) -> tuple[float, ...]:
    """The level bounds of a scorer (:data:`SCORER_LEVELS`, else :data:`LEVELS`)."""
    return SCORER_LEVELS.get(scorer, LEVELS)


def levels_of(scores: np.ndarray, bounds: Sequence[float] = LEVELS) -> np.ndarray:
    """Level of each similarity: 0 exact, 1.. by ``bounds`` descending, -1 where NaN.

    >>> levels_of(np.array([1.0, 0.9, 0.75, 0.2, np.nan])).tolist()
    [0, 1, 2, 3, -1]
    """
    scores = np.asarray(scores, np.float64)
    out = np.full(scores.shape, -1, np.int64)
    present = ~np.isnan(scores)
    s = scores[present]
    level = np.where(s >= 1.0, 0, 1 + np.searchsorted(-np.asarray(bounds), -s, side="left"))
    out[present] = level
    return out


def _pool(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted pool-adjacent-violators: the closest non-increasing sequence."""
    blocks: list[list[float]] = []  # [value, weight, length]
    for v, w in zip(values.tolist(), weights.tolist()):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-1][0] > blocks[-2][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks[-1]
            total = w1 + w2
            blocks[-1] = [(v1 * w1 + v2 * w2) / total if total else (v1 + v2) / 2, total, n1 + n2]
    return np.array([v for v, _, n in blocks for _ in range(n)], np.float64)


def monotone_bits(m: Sequence[float], u: Sequence[float]) -> np.ndarray:
    """``log2(m / u)`` per level, never rising from a closer level to a farther one.

    Adjacent levels out of order are pooled (their m and u summed) until the
    ratios fall: the monotone ratios closest to the data.

    >>> monotone_bits([0.8, 0.02, 0.13, 0.05], [0.01, 0.01, 0.02, 0.96]).round(2).tolist()
    [6.32, 2.32, 2.32, -4.26]
    """
    m = np.maximum(np.asarray(m, np.float64), _FLOOR)
    u = np.maximum(np.asarray(u, np.float64), _FLOOR)
    blocks: list[list[float]] = []  # [sum m, sum u, length]
    for mk, uk in zip(m.tolist(), u.tolist()):
        blocks.append([mk, uk, 1])
        while len(blocks) > 1 and blocks[-1][0] / blocks[-1][1] > blocks[-2][0] / blocks[-2][1]:
            m2, u2, n2 = blocks.pop()
            blocks[-1][0] += m2
            blocks[-1][1] += u2
            blocks[-1][2] += n2
    return np.array([math.log2(a / b) for a, b, n in blocks for _ in range(n)], np.float64)


def _per_field(bounds: object, n: int) -> tuple[tuple[float, ...], ...]:
    """Bounds as one tuple per field; a flat tuple (earlier versions) holds for every field."""
    bounds = tuple(bounds)
    if all(isinstance(b, (int, float)) for b in bounds):
        return tuple(tuple(float(b) for b in bounds) for _ in range(n))
    return tuple(tuple(float(x) for x in b) for b in bounds)


@dataclass(frozen=True)
class LearnedWeights:
    """m and u per field and level, the prior share of matches, and label corrections.

    Parameters
    ----------
    fields : tuple of str
        Field names, in spec order.
    m, u : tuple of tuple of float
        Per field, per level (exact, then by the field's bounds, then other).
    prior : float
        Share of matches among the candidate pairs EM ran on.
    bounds : tuple
        Per field, its level bounds; a flat tuple (as earlier versions saved)
        holds for every field.
    tf_cap : tuple of float
        Per field, the most bits a rare exactly agreeing value adds (empty: no
        term-frequency adjustment).
    adjust : tuple of tuple of float
        Per field and level, bits added from labelled pairs (empty: none).
    slope : tuple of float
        Per field, bits added per unit of similarity, from labelled pairs (empty:
        none; never below 0, so a weight never falls as similarity rises).
    standing : float
        From labelled pairs: the bits a pair loses per bit that its weight is below
        the best weight among its left record's candidates (0: none; never below 0).
        Within one record it keeps the order; across records it tells a record's
        best candidate from a runner-up of another record at the same weight.
    exclusive : bool
        Each left record matches at most one right record (EM found few records with
        two sure partners): a pair's odds are shared with its record's other
        candidates (:meth:`exclusive_bits`).
    """

    fields: tuple[str, ...]
    m: tuple[tuple[float, ...], ...]
    u: tuple[tuple[float, ...], ...]
    prior: float
    bounds: tuple = LEVELS
    tf_cap: tuple[float, ...] = ()
    adjust: tuple[tuple[float, ...], ...] = ()
    slope: tuple[float, ...] = ()
    standing: float = 0.0
    exclusive: bool = False

    def __post_init__(self) -> None:
        n = len(self.fields)
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "bounds", _per_field(self.bounds, n))
        object.__setattr__(self, "m", tuple(tuple(float(x) for x in r) for r in self.m))
        object.__setattr__(self, "u", tuple(tuple(float(x) for x in r) for r in self.u))
        object.__setattr__(self, "tf_cap", tuple(float(x) for x in self.tf_cap))
        object.__setattr__(self, "adjust", tuple(tuple(float(x) for x in r) for r in self.adjust))
        object.__setattr__(self, "slope", tuple(max(float(x), 0.0) for x in self.slope))
        if not math.isfinite(float(self.standing)):
            raise ValueError(f"learned weights: the standing must be a number, got {self.standing}")
        object.__setattr__(self, "standing", max(float(self.standing), 0.0))
        if not isinstance(self.exclusive, bool):
            raise ValueError(
                f"learned weights: exclusive must be true or false, got {self.exclusive!r}"
            )
        if self.slope and len(self.slope) != n:
            raise ValueError(f"learned weights: expected {n} slopes, got {len(self.slope)}")
        for f, name in enumerate(self.fields):
            want = len(self.bounds[f]) + 2
            if len(self.m[f]) != want or len(self.u[f]) != want:
                raise ValueError(f"learned weights of {name!r}: expected {want} levels")

    def bits(self, f: int) -> np.ndarray:
        """Field ``f``'s match weight per level (monotone, label corrections added)."""
        out = monotone_bits(self.m[f], self.u[f])
        if self.adjust:
            out = _pool(out + np.asarray(self.adjust[f]), np.ones(len(out)))
        return out

    @property
    def table(self) -> np.ndarray:
        """Match weights per field and level, shape (fields, most levels); NaN pads."""
        width = max(len(r) for r in self.m) if self.m else 0
        out = np.full((len(self.fields), width), np.nan)
        for f in range(len(self.fields)):
            b = self.bits(f)
            out[f, : len(b)] = b
        return out

    def _tf_range(self, f: int, bits: np.ndarray) -> tuple[float, float]:
        cap = self.tf_cap[f] if self.tf_cap else 0.0
        low = (bits[1] - bits[0]) if len(bits) > 1 else 0.0
        return min(low, 0.0), max(cap, 0.0)

    def span(self) -> tuple[float, float]:
        """The lowest and highest match weight a pair can have (missing adds 0)."""
        low = high = 0.0
        for f in range(len(self.fields)):
            b = self.bits(f)
            low += min(float(b.min()), 0.0)
            top = float(b.max()) + self._tf_range(f, b)[1] + (self.slope[f] if self.slope else 0.0)
            high += max(top, 0.0)
        # A pair's standing takes at most (high - low) times its factor; sharing its odds
        # with up to 2**10 others at most their best odds each, plus 11 bits.
        shared = max(high + self.prior_bits, 0.0) + 11.0 if self.exclusive else 0.0
        return low - self.standing * (high - low) - shared, high

    def contribution(
        self, f: int, scores: np.ndarray, share: np.ndarray | None = None
    ) -> np.ndarray:
        """Field ``f``'s match weight in bits for each similarity; NaN where missing.

        ``share``: per pair, how common the agreed value is (the geometric mean
        of its shares of the two tables; NaN: unknown) for the term-frequency
        adjustment of exact agreement.
        """
        scores = np.asarray(scores, np.float64)
        bounds = self.bounds[f]
        b = self.bits(f)
        level = levels_of(scores, bounds)
        ok = level >= 0
        out = np.full(len(scores), np.nan)
        k = level[ok]
        s = scores[ok]
        w = b[k]
        # Within a level, a small step towards the closer level by the raw similarity.
        edges = np.r_[1.0, bounds, 0.0]
        inner = k >= 1
        hi, lo = edges[k[inner] - 1], edges[k[inner]]
        frac = np.clip((s[inner] - lo) / np.maximum(hi - lo, 1e-12), 0.0, 1.0)
        w[inner] += TIE_SHARE * frac * (b[k[inner] - 1] - b[k[inner]])
        if self.slope:
            w += self.slope[f] * s
        if share is not None and self.tf_cap and self.tf_cap[f] > 0:
            exact = np.flatnonzero(k == 0)
            sh = np.asarray(share, np.float64)[ok][exact]
            known = ~np.isnan(sh) & (sh > 0)
            u0 = max(self.u[f][0], _FLOOR)
            adj = np.zeros(len(exact))
            # By arithmetic: numpy's log2 may differ in the last bit with how an array is cut.
            adj[known] = log2_exact(u0 / sh[known])
            low, high = self._tf_range(f, b)
            w[exact] += np.clip(adj, low, high)
        out[ok] = w
        return out

    def contributions(
        self, fields: Sequence[np.ndarray], shares: Sequence[np.ndarray | None] | None = None
    ) -> list[np.ndarray]:
        """Each field's match weight in bits per pair (NaN where missing)."""
        shares = shares if shares is not None else [None] * len(fields)
        return [self.contribution(f, s, sh) for f, (s, sh) in enumerate(zip(fields, shares))]

    def standing_bits(self, weight: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """The bits each pair loses for its standing (:attr:`standing`): the factor
        times how far its match ``weight`` (the sum of its fields' bits; NaN where no
        field is present, which loses nothing) is below the best weight of its group
        (``groups``: its left record, the same value for each of a record's pairs).
        The fast path; :func:`~matching.engine.record_math.standing_bits_plain` is the
        plain reference.

        >>> w = LearnedWeights(("a",), m=((0.9, 0.1),), u=((0.1, 0.9),), prior=0.1,
        ...                    bounds=((),), standing=0.5)
        >>> w.standing_bits(np.array([4.0, 1.0, -2.0, np.nan]), np.array([7, 7, 3, 3])).tolist()
        [0.0, -1.5, 0.0, 0.0]
        """
        weight = np.asarray(weight, np.float64)
        out = np.zeros(len(weight))
        if not self.standing or not len(weight):
            return out
        ok = ~np.isnan(weight)
        out[ok] = self.standing * (weight[ok] - best_in_groups(weight, groups)[ok])
        return out

    def exclusive_bits(self, weight: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """With :attr:`exclusive`, the bits each pair loses for sharing its record's one
        match with the record's other pairs: its match probability becomes
        ``o / (1 + sum of the record's odds)`` (``o`` its odds, ``2 ** (weight +
        prior_bits)``), so it loses ``log2(1 + the other pairs' odds)``; 0 without, and
        for a pair with no field present. The fast path (log-sum-exp per group);
        :func:`~matching.engine.record_math.exclusive_bits_plain` is the plain reference.

        >>> w = LearnedWeights(("a",), m=((0.9, 0.1),), u=((0.1, 0.9),), prior=0.5,
        ...                    bounds=((),), exclusive=True)
        >>> w.exclusive_bits(np.array([3.0, 0.0, 1.0]), np.array([1, 1, 2])).round(3).tolist()
        [-1.0, -3.17, 0.0]
        """
        weight = np.asarray(weight, np.float64)
        out = np.zeros(len(weight))
        if not self.exclusive or not len(weight):
            return out
        ok = ~np.isnan(weight)
        if not ok.any():
            return out
        t = np.clip(weight[ok] + self.prior_bits, -1000.0, 1000.0)
        _, group = np.unique(np.asarray(groups)[ok], return_inverse=True)
        group = group.ravel()
        top = np.full(group.max() + 1 if len(group) else 0, -np.inf)
        np.maximum.at(top, group, t)
        share = exp2_exact(t - top[group])  # each pair's odds over its group's best odds
        # One best pair per group (the first); the others' sum is added up apart from
        # it, so that the best pair's share of the rest is not lost to rounding.
        first = np.zeros(len(t), bool)
        order = np.lexsort((np.arange(len(t)), -t, group))
        lead = np.r_[True, group[order][1:] != group[order][:-1]]
        first[order[lead]] = True
        rest = np.zeros(len(top))
        np.add.at(rest, group[~first], share[~first])
        others = np.where(first, rest[group], rest[group] + 1.0 - share)
        others = np.maximum(others, 0.0)
        # log2(1 + others * 2**top), without overflow for a group with large odds.
        big = log2_exact(np.maximum(others, 1e-300)) + top[group]
        lost = np.maximum(big, 0.0) + log2_exact(1.0 + exp2_exact(-np.abs(big)))
        out[ok] = np.where(others > 0, -lost, 0.0)
        return out

    def record_bits(self, weight: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """What a pair's place among its record's pairs takes: :meth:`exclusive_bits`
        plus :meth:`standing_bits` (``groups``: each pair's left record)."""
        return self.exclusive_bits(weight, groups) + self.standing_bits(weight, groups)

    def with_standing(self, score: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Scores (as :meth:`score` gives them, before a pair's place among its record's
        pairs counts) with each pair's :meth:`record_bits` taken off, by the groups (left
        records) of ``groups``; the same scores when the weights have neither a
        standing nor :attr:`exclusive`. Every pair of a group must be here."""
        score = np.asarray(score, np.float64)
        if not (self.standing or self.exclusive) or not len(score):
            return score
        weight = self.unscale(score)
        present = ~np.isnan(score)
        return self.rescale(weight + self.record_bits(weight, groups), present)

    def rescale(self, weight: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Match weights in bits as scores in [0, 1]; NaN where no field is present."""
        low, high = self.span()
        scale = high - low if high > low else 1.0
        out = np.clip((weight - low) / scale, 0.0, 1.0)
        out[~present] = np.nan
        return out

    def unscale(self, score: np.ndarray) -> np.ndarray:
        """Match weights in bits of scores in [0, 1]: :meth:`rescale` undone."""
        low, high = self.span()
        scale = high - low if high > low else 1.0
        return low + np.asarray(score, np.float64) * scale

    def score(
        self, fields: Sequence[np.ndarray], shares: Sequence[np.ndarray | None] | None = None
    ) -> np.ndarray:
        """Scores in [0, 1] of pairs from their field similarities; NaN where none is present."""
        parts = self.contributions(fields, shares)
        weight = np.zeros(len(fields[0]))
        present = np.zeros(len(fields[0]), bool)
        for part in parts:
            ok = ~np.isnan(part)
            weight[ok] += part[ok]
            present |= ok
        return self.rescale(weight, present)

    def score_at_probability(self, probability: float) -> float:
        """The score (in [0, 1], as :meth:`score` gives it) of a pair whose match
        probability is ``probability``, given the prior: where thresholds on scores
        mean "at least this likely a match"."""
        p = min(max(float(probability), 1e-9), 1 - 1e-9)
        weight = math.log2(p / (1 - p)) - self.prior_bits
        return float(self.rescale(np.array([weight]), np.array([True]))[0])

    @property
    def prior_bits(self) -> float:
        """The prior as a match weight: log2 of the odds that two records taken at
        random match. A pair's weight plus this is the log2 odds that it matches."""
        prior = min(max(self.prior, 1e-9), 1 - 1e-9)
        return math.log2(prior / (1 - prior))

    def probability(self, weight: np.ndarray) -> np.ndarray:
        """Match probability of pairs with these match weights (bits), given the prior."""
        odds = np.asarray(weight, np.float64) + self.prior_bits
        return 1.0 / (1.0 + np.exp2(-np.clip(odds, -60, 60)))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["bounds"] = [list(b) for b in self.bounds]
        for key in ("tf_cap", "adjust", "slope", "standing", "exclusive"):
            if not out[key]:
                del out[key]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> LearnedWeights:
        return cls(
            fields=tuple(data["fields"]),
            m=tuple(tuple(r) for r in data["m"]),
            u=tuple(tuple(r) for r in data["u"]),
            prior=float(data["prior"]),
            bounds=data.get("bounds", LEVELS),
            tf_cap=tuple(data.get("tf_cap", ())),
            adjust=tuple(tuple(r) for r in data.get("adjust", ())),
            slope=tuple(data.get("slope", ())),
            standing=float(data.get("standing", 0.0)),
            exclusive=data.get("exclusive", False),
        )

    def level_names(self, f: int) -> list[str]:
        """The names of field ``f``'s levels: exact, >= bound..., other."""
        return ["exact", *(f">={b:g}" for b in self.bounds[f]), "other"]

    def report(self) -> str:
        """The learned table as text, one line per field: bits per level (m / u)."""
        lines = [f"learned weights (prior match share {self.prior:.4f}); log2(m/u) per level:"]
        for f, name in enumerate(self.fields):
            b = self.bits(f)
            cells = "  ".join(
                f"{lvl} {b[k]:+.1f} ({self.m[f][k]:.3f}/{self.u[f][k]:.4f})"
                for k, lvl in enumerate(self.level_names(f))
            )
            tf = f"  [rare exact value up to +{self.tf_cap[f]:.1f}]" if self.tf_cap else ""
            if self.slope and self.slope[f] > 0:
                tf += f"  [labels: +{self.slope[f]:.1f} per unit of similarity]"
            lines.append(f"{name:<16}{cells}{tf}")
        if self.exclusive:
            lines.append(
                "each left record matches at most one right record: a pair's odds are"
                " shared with its record's other candidates"
            )
        if self.standing:
            lines.append(
                f"labels: a pair loses {self.standing:.2f} bits per bit its weight is below"
                " its left record's best candidate"
            )
        return "\n".join(lines)


def _patterns(levels: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``levels`` (pairs x fields) and how often each occurs."""
    key = np.zeros(len(levels), np.int64)
    for f in range(levels.shape[1]):
        key = key * (base + 1) + (levels[:, f] + 1)
    _, first, count = np.unique(key, return_index=True, return_counts=True)
    return levels[first], count


def _em(
    rows: np.ndarray,
    count: np.ndarray,
    u: np.ndarray,
    sizes: np.ndarray,
    active: np.ndarray,
    *,
    iterations: int,
    prior: float,
) -> tuple[np.ndarray, float]:
    """m of the active fields (NaN rows for the others) and the prior, by EM."""
    n_fields, width = u.shape
    m = np.zeros((n_fields, width))
    for f in range(n_fields):
        m[f, : sizes[f]] = np.linspace(0.7, 0.05, sizes[f])
        m[f] /= m[f].sum()
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
            mass = np.bincount(rows[ok, f], weights=(p * count)[ok], minlength=width)
            mass[sizes[f] :] = 0.0
            m[f, : sizes[f]] = (mass[: sizes[f]] + 1e-3) / (mass.sum() + 1e-3 * sizes[f])
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
    bounds: Sequence[float] | Sequence[Sequence[float]] = LEVELS,
    iterations: int = 50,
    prior: float = 0.1,
    tf_shares: Sequence[float | None] | None = None,
) -> LearnedWeights:
    """Estimate m, u and the prior from field similarities.

    As Splink trains: ``u`` from random pairs, then one EM session per training
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
    bounds : sequence
        Level bounds: one tuple for every field, or one per field.
    iterations : int
        EM steps per session (fewer when the prior settles).
    prior : float
        Starting share of matches.
    tf_shares : sequence of float or None, optional
        Per field, the smallest share of a value found on both sides (None:
        no term-frequency adjustment for that field).

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
    per_field = _per_field(bounds, len(names))
    sizes = np.array([len(b) + 2 for b in per_field])
    width = int(sizes.max()) if len(sizes) else 2

    def levels(fields: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([levels_of(s, b) for s, b in zip(fields, per_field)], axis=1)

    u = np.ones((len(names), width))
    for f, scores in enumerate(random_fields):
        level = levels_of(scores, per_field[f])
        freq = np.bincount(level[level >= 0], minlength=width).astype(float)[: sizes[f]]
        u[f, : sizes[f]] = (freq + 1.0) / (freq.sum() + sizes[f])  # add-one: no zero u
    estimates, priors = [], []
    covered = np.zeros(len(names), bool)
    for fields, active in sessions:
        active = np.asarray(active, bool)
        if not active.any() or not len(fields[0]):
            continue
        rows, count = _patterns(levels(fields), width)
        m, lam = _em(rows, count, u, sizes, active, iterations=iterations, prior=prior)
        estimates.append(m)
        priors.append(lam)
        covered |= active
    usable = [f for f, _ in sessions if len(f[0])]
    if not covered.all() and usable:
        fields = [np.concatenate([f[i] for f in usable]) for i in range(len(names))]
        rows, count = _patterns(levels(fields), width)
        every = np.ones(len(names), bool)
        m, lam = _em(rows, count, u, sizes, every, iterations=iterations, prior=prior)
        m[covered] = np.nan
        estimates.append(m)
    if estimates:
        m = np.nanmean(np.stack(estimates), axis=0)
    else:
        m = np.stack([np.r_[np.full(s, 1 / s), np.zeros(width - s)] for s in sizes])
    tf_cap: tuple[float, ...] = ()
    if tf_shares is not None:
        tf_cap = tuple(
            max(0.0, math.log2(max(u[f, 0], _FLOOR) / s)) if s else 0.0
            for f, s in enumerate(tf_shares)
        )
    return LearnedWeights(
        fields=tuple(names),
        m=tuple(tuple(float(x) for x in r[:s]) for r, s in zip(m, sizes)),
        u=tuple(tuple(float(x) for x in r[:s]) for r, s in zip(u, sizes)),
        prior=float(np.mean(priors)) if priors else prior,
        bounds=per_field,
        tf_cap=tf_cap,
    )


#: Penalties :func:`fit_labels` chooses among by cross-validation (None: no correction).
PENALTIES: tuple[float | None, ...] = (None, 50.0, 10.0, 2.0, 0.5)


def _logistic(
    x: np.ndarray, offset: np.ndarray, y: np.ndarray, penalty: float, iterations: int = 25
) -> np.ndarray:
    """Coefficients of penalised logistic regression with an offset (Newton steps); the
    first column is an intercept, left nearly unpenalised."""
    beta = np.zeros(x.shape[1])
    reg = np.full(x.shape[1], penalty)
    reg[0] = 1e-6

    def loss(b: np.ndarray) -> float:
        z = offset + x @ b
        return float(np.sum(np.logaddexp(0, z) - y * z) + 0.5 * np.sum(reg * b * b))

    now = loss(beta)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(offset + x @ beta, -30, 30)))
        grad = x.T @ (p - y) + reg * beta
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(reg)
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        # Halved until the penalised loss falls: a full step can overshoot.
        for _ in range(30):
            if (new := loss(beta - step)) <= now:
                break
            step = step / 2
        else:
            break
        beta, now = beta - step, new
        if np.abs(step).max() < 1e-8:
            break
    return beta


def _held_out_loss(
    x: np.ndarray, offset: np.ndarray, y: np.ndarray, penalty: float | None, folds: int
) -> float:
    """Mean log loss on each fold of labels, fitted on the others (``None``: only the
    intercept is fitted, the learned weights kept as they are)."""
    loss = 0.0
    fold = np.arange(len(y)) % folds
    for k in range(folds):
        train, test = fold != k, fold == k
        cols = x if penalty is not None else x[:, :1]
        beta = _logistic(cols[train], offset[train], y[train], penalty or 1.0)
        z = np.clip(offset[test] + cols[test] @ beta, -30, 30)
        loss += float(np.sum(np.logaddexp(0, z) - y[test] * z))
    return loss / len(y)


def fit_labels(
    weights: LearnedWeights,
    fields: Sequence[np.ndarray],
    labels: np.ndarray,
    *,
    shares: Sequence[np.ndarray | None] | None = None,
    penalty: float | None = None,
    folds: int = 5,
) -> LearnedWeights:
    """Correct learned weights with labelled pairs: logistic regression on the levels
    and the similarities.

    The learned match weights are the offset (the prior of the model), and one
    correction per field and level, and one per field and unit of similarity (its
    slope, kept at 0 or above), are fitted by penalised logistic regression
    (damped Newton steps; an intercept that is fitted and dropped, as it moves
    every pair alike). The slopes let labels say what the levels cannot: within
    a level, how much closer titles are worth. The penalty is chosen among
    :data:`PENALTIES` by the log loss on held-out labels (``folds``-fold), so
    labels that do not generalise leave the weights as they are; the weights stay
    monotone (:func:`monotone_bits` pools levels that fall out of order, and no
    slope is below 0).

    Parameters
    ----------
    weights : LearnedWeights
        Weights learned without labels (by EM).
    fields : sequence of ndarray
        Per field, the similarities of the labelled pairs.
    labels : ndarray of {0, 1}
        1 for a match.
    penalty : float, optional
        L2 penalty on the corrections (in nats); chosen by cross-validation when None.
    """
    labels = np.asarray(labels, np.float64)
    parts = weights.contributions(fields, shares)
    offset = np.nansum(np.stack(parts), axis=0) * math.log(2) if parts else np.zeros(0)
    cols, start = [], []
    at = 0
    for f, s in enumerate(fields):
        start.append(at)
        size = len(weights.m[f])
        level = levels_of(s, weights.bounds[f])
        onehot = np.zeros((len(s), size))
        ok = level >= 0
        onehot[np.flatnonzero(ok), level[ok]] = 1.0
        cols.append(onehot)
        at += size
    sims = np.column_stack([np.nan_to_num(np.asarray(s, np.float64), nan=0.0) for s in fields])
    x = np.hstack([np.ones((len(labels), 1)), *cols, sims])
    if penalty is None:
        if len(labels) < 2 * folds or labels.min() == labels.max():
            return weights
        penalty = _chosen_penalty(x, offset, labels, folds)
        if penalty is None:
            return weights
    beta = _logistic(x, offset, labels, penalty)
    old = weights.adjust or tuple(tuple(0.0 for _ in r) for r in weights.m)
    adjust = tuple(
        tuple(float(a + beta[1 + start[f] + k] / math.log(2)) for k, a in enumerate(old[f]))
        for f in range(len(weights.fields))
    )
    steps = beta[1 + at :] / math.log(2)
    slope = tuple(
        max(float((weights.slope[f] if weights.slope else 0.0) + steps[f]), 0.0)
        for f in range(len(weights.fields))
    )
    return dataclasses.replace(weights, adjust=adjust, slope=slope)


def _chosen_penalty(
    x: np.ndarray, offset: np.ndarray, labels: np.ndarray, folds: int
) -> float | None:
    """The penalty among :data:`PENALTIES` with the least held-out log loss (None, the
    weights left as they are, on a tie)."""
    losses = {p: _held_out_loss(x, offset, labels, p, folds) for p in PENALTIES}
    return min(PENALTIES, key=lambda p: (losses[p], p is not None))


def fit_standing(
    weights: LearnedWeights,
    weight: np.ndarray,
    best: np.ndarray,
    labels: np.ndarray,
    *,
    shared: np.ndarray | None = None,
    penalty: float | None = None,
    folds: int = 5,
) -> LearnedWeights:
    """``weights`` with their :attr:`~LearnedWeights.standing` learned from labelled pairs.

    ``weight`` is each labelled pair's match weight in bits (by ``weights``, NaN where
    no field is present) and ``best`` the best weight among its left record's
    candidates (-inf where it has none); ``shared``, what each loses for sharing its
    record's one match (:meth:`LearnedWeights.exclusive_bits`), is part of the offset.
    The bits below the best are one feature of
    penalised logistic regression with the weights as the offset; its coefficient,
    kept at 0 or above, is the standing. As in :func:`fit_labels`, the penalty is
    chosen by the log loss on held-out labels, so labels that do not show the
    standing to matter leave it at 0.
    """
    labels = np.asarray(labels, np.float64)
    weight = np.asarray(weight, np.float64)
    present = ~np.isnan(weight)
    below = np.zeros(len(weight))
    ahead = np.asarray(best, np.float64)
    known = present & np.isfinite(ahead)
    below[known] = np.minimum(weight[known] - ahead[known], 0.0)
    extra = np.zeros(len(weight)) if shared is None else np.asarray(shared, np.float64)
    offset = (np.where(present, weight, 0.0) + extra) * math.log(2)
    # The pair's own weight is a feature too: labels may trust the weights less or
    # more than EM does, and the standing counts against that scale.
    x = np.column_stack([np.ones(len(labels)), offset, below * math.log(2)])
    if penalty is None:
        if len(labels) < 2 * folds or labels.min() == labels.max() or not below.any():
            return weights
        penalty = _chosen_penalty(x, offset, labels, folds)
        if penalty is None:
            return weights
    beta = _logistic(x, offset, labels, penalty)
    scale = 1.0 + float(beta[1])
    return dataclasses.replace(weights, standing=max(float(beta[2]) / max(scale, 0.05), 0.0))
