"""Learned Fellegi-Sunter weights: EM estimates, scores in [0, 1], saved with the spec."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.engine.candidates import generate_candidates, plan
from matching.engine.demo import generate_tables
from matching.engine.spec import Field, Spec, parse_block
from matching.engine.training import train
from matching.engine.weights import (
    TIE_SHARE,
    LearnedWeights,
    learn_weights,
    levels_for,
    levels_of,
    monotone_bits,
)

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
    job, _ = plan(left, right, spec(), keep=0.0, top_k=5, chunk_elements=2000)
    return train(job, random_pairs=20_000)


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


def test_the_prior_is_the_share_of_matches_among_all_pairs_with_rules_or_without(people, learned):
    """The EM sessions' shares are shares among pairs that agree on a field (0.3 to 0.99);
    the prior a probability is taken with is the share among all pairs."""
    left, right, links = people
    truth = len(links) / (len(left) * len(right))
    assert truth / 1.5 < learned.prior < truth * 1.5
    unblocked_spec = Spec(FIELDS, left_id="owner_id", right_id="car_id")
    job, _ = plan(left, right, unblocked_spec, keep=0.0, top_k=5, chunk_elements=2000)
    unblocked = train(job, random_pairs=20_000)
    assert truth / 1.5 < unblocked.prior < truth * 1.5


def test_the_prior_counts_the_matches_of_each_agreeing_session_over_its_agreement():
    from matching.engine.training import Agreeing, match_prior

    # Field a is the session's key; b tells matches (+19.9 bits) from the rest (-6.6).
    weights = LearnedWeights(
        ("a", "b"),
        m=((0.8, 0.1, 0.1), (0.98, 0.01, 0.01)),
        u=((0.1, 0.1, 0.8), (1e-6, 1e-6, 1 - 2e-6)),
        prior=0.3,
        bounds=((0.8,), (0.8,)),
    )
    b = np.r_[np.ones(30), np.zeros(70)]
    session = ([np.ones(100), b], [False, True])

    seen = Agreeing(field=0, pairs=1000, rows_share=0.5)  # of half the rows; 100 sampled
    present = np.array([0.5, 1.0])
    # 30% of the session are matches: 300 of its 1,000 pairs, the matches agreeing on a
    # (m exact 0.8, present on both sides in half the pairs): 750 among half the rows.
    got = match_prior(weights, [session], [seen], present, all_pairs=1e6)
    assert got == pytest.approx(1500 / 1e6, rel=0.02)
    assert match_prior(weights, [session], [seen], present, 1e6, most=100) == 100 / 1e6
    assert match_prior(weights, [], [], present, 1e6) is None


def test_learning_is_repeatable(people, learned):
    left, right, _ = people
    # However the run is cut (as a Dask run cuts it), the same weights are learned.
    job, _ = plan(left, right, spec(), keep=0.0, top_k=5, chunk_elements=50)
    assert train(job, random_pairs=20_000) == learned


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
    weights = LearnedWeights(
        learned.fields[:3],
        learned.m[:3],
        learned.u[:3],
        learned.prior,
        bounds=learned.bounds[:3],
        tf_cap=learned.tf_cap[:3],
    )
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


def test_learned_weights_score_without_blocking_as_with_a_rule_that_keeps_every_pair():
    tables = generate_tables(150, seed=5)
    left, right = tables.owners, tables.cars
    left = left.assign(everyone="x")
    right = right.assign(everyone="x")
    fields = (*FIELDS, Field("birth_date", scorer="date"))
    base = Spec(fields, left_id="owner_id", right_id="car_id")
    job, _ = plan(left, right, base, keep=0.0, top_k=None)
    learned = train(job, random_pairs=5000)
    full = generate_candidates(left, right, spec_with(base, learned), keep=0.3, top_k=3)
    all_pairs = Spec(fields, "owner_id", "car_id", block=(parse_block("exact:everyone"),))
    blocked = generate_candidates(left, right, spec_with(all_pairs, learned), keep=0.3, top_k=3)
    pd.testing.assert_frame_equal(full, blocked, rtol=0, atol=1e-12)
    assert len(full) > 100


def spec_with(spec: Spec, learned: LearnedWeights) -> Spec:
    return Spec(spec.fields, spec.left_id, spec.right_id, spec.block, learned)


def test_levels_are_set_per_scorer():
    assert levels_for("jaro_winkler") == (0.95, 0.88, 0.7)
    assert levels_for("exact") == ()
    assert levels_of(
        np.array([1.0, 0.96, 0.9, 0.75, 0.5]), levels_for("jaro_winkler")
    ).tolist() == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert levels_of(np.array([1.0, 0.8, 0.6, 0.0]), levels_for("date")).tolist() == [0, 1, 2, 3]


def test_weights_never_rise_as_similarity_falls():
    # Level 2 would weigh log2(0.13 / 0.02) = 2.70 bits, above level 1's log2(0.02 / 0.01) = 1:
    # the two are pooled into log2(0.15 / 0.03) = log2(5).
    bits = monotone_bits([0.8, 0.02, 0.13, 0.05], [0.01, 0.01, 0.02, 0.96])
    assert bits.tolist() == pytest.approx(
        [math.log2(80), math.log2(5), math.log2(5), math.log2(0.05 / 0.96)]
    )
    assert monotone_bits([0.5, 0.5], [0.5, 0.5]).tolist() == [0.0, 0.0]


def hand_weights(**kwargs) -> LearnedWeights:
    return LearnedWeights(
        fields=("surname",),
        m=((0.8, 0.1, 0.05, 0.05),),
        u=((0.01, 0.04, 0.15, 0.8),),
        prior=0.01,
        bounds=((0.9, 0.7),),
        **kwargs,
    )


def test_contribution_of_each_level_against_hand_computed_values():
    w = hand_weights()
    exact, close, similar, other = (math.log2(m / u) for m, u in zip(w.m[0], w.u[0]))
    got = w.contribution(0, np.array([1.0, 0.9, 0.95, 0.7, 0.2, 0.0, np.nan]))
    # Within a level, TIE_SHARE of the step to the closer level, by the raw similarity.
    assert got[0] == pytest.approx(exact)
    assert got[1] == pytest.approx(close)
    assert got[2] == pytest.approx(close + TIE_SHARE * 0.5 * (exact - close))
    assert got[3] == pytest.approx(similar)
    assert got[4] == pytest.approx(other + TIE_SHARE * (0.2 / 0.7) * (similar - other))
    assert got[5] == pytest.approx(other)
    assert np.isnan(got[6])


def test_term_frequency_adjustment_of_exact_agreement():
    w = hand_weights(tf_cap=(3.0,))
    exact, close = math.log2(0.8 / 0.01), math.log2(0.1 / 0.04)
    scores = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.9])
    # A value held by 0.5% of the right table is rarer than chance agreement (u = 1%): +1 bit.
    # One held by 4%: -2 bits. Very rare: at most the cap; very common: never below "close".
    share = np.array([0.005, 0.04, 1e-6, 0.9, np.nan, 1e-6])
    got = w.contribution(0, scores, share)
    assert got[0] == pytest.approx(exact + 1.0)
    assert got[1] == pytest.approx(exact - 2.0)
    assert got[2] == pytest.approx(exact + 3.0)
    assert got[3] == pytest.approx(close)
    assert got[4] == pytest.approx(exact)
    assert got[5] == pytest.approx(close)  # only exact agreement is adjusted
    low, high = w.span()
    assert high == pytest.approx(exact + 3.0) and low == pytest.approx(math.log2(0.05 / 0.8))


def test_ties_within_a_level_are_broken_by_the_raw_similarity():
    w = hand_weights()
    scores = w.score([np.array([0.91, 0.95, 0.99])])
    assert scores[0] < scores[1] < scores[2]


def test_learned_weights_of_earlier_versions_still_load():
    old = {
        "fields": ["a"],
        "m": [[0.9, 0.05, 0.03, 0.02]],
        "u": [[0.01, 0.02, 0.07, 0.9]],
        "prior": 0.001,
        "bounds": [0.88, 0.7],
    }
    w = LearnedWeights.from_dict(old)
    assert w.bounds == ((0.88, 0.7),)
    assert LearnedWeights.from_dict(w.to_dict()) == w


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


def test_labels_move_the_weights_only_as_far_as_held_out_labels_bear_out():
    from matching.engine.weights import fit_labels

    w = hand_weights()
    rng = np.random.default_rng(0)
    scores = rng.choice([1.0, 0.95, 0.8, 0.1], 200)
    # Labels drawn from the weights' own match probabilities agree with them: no move.
    own = w.probability(w.contribution(0, scores) + 6.0)
    agree = (rng.random(200) < own).astype(int)
    assert np.abs(fit_labels(w, [scores], agree).bits(0) - w.bits(0)).max() < 1.0
    # Labels that say the exact level is worth less than learned move it down.
    said = np.where(scores == 1.0, rng.random(200) < 0.3, scores >= 0.8).astype(int)
    moved = fit_labels(w, [scores], said)
    assert moved.bits(0)[0] < w.bits(0)[0] - 1.0
    assert (np.diff(moved.bits(0)) <= 1e-12).all()  # still monotone
    assert fit_labels(w, [scores[:5]], said[:5]) == w  # too few labels to test on


@pytest.mark.parametrize("probability", [0.01, 0.5, 0.9])
def test_the_score_at_a_match_probability_has_that_probability(learned, probability):
    score = learned.score_at_probability(probability)
    assert 0.0 <= score <= 1.0
    weight = learned.unscale(np.array([score]))
    assert learned.probability(weight)[0] == pytest.approx(probability, rel=1e-6)


def test_higher_probabilities_sit_at_higher_scores(learned):
    scores = [learned.score_at_probability(p) for p in (0.001, 0.01, 0.5, 0.99)]
    assert scores == sorted(scores) and scores[0] < scores[-1]


def test_the_data_panel_sets_keep_and_pre_select_from_learned_weights(people, learned):
    """Thresholds by match probability keep the true pairs and pre-select nearly all of
    them, rightly, and more of them than the fixed 0.8 (far more on harder tables)."""
    from matching.engine.training import KEEP_PROBABILITY, SELECT_PROBABILITY

    left, right, links = people
    keep = learned.score_at_probability(KEEP_PROBABILITY)
    select = learned.score_at_probability(SELECT_PROBABILITY)
    found = generate_candidates(left, right, spec(learned=learned), keep=keep, top_k=5)
    truth = set(zip(links["left_id"], links["right_id"]))

    def right_and_all(threshold):
        picked = found[found["score"] >= threshold]
        hits = sum(pair in truth for pair in zip(picked["left_id"], picked["right_id"]))
        return hits, len(picked)

    kept, _ = right_and_all(keep)
    hits, picked = right_and_all(select)
    assert kept > 0.95 * len(links)
    assert hits > 0.9 * len(links) and hits > 0.9 * picked
    assert right_and_all(0.8)[0] < hits


def _venues(seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """600 venues in 25 cities (a phone starts with its city's code) of 30 kinds, 100
    of them in both tables: 60% with the same name, 30% a typo, 10% another name; 90%
    with the same phone."""
    rng = np.random.default_rng(seed)
    words = [f"{a}{b}" for a in "bcdfgklmnprstvz" for b in ("ano", "eli", "oru", "ast", "iny")]
    rows = []
    for _ in range(600):
        city = int(rng.integers(25))
        number = f"{300 + city}-{rng.integers(200, 999)}-{rng.integers(1000, 9999)}"
        name = f"{rng.choice(words)} {rng.choice(words)}"
        kind = f"kind{rng.integers(30)}"
        rows.append({"name": name, "city": f"city{city}", "phone": number, "type": kind})
    table = pd.DataFrame(rows)
    table["id"] = [f"v{i}" for i in range(600)]
    left, right = table.iloc[:300].copy(), table.iloc[200:].reset_index(drop=True)
    draw = rng.random(len(right))
    right.loc[draw < 0.3, "name"] = right.loc[draw < 0.3, "name"].str[:-2] + "xy"
    other = draw > 0.9
    right.loc[other, "name"] = [f"{rng.choice(words)} {rng.choice(words)}" for _ in other[other]]
    moved = rng.random(len(right)) < 0.1
    right.loc[moved, "phone"] = right.loc[moved, "phone"].str[:-4] + "0000"
    return left, right


def test_em_skips_sessions_too_crowded_to_hold_the_matches(monkeypatch):
    """Pairs sharing a city (or a kind) hold too few matches for EM: on them it takes the
    shared area code for the matches. Left out, m is near the tables' truth."""
    from matching.engine import training

    left, right = _venues()
    scorers = (("name", "token_sort"), ("city", "jaro_winkler"), ("phone", "levenshtein"))
    fields = tuple(Field(c, scorer=s) for c, s in (*scorers, ("type", "token_sort")))
    job, _ = plan(left, right, Spec(fields, left_id="id", right_id="id"), keep=0.0, top_k=5)
    learned = train(job, random_pairs=20_000)
    # Truth among the 100 matches: names 60% the same, 10% another (level "other");
    # phones 90% the same.
    assert learned.m[0][0] == pytest.approx(0.6, abs=0.06)
    assert learned.m[0][-1] == pytest.approx(0.1, abs=0.05)
    assert learned.m[2][0] == pytest.approx(0.9, abs=0.05)
    monkeypatch.setattr(training, "SESSION_SHARE", 0.0)  # every session, as before
    crowded = train(job, random_pairs=20_000)
    assert crowded.m[0][-1] > 0.3 and crowded.m[2][0] < 0.7


_SLOPED = LearnedWeights(("a",), ((0.9, 0.05, 0.05),), ((0.01, 0.09, 0.9),), 0.1, ((0.8,),))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=30),
    st.floats(0, 8),
)
def test_a_slope_adds_its_bits_per_unit_of_similarity_and_keeps_weights_monotone(scores, slope):
    import dataclasses

    s = np.array(scores)
    plain = _SLOPED.contribution(0, s)
    sloped = dataclasses.replace(_SLOPED, slope=(slope,))
    got = sloped.contribution(0, s)
    assert np.array_equal(np.isnan(got), np.isnan(s))
    ok = ~np.isnan(s)
    assert np.allclose(got[ok] - plain[ok], slope * s[ok])
    order = np.argsort(s[ok], kind="stable")
    assert np.all(np.diff(got[ok][order]) >= -1e-9)  # never falls as similarity rises
    low, high = sloped.span()
    assert np.all((got[ok] >= low - 1e-9) & (got[ok] <= high + 1e-9))


