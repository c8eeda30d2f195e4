"""A pair's standing among its record's candidates, learned from labels: the fast group
maximum against the plain reference, the fit, the scores it gives and the command line."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.cli import main
from matching.engine.record_math import exclusive_bits_plain, standing_bits_plain
from matching.engine.spec import read_setup
from matching.engine.weights import LearnedWeights, fit_standing


def _weights(standing: float = 0.0) -> LearnedWeights:
    return LearnedWeights(
        ("a",), m=((0.9, 0.1),), u=((0.01, 0.99),), prior=0.01, bounds=((),), standing=standing
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.floats(-40, 40, allow_nan=False), st.just(math.nan)),
            st.integers(0, 5),
        ),
        max_size=40,
    ),
    st.floats(0, 3),
)
def test_standing_bits_equal_the_plain_reference(rows, standing):
    weight = np.array([w for w, _ in rows], np.float64)
    groups = np.array([g for _, g in rows], np.int64)
    fast = _weights(standing).standing_bits(weight, groups)
    plain = standing_bits_plain(standing, weight.tolist(), groups.tolist())
    assert fast.tolist() == pytest.approx(plain)
    assert (fast <= 0).all()


def test_with_standing_keeps_each_records_best_and_its_order_and_lowers_the_rest():
    w = _weights(0.5)
    weight = np.array([6.0, 2.0, -1.0, 3.0, 3.0])
    groups = np.array([0, 0, 0, 1, 1])
    score = w.rescale(weight, np.ones(5, bool))
    stood = w.with_standing(score, groups)
    # Best of each record unchanged; the others lose half of their gap to it.
    assert w.unscale(stood).tolist() == pytest.approx([6.0, 0.0, -4.5, 3.0, 3.0])
    assert (np.diff(stood[:3]) < 0).all()
    # The span holds every weight with its standing: scores stay in [0, 1].
    low, _ = w.span()
    assert low <= -4.5 and w.rescale(np.array([low]), np.array([True]))[0] == 0.0
    assert (_weights(0.0).with_standing(score, groups) == score).all()


def test_weights_with_a_standing_survive_a_round_trip_and_older_ones_read_as_none():
    w = _weights(0.75)
    assert LearnedWeights.from_dict(w.to_dict()) == w
    old = _weights(0.0).to_dict()
    assert "standing" not in old and LearnedWeights.from_dict(old).standing == 0.0
    assert _weights(-1.0).standing == 0.0  # never rewards a pair for being behind
    for forged in ("nan", "inf"):
        with pytest.raises(ValueError, match="standing must be a number"):
            LearnedWeights.from_dict({**w.to_dict(), "standing": forged})
    assert "below its left record's best" in w.report()


def _ranked(seed: int, records: int = 300):
    """Per record four candidates with weights; the record's true partner, where it has
    one, is its best, and a runner-up of one record often outweighs another's best."""
    rng = np.random.default_rng(seed)
    weight, groups, label = [], [], []
    for r in range(records):
        level = rng.normal(0, 4)
        w = np.sort(level + rng.normal(0, 2, 4))[::-1]
        has = rng.random() < 0.6
        weight += w.tolist()
        groups += [r] * 4
        label += [int(has), 0, 0, 0]
    return np.array(weight), np.array(groups), np.array(label)


def test_labels_that_favour_each_records_best_learn_a_standing():
    weight, groups, label = _ranked(1)
    best = pd.Series(weight).groupby(groups).transform("max").to_numpy()
    fitted = fit_standing(_weights(), weight, best, label)
    assert fitted.standing > 0.5
    # Ranked with it, the true pairs come before the runners-up far more often.
    bits = weight + fitted.standing_bits(weight, groups)
    order = np.argsort(-bits, kind="stable")
    plain = np.argsort(-weight, kind="stable")
    assert label[order][: label.sum()].sum() > label[plain][: label.sum()].sum()


