"""TF-IDF text similarity: the ``tfidf`` scorer and nearest-neighbour blocking.

A :class:`TfidfModel` is fitted on the distinct cleaned values of both tables'
columns: words and character 3-grams within words, each value a unit vector, so
two values' similarity is the cosine of their vectors (rare words count more
than common ones). :meth:`TfidfModel.pair` is the plain reference for one pair;
:meth:`TfidfModel.matrix` and :meth:`TfidfModel.pairs` the sparse fast paths, and
:func:`nearest` each query's K nearest choices through a sparse matrix product.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize as unit_rows

__all__ = ["TfidfModel", "fitted_model", "nearest"]

#: Similarities this close to 1 are 1: the same words in another order, or rounding.
_ONE = 1.0 - 1e-9
#: Products of distinct texts per pair up to which :meth:`TfidfModel.pairs` multiplies
#: the distinct texts' vectors all against all (a run's pairs repeat each record's text).
_GRID_SHARE = 32
#: The most products of one block of that multiplication (its dense block's memory).
_GRID_MOST = 4_000_000


class TfidfModel:
    """TF-IDF vectors of words and character n-grams, fitted on some texts.

    Parameters
    ----------
    texts : sequence of str
        The texts to fit on (the distinct cleaned values of both sides).

    Examples
    --------
    >>> m = TfidfModel(["apple iphone 12", "apple iphone 13", "samsung galaxy"])
    >>> round(m.pair("apple iphone 12", "apple iphone 12"), 3)
    1.0
    >>> m.pair("apple iphone 12", "samsung galaxy")
    0.0
    """

    def __init__(self, texts: Sequence[str]) -> None:
        texts = sorted(set(t for t in texts if t))
        self._parts = []
        for vectorizer in (
            TfidfVectorizer(analyzer="word", token_pattern=r"(?u)\b\w+\b", dtype=np.float64),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), dtype=np.float64),
        ):
            try:
                self._parts.append(vectorizer.fit(texts))
            except ValueError:  # no word or n-gram at all (empty or one-letter texts)
                continue
        self._index = {t: i for i, t in enumerate(texts)}
        self._matrix = self._transform(texts)

    def _transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        if not self._parts or not len(texts):
            return sp.csr_matrix((len(texts), 1))
        both = sp.hstack([v.transform(texts) for v in self._parts]).tocsr()
        return unit_rows(both, norm="l2", copy=False)

    def vectors(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Unit TF-IDF vectors of ``texts`` (rows), known ones looked up, others transformed.

        Each distinct text is looked up once (a scored run's pairs repeat each record's
        value many times)."""
        codes, distinct = pd.factorize(np.asarray(texts, dtype=object), use_na_sentinel=False)
        at = np.fromiter((self._index.get(t, -1) for t in distinct), np.int64, len(distinct))
        if (at >= 0).all():
            return self._matrix[at[codes]]
        return self._transform(list(distinct))[codes]

    def pair(self, a: str, b: str) -> float:
        """Cosine similarity of two texts in [0, 1]: the plain reference."""
        if a == b:
            return 1.0
        va, vb = self.vectors([a]), self.vectors([b])
        common = set(va.indices.tolist()) & set(vb.indices.tolist())
        da = dict(zip(va.indices.tolist(), va.data.tolist()))
        db = dict(zip(vb.indices.tolist(), vb.data.tolist()))
        value = float(sum(da[k] * db[k] for k in sorted(common)))
        return 1.0 if value >= _ONE else min(max(value, 0.0), 1.0)

    def matrix(self, queries: Sequence[str], choices: Sequence[str]) -> np.ndarray:
        """All-against-all similarities, shape (len(queries), len(choices))."""
        out = (self.vectors(queries) @ self.vectors(choices).T).toarray()
        return _settle(out, np.asarray(queries, object)[:, None] == np.asarray(choices, object))

    def pairs(
        self, queries: Sequence[str], choices: Sequence[str], *, grid: bool | None = None
    ) -> np.ndarray:
        """Element-wise similarities: ``queries[i]`` against ``choices[i]``.

        Where the pairs' distinct queries against their distinct choices are few
        (``grid`` None: at most :data:`_GRID_SHARE` products a pair), the distinct
        queries' vectors are multiplied with all distinct choices' in blocks of at most
        :data:`_GRID_MOST` products, each pair's value taken from its block; else each
        pair's vectors are multiplied (``grid`` forces either way; both give the same
        values)."""
        queries = np.asarray(queries, object)
        choices = np.asarray(choices, object)
        qa, qd = pd.factorize(queries, use_na_sentinel=False)
        ca, cd = pd.factorize(choices, use_na_sentinel=False)
        if grid is None:
            grid = len(qd) * len(cd) <= _GRID_SHARE * len(queries) + 64
        if grid:
            out = np.zeros(len(queries))
            right = self.vectors(list(cd)).T.tocsc()
            rows = max(1, _GRID_MOST // max(len(cd), 1))
            order = np.argsort(qa, kind="stable")
            bounds = np.searchsorted(qa[order], np.arange(0, len(qd) + rows, rows))
            for b, start in enumerate(range(0, len(qd), rows)):
                at = order[bounds[b] : bounds[b + 1]]
                block = (self.vectors(list(qd[start : start + rows])) @ right).toarray()
                out[at] = block[qa[at] - start, ca[at]]
        else:
            q, c = self.vectors(queries), self.vectors(choices)
            out = np.asarray(q.multiply(c).sum(axis=1)).ravel()
        return _settle(np.asarray(out, np.float64), queries == choices)


#: Fitted models kept for the same texts: a run fits one column's model for its proposal,
#: its blocking rule and its field, on the same values.
_KEPT_MODELS = 4
#: Models fitted on more distinct texts than this are not kept (their memory).
_KEPT_TEXTS = 200_000
_kept: OrderedDict[bytes, TfidfModel] = OrderedDict()
_kept_lock = threading.Lock()


def fitted_model(texts: Sequence[str]) -> TfidfModel:
    """A :class:`TfidfModel` of ``texts``: the one fitted before on the same distinct
    texts while it is among the last few kept, else a new one (fitting is deterministic,
    so either gives the same vectors).

    >>> fitted_model(["b a", "c"]) is fitted_model(["c", "b a", "c"])
    True
    """
    distinct = sorted(set(t for t in texts if t))
    key = hashlib.blake2b(
        "\x00".join(distinct).encode("utf-8", "surrogatepass"), digest_size=16
    ).digest()
    with _kept_lock:
        found = _kept.get(key)
        if found is not None:
            _kept.move_to_end(key)
            return found
    model = TfidfModel(distinct)
    if len(distinct) <= _KEPT_TEXTS:
        with _kept_lock:
            _kept[key] = model
            while len(_kept) > _KEPT_MODELS:
                _kept.popitem(last=False)
    return model


def _settle(values: np.ndarray, same: np.ndarray) -> np.ndarray:
    values = np.clip(values, 0.0, 1.0)
    values[(values >= _ONE) | same] = 1.0
    return values


def nearest(
    model: TfidfModel,
    queries: Sequence[str],
    choices: Sequence[str],
    k: int,
    *,
    block_elements: int = 4_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's ``k`` most similar choices (similarity above 0), as index pairs.

    Ties at the cut are broken by choice position, so the result does not depend
    on how the queries are cut into blocks. Pairs come sorted by query, then choice.
    """
    if not len(queries) or not len(choices):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    right = model.vectors(choices).T.tocsc()
    rows = max(1, block_elements // len(choices))
    qs, cs = [], []
    for start in range(0, len(queries), rows):
        block = (model.vectors(queries[start : start + rows]) @ right).toarray()
        take = min(k, block.shape[1])
        # Best first, then lower choice position: a stable sort of the negated row.
        order = np.argsort(-block, axis=1, kind="stable")[:, :take]
        sims = np.take_along_axis(block, order, axis=1)
        q = np.repeat(np.arange(start, start + block.shape[0]), take).reshape(-1, take)
        keep = sims > 0
        qs.append(q[keep])
        cs.append(order[keep])
    qi, ci = np.concatenate(qs), np.concatenate(cs)
    order = np.lexsort((ci, qi))
    return qi[order].astype(np.int64), ci[order].astype(np.int64)
