"""Learned Fellegi-Sunter weights: EM estimates, scores in [0, 1], saved with the spec."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.engine.candidates import generate_candidates, learn, plan
from matching.engine.demo import generate_tables
from matching.engine.spec import Field, Spec, parse_block
from matching.engine.weights import LearnedWeights, learn_weights, levels_of

ROOT = Path(__file__).resolve().parents[2]
FIELDS = tuple(Field(c) for c in ("given_name", "surname", "street", "city", "postcode"))
RULES = ("exact:postcode", "exact:surname+birth_date")


@pytest.fixture(scope="module")
def people():
    tables = generate_tables(1500, seed=21)
    return tables.owners, tables.cars, tables.links


def spec(**kwargs) -> Spec:
    rules = tuple(parse_block(r) for r in RULES)
    return Spec(FIELDS, left_id="owner_id", right_id="car_id", block=rules, **kwargs)


@pytest.fixture(scope="module")
def learned(people):
    left, right, _ = people
    job, ranges = plan(left, right, spec(), keep=0.0, top_k=5, chunk_elements=2000)
    return learn(job, ranges, random_pairs=20_000)


def test_levels_are_exact_close_similar_other_and_missing():
    scores = np.array([1.0, 0.95, 0.88, 0.8, 0.7, 0.69, 0.0, np.nan])
    assert levels_of(scores).tolist() == [0, 1, 1, 2, 2, 3, 3, -1]


def test_learned_weights_reward_agreement_and_penalise_disagreement(learned):
    table = learned.table
    assert learned.fields == tuple(f.name for f in FIELDS)
    assert (table[:, 0] > 2).all()
    assert (table[:, -1] < -2).all()
    assert 0.0 < learned.prior < 1.0
    for row in (*learned.m, *learned.u):
        assert sum(row) == pytest.approx(1.0)


def test_learning_is_repeatable(people, learned):
    left, right, _ = people
    job, ranges = plan(left, right, spec(), keep=0.0, top_k=5, chunk_elements=2000)
    assert learn(job, ranges, random_pairs=20_000) == learned


def test_learned_scores_stay_in_unit_range_and_find_the_true_pairs(people, learned):
    left, right, links = people
    mean = generate_candidates(left, right, spec(), keep=0.0, top_k=1)
    fs = generate_candidates(left, right, spec(learned=learned), keep=0.0, top_k=1)
    assert fs["score"].between(0.0, 1.0).all()
    truth = dict(zip(links["left_id"], links["right_id"]))

    def hits(frame):
        return int((frame["right_id"] == frame["left_id"].map(truth)).sum())

    assert hits(fs) >= hits(mean) - 2
    assert hits(fs) > 0.95 * len(links)


@settings(max_examples=100, deadline=None)
@given(
    fields=st.lists(
        st.lists(st.one_of(st.none(), st.floats(0.0, 1.0)), min_size=3, max_size=3),
        min_size=1,
        max_size=20,
    )
)
def test_any_field_scores_give_a_score_in_unit_range_or_nan(learned, fields):
    weights = LearnedWeights(learned.fields[:3], learned.m[:3], learned.u[:3], learned.prior)
    columns = [np.array([np.nan if v is None else v for v in col]) for col in zip(*fields)]
    score = weights.score(columns)
    present = ~np.all([np.isnan(c) for c in columns], axis=0)
    assert np.isnan(score[~present]).all()
    assert ((score[present] >= 0) & (score[present] <= 1)).all()


def test_learned_weights_are_saved_with_the_spec(learned):
    with_weights = spec(learned=learned)
    again = Spec.from_dict(with_weights.to_dict())
    assert again == with_weights
    assert again.digest() != spec().digest()
    assert "learned" not in spec().to_dict()


def test_learned_weights_must_match_the_fields(learned):
    with pytest.raises(ValueError, match="learned weights are for the fields"):
        Spec((Field("surname"),), learned=learned)


def test_learned_weights_need_blocking(people, learned):
    left, right, _ = people
    with pytest.raises(ValueError, match="need blocking"):
        generate_candidates(left, right, Spec(FIELDS, learned=learned))


def test_em_separates_a_clear_mixture():
    rng = np.random.default_rng(1)
    match = rng.random(3000) < 0.2
    cand = [
        np.where(match & (rng.random(3000) < 0.9), 1.0, rng.random(3000) * 0.6) for _ in range(3)
    ]
    rand = [rng.random(5000) * 0.6 for _ in range(3)]
    w = learn_weights(["a", "b", "c"], [(cand, [True, True, True])], rand)
    assert w.prior == pytest.approx(0.2, abs=0.03)
    assert w.m[0][0] == pytest.approx(0.9, abs=0.05)


def test_command_line_learns_and_reports_the_weights(people, tmp_path):
    left, right, _ = people
    paths = tmp_path / "owners.parquet", tmp_path / "cars.parquet"
    left.to_parquet(paths[0], index=False)
    right.to_parquet(paths[1], index=False)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "matching",
            "--left",
            str(paths[0]),
            "--right",
            str(paths[1]),
            "--left-id",
            "owner_id",
            "--right-id",
            "car_id",
            *(a for f in FIELDS for a in ("--field", f.name)),
            *(a for r in RULES for a in ("--block", r)),
            "--weights",
            "learn",
            "--keep",
            "0",
            "--top-k",
            "2",
            "--out",
            str(tmp_path / "p.parquet"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "learned weights" in done.stderr
    assert pd.read_parquet(tmp_path / "p.parquet")["score"].between(0, 1).all()