def test_labels_blind_to_a_records_best_leave_the_standing_at_nothing():
    rng = np.random.default_rng(2)
    weight = rng.normal(0, 3, 1000)
    groups = np.repeat(np.arange(250), 4)
    label = (rng.random(1000) < 1 / (1 + np.exp2(-weight))).astype(int)
    best = pd.Series(weight).groupby(groups).transform("max").to_numpy()
    assert fit_standing(_weights(), weight, best, label).standing < 0.2
    assert fit_standing(_weights(), weight[:6], best[:6], label[:6]).standing == 0.0


def _linkage() -> tuple[pd.DataFrame, pd.DataFrame, set]:
    """Left records each with one true partner on the right among several look-alikes:
    names that differ by a letter or two, so that the best of one record and the
    runner-up of another score alike."""
    rng = np.random.default_rng(5)
    letters = list("abcdefghiklmnoprstuvw")
    left, right, truth = [], [], set()
    for i in range(120):
        base = "".join(rng.choice(letters, 7))
        city = f"c{i % 40}"
        left.append((f"L{i}", base, city))
        for k in range(3):
            name = list(base)
            for _ in range(k + int(rng.integers(0, 2))):
                name[int(rng.integers(0, 7))] = str(rng.choice(letters))
            rid = f"R{i}_{k}"
            right.append((rid, "".join(name), city))
            if k == 0:
                truth.add((f"L{i}", rid))
    cols = ["id", "name", "city"]
    return pd.DataFrame(left, columns=cols), pd.DataFrame(right, columns=cols), truth


def test_labels_on_the_command_line_learn_a_standing_the_output_and_report_show(tmp_path, capsys):
    left, right, truth = _linkage()
    left.to_csv(tmp_path / "l.csv", index=False)
    right.to_csv(tmp_path / "r.csv", index=False)
    labels = [(a, b, int((a, b) in truth)) for a, b in sorted(truth)[:60]]
    labels += [(f"L{i}", f"R{i}_{k}", 0) for i in range(60) for k in (1, 2)]
    pd.DataFrame(labels, columns=["left_id", "right_id", "label"]).to_csv(
        tmp_path / "labels.csv", index=False
    )
    base = ["--left", str(tmp_path / "l.csv"), "--right", str(tmp_path / "r.csv")]
    base += ["--left-id", "id", "--right-id", "id", "--field", "name:levenshtein"]
    base += ["--field", "city:exact", "--block", "exact:city", "--keep", "0"]
    assert main([*base, "--weights", "learn", "--out", str(tmp_path / "em.csv")]) == 0
    assert "a pair loses" not in capsys.readouterr().err  # no labels, no standing
    labelled = ["--labels", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "lab.csv")]
    assert main([*base, *labelled, "--save-spec", str(tmp_path / "s.toml")]) == 0
    err = capsys.readouterr().err
    assert "a pair loses" in err and "below its left record's best" in err
    lab = pd.read_csv(tmp_path / "lab.csv", dtype=str).astype({"score": float})
    saved = read_setup(tmp_path / "s.toml").spec.learned
    assert saved.standing > 0
    # Each pair's score is its fields' bits less its standing behind its record's best.
    bits = lab[[c for c in lab.columns if c.startswith("weight_")]].astype(float).sum(axis=1)
    expected = bits + saved.standing * (bits - bits.groupby(lab["left_id"]).transform("max"))
    assert saved.unscale(lab["score"].to_numpy()) == pytest.approx(expected.to_numpy(), abs=1e-6)
    # Ranked by it, the true partners come first more often than by the bits alone.
    hit = np.array([(a, b) in truth for a, b in zip(lab["left_id"], lab["right_id"])])
    first = lambda by: hit[np.argsort(-by, kind="stable")][: len(truth)].sum()  # noqa: E731
    assert first(lab["score"].to_numpy()) > first(bits.to_numpy())


