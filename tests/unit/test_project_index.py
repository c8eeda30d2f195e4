"""A project's columnar lookups behave as the list and dicts they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import matching.engine.project as project_module
from matching.engine.project import IdIndex, IdList, Slices, index_project
from matching.engine.spec import Field, Spec

IDS = ["b", "a", "Zoë", "a1", "", "10", "1", "日本", "x" * 40]


def _index(ids) -> IdIndex:
    return IdIndex(IdList(pa.array(ids, pa.large_string())))


@pytest.mark.parametrize("hashed", [False, True])
def test_an_id_index_finds_every_id_and_nothing_else(monkeypatch, hashed):
    if hashed:  # ids too long for fixed-width keys are looked up by their digests
        monkeypatch.setattr(project_module, "_MAX_KEY_BYTES", 1)
    index = _index(IDS)
    assert dict(index.items()) == {k: i for i, k in enumerate(IDS)}
    assert [index[k] for k in IDS] == list(range(len(IDS)))
    for absent in ("c", "a ", "x" * 41, "x" * 39, "Zoe", "\x00", 7, None):
        assert index.get(absent) is None and absent not in index
    with pytest.raises(KeyError):
        index["c"]
    assert index.positions(["a", "c", "日本", "x" * 41]).tolist() == [1, -1, 7, -1]
    assert list(index) == IDS and len(index) == len(IDS) and list(index.values()) == list(range(9))


def test_ids_with_a_nul_character_are_told_apart():
    index = _index(["a", "a\x00", "b"])
    assert [index.get(k) for k in ("a", "a\x00", "b", "a\x00\x00")] == [0, 1, 2, None]


def test_an_id_list_is_a_list_of_text():
    ids = IdList.of([3, "a", 1.5])
    assert list(ids) == ["3", "a", "1.5"] and ids[1] == "a" and ids[np.int64(2)] == "1.5"
    assert ids[:2] == ["3", "a"] and ids == ["3", "a", "1.5"] and len(ids) == 3
    assert np.asarray(ids, dtype=object).tolist() == ["3", "a", "1.5"]


def test_slices_match_the_runs_of_each_left_id():
    left = _index(["p", "q", "r", "s"])
    slices = Slices.of(left, pa.array(["q", "q", "p", "s", "s", "s"]))
    assert dict(slices.items()) == {"q": (0, 2), "p": (2, 3), "s": (3, 6)}
    assert slices == {"q": (0, 2), "p": (2, 3), "s": (3, 6)}
    assert slices.get("r") is None and "r" not in slices and len(slices) == 3


def test_index_project_refuses_repeated_and_empty_ids():
    spec = Spec((Field("name"),), left_id="id", right_id="id")
    right = pd.DataFrame({"id": ["r1"], "name": ["x"]})
    cands = pd.DataFrame({"left_id": ["a"], "right_id": ["r1"], "score": [1.0]})
    repeated = pd.DataFrame({"id": ["a", "b", "a", "b"], "name": ["x"] * 4})
    with pytest.raises(ValueError, match="repeats 'a'"):
        index_project(repeated, right, spec, cands, name="p", keep=0.5, select=0.8, top_k=1)
    empty = pd.DataFrame({"id": ["a", " "], "name": ["x", "y"]})
    with pytest.raises(ValueError, match="empty values"):
        index_project(empty, right, spec, cands, name="p", keep=0.5, select=0.8, top_k=1)


def test_a_large_index_keeps_a_few_bytes_per_id():
    ids = np.char.add("O", np.arange(1_000_000).astype(str)).astype(object)
    index = _index(ids)
    assert index.nbytes < 20 * len(ids)
    assert index.get("O765432") == 765432 and index.get("O1000000") is None
