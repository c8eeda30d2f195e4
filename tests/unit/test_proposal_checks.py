"""The proposal checks itself: values cleaned by kind, dates from their parts, identifiers
as fields, TF-IDF for long text; --labels and --suggest-labels round trip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from matching.engine.candidates import generate_candidates
from matching.engine.propose import propose
from matching.engine.spec import Normalization

ROOT = Path(__file__).resolve().parents[2]
WORDS = "alpha beta gamma delta epsilon zeta theta iota kappa lambda sigma omega".split()


def people(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    given = rng.choice(["ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal"], n)
    surname = [f"name{i}" for i in rng.permutation(n)]
    year = rng.integers(1930, 2000, n)
    month = rng.integers(1, 13, n)
    day = rng.integers(1, 29, n)
    ssn = rng.permutation(10**6)[:n] + 10**6
    left = pd.DataFrame(
        {
            "rec_id": [f"l{i}" for i in range(n)],
            "given_name": given,
            "surname": surname,
            "dob_year": year,
            "dob_month": month,
            "dob_day": day,
            "soc_sec_id": ssn,
        }
    )
    right = pd.DataFrame(
        {
            "rec_id": [f"r{i}" for i in range(n)],
            "given_name": given,
            "surname": surname,
            "dob_year": [f"{y}.0" for y in year],  # a year stored as float text
            "dob_month": month,
            "dob_day": day,
            "soc_sec_id": ssn,
        }
    )
    return left, right


def test_date_parts_become_one_date_field_and_identifiers_are_fields():
    left, right = people(60, seed=1)
    proposal = propose(left, right, left_id="rec_id", right_id="rec_id", derive=True)
    names = [f.name for f in proposal.spec.fields]
    assert "dob" in names and not {"dob_year", "dob_month", "dob_day"} & set(names)
    assert [f.scorer for f in proposal.spec.fields if f.name == "dob"] == ["date"]
    assert "soc_sec_id" in names
    ssn = next(f for f in proposal.spec.fields if f.name == "soc_sec_id")
    assert ssn.normalization == Normalization(numbers=True)
    lf, rf = proposal.add_columns(left, right)
    assert lf["dob"].iloc[0] == rf["dob"].iloc[0]
    found = generate_candidates(lf, rf, proposal.spec, keep=0.0, top_k=1)
    assert (found["left_id"].str[1:] == found["right_id"].str[1:]).all()


def test_a_year_as_float_text_equals_the_year():
    left = pd.DataFrame({"id": ["a", "b"], "year": ["1999", "2001"], "title": ["x y", "z w"]})
    right = pd.DataFrame({"id": ["c", "d"], "year": ["1999.0", "2001.0"], "title": ["x y", "z w"]})
    proposal = propose(left, right)
    year = next(f for f in proposal.spec.fields if f.name == "year")
    found = generate_candidates(left, right, proposal.spec, keep=0.0, top_k=None)
    assert (found.loc[found["left_id"] == "a"].set_index("right_id")["score_year"]["c"]) == 1.0
    assert year.normalization.numbers


def test_long_text_gets_tfidf_and_a_nearest_neighbour_rule():
    rng = np.random.default_rng(3)
    n = 700
    titles = [" ".join(rng.choice(WORDS, 6)) + f" part {i}" for i in range(n)]
    venue = rng.choice(["sigmod", "vldb", "icde"], n)
    left = pd.DataFrame({"id": range(n), "title": titles, "venue": venue})
    right = pd.DataFrame(
        {"id": range(n), "title": [t.upper() + " extra" for t in titles], "venue": venue}
    )
    proposal = propose(left, right)
    title = next(f for f in proposal.spec.fields if f.name == "title")
    assert title.scorer == "tfidf"
    assert any(r.kind == "tfidf" for r in proposal.spec.block), proposal.report()


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "matching", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_labels_and_suggested_labels_round_trip(tmp_path):
    left, right = people(300, seed=2)
    right = right.assign(given_name=right["given_name"].where(np.arange(300) % 7 != 0, "zed"))
    lp, rp = tmp_path / "l.csv", tmp_path / "r.csv"
    left.to_csv(lp, index=False)
    right.to_csv(rp, index=False)
    out, todo = tmp_path / "out.csv", tmp_path / "todo.csv"
    base = ["--left", str(lp), "--right", str(rp), "--left-id", "rec_id", "--right-id", "rec_id"]
    done = run(*base, "--out", str(out), "--suggest-labels", "20", "--suggest-file", str(todo))
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(out)
    assert any(c.startswith("weight_") for c in frame.columns)
    asked = pd.read_csv(todo, dtype=str, keep_default_na=False)
    assert list(asked.columns) == ["left_id", "right_id", "label"]
    assert len(asked) == 20 and (asked["label"] == "").all()
    assert not asked.duplicated(["left_id", "right_id"]).any()
    asked["label"] = (asked["left_id"].str[1:] == asked["right_id"].str[1:]).astype(int)
    asked.to_csv(todo, index=False)
    again = tmp_path / "again.csv"
    more = tmp_path / "more.csv"
    done = run(
        *base,
        "--out",
        str(again),
        "--labels",
        str(todo),
        "--suggest-labels",
        "10",
        "--suggest-file",
        str(more),
    )
    assert done.returncode == 0, done.stderr
    assert "learned from 20 labelled pairs" in done.stderr
    following = pd.read_csv(more, dtype=str)
    labelled = set(zip(asked["left_id"], asked["right_id"]))
    assert not labelled & set(zip(following["left_id"], following["right_id"]))
    bad = tmp_path / "bad.csv"
    bad.write_text("left_id,right_id,label\nl1,r1,maybe\n")
    done = run(*base, "--out", str(again), "--labels", str(bad))
    assert done.returncode == 2 and "a label is 1 (match) or 0 (non-match)" in done.stderr


def test_weight_warnings_name_a_field_that_never_agrees_and_a_dominant_family():
    from matching.engine.training import weight_warnings
    from matching.engine.weights import LearnedWeights

    strong = (0.9, 0.05, 0.05)
    never = (0.005, 0.005, 0.99)
    weights = LearnedWeights(
        fields=("dob_year", "dob_month", "dob_day", "name", "code"),
        m=(strong, strong, strong, strong, never),
        u=((0.01, 0.01, 0.98),) * 5,
        prior=0.01,
        bounds=((0.9,),) * 5,
    )
    found = weight_warnings(weights)
    assert any(w.startswith("code never agrees among likely matches") for w in found)
    assert any("dob_year, dob_month, dob_day hold" in w for w in found)
    fine = LearnedWeights(
        ("a", "b"), (strong, strong), ((0.01, 0.01, 0.98),) * 2, 0.01, ((0.9,),) * 2
    )
    assert weight_warnings(fine) == []
    # A title and its codes are two fields on purpose: no advice to combine them.
    titled = LearnedWeights(
        ("name", "name_codes", "price"),
        (strong,) * 3,
        ((0.01, 0.01, 0.98), (0.01, 0.01, 0.98), (0.3, 0.3, 0.4)),
        0.01,
        ((0.9,),) * 3,
    )
    assert not any("hold" in w for w in weight_warnings(titled))


def test_suggested_pairs_sit_where_the_threshold_is_expected_spread_over_records():
    from matching.engine.training import suggest_labels
    from matching.engine.weights import LearnedWeights

    # A prior of even odds: a pair's weight is its log2 odds of a match.
    weights = LearnedWeights(("a",), ((0.9, 0.05, 0.05),), ((0.01, 0.09, 0.9),), 0.5, ((0.8,),))
    # Bits: exact +6.5, close -0.7, other -4.1. The weights expect, per left record,
    # its likeliest partner's probability: 0.38 (record 1), 0.99 (2) and
    # 0.055 for each of 3 to 8: 1.70 matches. By weight d is first, then a, b, c, then
    # e to j; a (second, its middle at 1.5) is nearest 1.70, then b, d, c, e. At most
    # one pair per pattern of levels and per record comes first: a, then d (b repeats
    # a's record), then e.
    candidates = pd.DataFrame(
        {
            "left_id": ["1", "1", "2", "2", "3", "4", "5", "6", "7", "8"],
            "right_id": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
            "score_a": [0.85, 0.85, 0.85, 1.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
        }
    )
    asked = suggest_labels(candidates, weights, 3)
    assert list(asked.columns) == ["left_id", "right_id", "label"]
    assert list(zip(asked["left_id"], asked["right_id"])) == [("1", "a"), ("2", "d"), ("3", "e")]
    assert (asked["label"] == "").all()
    done = asked.iloc[:1].assign(label="0")
    again = suggest_labels(candidates, weights, 3, exclude=done)
    assert ("1", "a") not in set(zip(again["left_id"], again["right_id"]))


def test_the_pairs_asked_about_are_matches_and_non_matches_alike():
    """Most candidates a run keeps are non-matches alike in some field, at even odds or
    near it by EM weights; asked by closeness to even odds, nearly all are non-matches.
    Asked about where the best threshold is expected, both kinds come."""
    from matching.engine.training import suggest_labels
    from matching.engine.weights import LearnedWeights

    rng = np.random.default_rng(3)
    records = 200
    match = np.tile(np.r_[True, np.zeros(9, bool)], records)
    # Matches at +10 bits or so, non-matches spread from -10 to +4 (alike in a field).
    bits = np.where(match, rng.normal(10, 3, match.size), rng.uniform(-10, 4, match.size))
    weights = LearnedWeights(("a",), ((0.4, 0.3, 0.3),), ((0.4, 0.3, 0.3),), 0.5, ((0.8,),))
    candidates = pd.DataFrame(
        {
            "left_id": np.repeat(np.arange(records), 10).astype(str),
            "right_id": np.arange(match.size).astype(str),
            "score_a": 0.5,
            "weight_a": bits,
        }
    )
    asked = suggest_labels(candidates, weights, 50)
    got = match[asked["right_id"].astype(int).to_numpy()]
    assert 10 <= got.sum() <= 40
    # A fifth of them spread over the whole ranking: the surest and the least sure too.
    rank = np.argsort(np.argsort(-bits, kind="stable"), kind="stable")
    asked_rank = rank[asked["right_id"].astype(int).to_numpy()]
    assert asked_rank.min() < 0.05 * match.size and asked_rank.max() > 0.95 * match.size
    assert len(set(zip(asked["left_id"], asked["right_id"]))) == 50
    near_even = np.argsort(np.abs(bits - np.log2(match.mean() / (1 - match.mean()))))[:50]
    assert match[near_even].sum() < 5  # what asking by closeness to even odds gives