@pytest.mark.parametrize("rules", [("exact:city",), ()])
def test_record_parts_are_each_records_best_candidate_as_the_run_scores_it(rules):
    from matching.engine.candidates import generate_candidates, plan
    from matching.engine.spec import Field, Spec, parse_block
    from matching.engine.training import record_parts, train

    left, right, _ = _linkage()
    spec = Spec(
        (Field("name", scorer="levenshtein"), Field("city", scorer="exact")),
        "id",
        "id",
        block=tuple(parse_block(r) for r in rules),
    )
    job, _ = plan(left, right, spec, keep=0.0, top_k=None)
    weights = train(job)
    li, ri = np.array([0, 5, 17, 5, 119]), np.array([0, 16, 51, 15, 357])  # same cities
    weight, best, shared = record_parts(job, weights, li, ri)
    run = generate_candidates(
        left, right, Spec(spec.fields, "id", "id", spec.block, weights), keep=0.0, top_k=None
    )
    bits = weights.unscale(run["score"].to_numpy())
    by_pair = dict(zip(zip(run["left_id"], run["right_id"]), bits))
    ids = left["id"].to_numpy(), right["id"].to_numpy()
    assert weight.tolist() == pytest.approx([by_pair[ids[0][a], ids[1][b]] for a, b in zip(li, ri)])
    tops = pd.Series(bits).groupby(run["left_id"].to_numpy()).max()
    assert best.tolist() == pytest.approx([tops[ids[0][a]] for a in li], abs=1e-9)
    # Sharing the record's one match: the plain rule over the run's pairs of the record.
    shared_weights = dataclasses.replace(weights, exclusive=True)
    _, _, shared = record_parts(job, shared_weights, li, ri)
    for k, (a, b) in enumerate(zip(li, ri)):
        mine = run["left_id"].to_numpy() == ids[0][a]
        plain = exclusive_bits_plain(weights.prior_bits, bits[mine].tolist(), [0] * mine.sum())
        at = int(np.flatnonzero(run["right_id"].to_numpy()[mine] == ids[1][b])[0])
        assert shared[k] == pytest.approx(plain[at], abs=1e-9)
    if rules:  # a pair the rules do not give counts against its record's pairs
        weight, best, shared = record_parts(job, shared_weights, np.array([0]), np.array([4]))
        assert weight[0] < best[0] == pytest.approx(tops[ids[0][0]])
        assert shared[0] < -1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.floats(-60, 60, allow_nan=False), st.just(math.nan)),
            st.integers(0, 4),
        ),
        max_size=30,
    ),
    st.floats(-20, 5),
)
def test_exclusive_bits_equal_the_plain_reference(rows, prior_bits):
    weight = np.array([w for w, _ in rows], np.float64)
    groups = np.array([g for _, g in rows], np.int64)
    prior = 1.0 / (1.0 + 2.0 ** (-prior_bits))
    w = dataclasses.replace(_weights(), prior=prior, exclusive=True)
    fast = w.exclusive_bits(weight, groups)
    plain = exclusive_bits_plain(w.prior_bits, weight.tolist(), groups.tolist())
    assert fast.tolist() == pytest.approx(plain, rel=1e-9, abs=1e-9)
    assert (fast <= 0).all()
    # Without exclusive, nothing is shared.
    assert (_weights().exclusive_bits(weight, groups) == 0).all()


def test_exclusive_weights_survive_a_round_trip_and_say_so():
    w = dataclasses.replace(_weights(0.5), exclusive=True)
    assert LearnedWeights.from_dict(w.to_dict()) == w
    assert "exclusive" not in _weights().to_dict()
    assert "matches at most one right record" in w.report()
    with pytest.raises(ValueError, match="exclusive must be true or false"):
        LearnedWeights.from_dict({**w.to_dict(), "exclusive": "yes"})