def test_slopes_are_saved_never_below_zero_and_absent_from_older_weights():
    import dataclasses

    sloped = dataclasses.replace(_SLOPED, slope=(1.5,))
    assert LearnedWeights.from_dict(sloped.to_dict()) == sloped
    assert "slope" not in _SLOPED.to_dict()
    assert LearnedWeights.from_dict(_SLOPED.to_dict()).slope == ()
    assert dataclasses.replace(_SLOPED, slope=(-2.0,)).slope == (0.0,)
    with pytest.raises(ValueError, match="expected 1 slopes"):
        dataclasses.replace(_SLOPED, slope=(1.0, 2.0))
    assert "+1.5 per unit of similarity" in sloped.report()


def test_labels_teach_a_slope_where_the_levels_cannot_tell_matches_apart():
    """All pairs fall in one level (0.8 to 1, exclusive); the matches are the closer
    ones. The levels alone cannot rank them; the slope learned from labels does."""
    from matching.engine.weights import fit_labels

    rng = np.random.default_rng(4)
    flat = LearnedWeights(("a",), ((0.4, 0.3, 0.3),), ((0.4, 0.3, 0.3),), 0.5, ((0.8,),))
    s = rng.uniform(0.8, 0.999, 400)
    label = (s + rng.normal(0, 0.02, s.size) > 0.9).astype(float)
    fitted = fit_labels(flat, [s[:200]], label[:200])
    assert fitted.slope[0] > 5
    held = fitted.contribution(0, s[200:])
    matches, others = held[label[200:] == 1], held[label[200:] == 0]
    auc = np.mean(matches[:, None] > others[None, :])
    assert auc > 0.9
    assert flat.slope == () and np.ptp(flat.contribution(0, s)) < 0.1