def _copies(copies: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """People on the left; on the right ``copies`` lightly changed copies of each."""
    rng = np.random.default_rng(7)
    letters = list("abcdefghiklmnoprstuvw")
    left, right = [], []
    for i in range(300):
        first, last = ("".join(rng.choice(letters, 6)) for _ in range(2))
        born = f"19{rng.integers(40, 99)}-0{rng.integers(1, 9)}-1{rng.integers(0, 9)}"
        left.append((f"L{i}", first, last, born, f"c{i % 30}"))
        for k in range(copies):
            typo = list(first)
            typo[int(rng.integers(0, 6))] = str(rng.choice(letters))
            right.append((f"R{i}_{k}", "".join(typo), last, born, f"c{i % 30}"))
    cols = ["id", "first", "last", "born", "city"]
    return pd.DataFrame(left, columns=cols), pd.DataFrame(right, columns=cols)


@pytest.mark.parametrize("copies, alone", [(1, True), (2, False)])
def test_weights_learn_whether_each_left_record_matches_at_most_one(copies, alone):
    from matching.engine.candidates import plan
    from matching.engine.spec import Field, Spec, parse_block
    from matching.engine.training import train

    left, right = _copies(copies)
    fields = (
        Field("first", scorer="jaro_winkler"),
        Field("last", scorer="jaro_winkler"),
        Field("born", scorer="date"),
    )
    spec = Spec(fields, "id", "id", block=(parse_block("exact:city"),))
    job, _ = plan(left, right, spec, keep=0.0, top_k=None)
    weights = train(job)
    assert weights.exclusive is alone
    if alone:  # a runner-up shares its record's one match with the record's best
        from matching.engine.candidates import generate_candidates

        found = generate_candidates(
            left, right, dataclasses.replace(spec, learned=weights), keep=0.0, top_k=3
        )
        plain = generate_candidates(
            left,
            right,
            dataclasses.replace(spec, learned=dataclasses.replace(weights, exclusive=False)),
            keep=0.0,
            top_k=3,
        )
        assert (found["right_id"] == plain["right_id"]).all()  # the same order in a record
        bits = weights.unscale(found["score"].to_numpy())
        raw = dataclasses.replace(weights, exclusive=False).unscale(plain["score"].to_numpy())
        assert (bits <= raw + 1e-9).all() and (bits < raw - 1).any()


def test_why_a_score_shows_what_sharing_the_records_match_and_its_standing_take():
    from matching.engine.rescore import SHARED_PART, STANDING_PART, score_parts
    from matching.engine.spec import Field, Spec

    w = dataclasses.replace(_weights(0.5), exclusive=True)
    frame = pd.DataFrame(
        {
            "left_id": ["a", "a", "b"],
            "right_id": ["x", "y", "x"],
            "score_a": [1.0, 0.0, 1.0],
        }
    )
    frame["score"] = w.score([frame["score_a"].to_numpy()])
    parts = score_parts(frame, Spec((Field("a"),), "id", "id"), w)
    bits = np.array([w.contribution(0, frame["score_a"].to_numpy())]).ravel()
    shared = w.exclusive_bits(bits, np.array([0, 0, 1]))
    behind = w.standing_bits(bits, np.array([0, 0, 1]))
    for k, p in enumerate(parts):
        assert [n for n, _ in p.parts] == ["a", SHARED_PART, STANDING_PART]
        assert p.parts[1][1] == pytest.approx(shared[k]) and p.parts[2][1] == pytest.approx(
            behind[k]
        )
        assert p.total == pytest.approx(p.start + bits[k] + shared[k] + behind[k])
    assert parts[2].parts[1][1] == 0.0  # alone in its record: nothing shared


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-1100, 60, allow_nan=False), min_size=1, max_size=40),
    st.integers(1, 9),
)
def test_exp2_and_log2_by_arithmetic_match_numpy_and_do_not_depend_on_the_cut(values, cut):
    from matching.engine.record_math import exp2_exact, log2_exact

    x = np.array(values)
    ours = exp2_exact(x)
    np.testing.assert_allclose(ours, np.exp2(x), rtol=1e-14, atol=1e-300)
    pieces = np.concatenate([exp2_exact(x[k : k + cut]) for k in range(0, len(x), cut)])
    assert (pieces == ours).all()
    z = np.exp2(np.clip(x, -1000, 1000))
    logs = log2_exact(z)
    np.testing.assert_allclose(logs, np.log2(z), rtol=0, atol=1e-12)
    assert (
        np.concatenate([log2_exact(z[k : k + cut]) for k in range(0, len(z), cut)]) == logs
    ).all()
