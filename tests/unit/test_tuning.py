"""Tuning engine: counts, status histogram, bulk events and estimates match brute force."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.decisions.events import Event, replay
from matching.decisions.tuning import (
    acceptance_by_band,
    auto_accept_events,
    auto_reject_events,
    bulk_batch,
    estimate_precision_recall,
    histogram_by_status,
)
from matching.engine.score_index import ScoreIndex, bin_edges

SETTINGS = settings(max_examples=40, deadline=None)
ROUND_SCORES = [0.0, 0.1, 0.25, 0.3, 0.5, 0.7, 0.75, 0.9, 1.0]


# ---------------------------------------------------------------- strategies


@st.composite
def candidate_frames(draw, max_left: int = 12) -> pd.DataFrame:
    """Candidate pairs with ties, single-candidate records, int or text ids, any row order."""
    text_ids = draw(st.booleans())
    score = st.one_of(st.sampled_from(ROUND_SCORES), st.floats(0.0, 1.0))
    rows = []
    for left in range(draw(st.integers(0, max_left))):
        rights = draw(st.lists(st.integers(0, 8), min_size=1, max_size=4, unique=True))
        for right in rights:
            lid, rid = (f"L{left}", f"R{right}") if text_ids else (left, right)
            rows.append((lid, rid, draw(score)))
    if draw(st.booleans()):
        rows = draw(st.permutations(rows))
    else:  # generate_candidates' order: left, then score descending
        rows.sort(key=lambda r: (str(r[0]), -r[2]))
    return pd.DataFrame(rows, columns=["left_id", "right_id", "score"])


@st.composite
def review_logs(draw, candidates: pd.DataFrame) -> list[Event]:
    """A log deciding, skipping or leaving alone each left record of ``candidates``."""
    events = []
    for i, (left, group) in enumerate(candidates.groupby("left_id", sort=False)):
        action = draw(st.sampled_from(["none", "accept", "reject", "skip", "accept"]))
        common = {
            "event_id": f"e{i}",
            "left_id": str(left),
            "reviewer": draw(st.sampled_from(["ann", "bob"])),
            "time": float(i),
            "automatic": draw(st.booleans()),
        }
        if action == "accept":
            rights = [str(r) for r in group["right_id"]]
            chosen = draw(st.lists(st.sampled_from(rights), min_size=1, unique=True))
            if draw(st.booleans()):
                chosen.append("not-a-candidate")
            events.append(Event(kind="accept", right_ids=tuple(chosen), **common))
        elif action in ("reject", "skip"):
            events.append(Event(kind=action, **common))
    return events


def thresholds(candidates: pd.DataFrame) -> st.SearchStrategy[float]:
    """Any value in [0, 1], often exactly a score."""
    on_score = list(candidates["score"]) or [0.5]
    return st.one_of(st.sampled_from(on_score), st.floats(0.0, 1.0))


# ---------------------------------------------------------------- brute force


def brute_best(candidates: pd.DataFrame) -> dict:
    """left id -> (best score, runner-up score or 0, best right id: earliest row on a tie)."""
    out: dict = {}
    for left, right, score in candidates[["left_id", "right_id", "score"]].itertuples(index=False):
        out.setdefault(left, []).append((score, right))
    result = {}
    for left, pairs in out.items():
        ranked = sorted(pairs, key=lambda p: -p[0])  # stable: earlier row first on ties
        runner = ranked[1][0] if len(ranked) > 1 else 0.0
        result[left] = (ranked[0][0], runner, ranked[0][1])
    return result


def brute_counts(c: pd.DataFrame, keep, select, accept, margin, reject) -> dict:
    scores = list(c["score"])
    best = brute_best(c)
    return {
        "pairs": len(scores),
        "records": len(best),
        "pairs_kept": sum(s >= keep for s in scores),
        "records_with_candidate": sum(
            any(s >= keep for s in c.loc[c["left_id"] == left, "score"]) for left in best
        ),
        "pairs_selected": sum(s >= max(select, keep) for s in scores),
        "auto_accept": sum(b >= accept and b - r >= margin for b, r, _ in best.values()),
        "auto_reject": sum(b < reject for b, _, _ in best.values()),
    }


def brute_bin(score: float, edges: np.ndarray) -> int:
    for i in range(len(edges) - 1):
        last = i == len(edges) - 2
        if edges[i] <= score and (score < edges[i + 1] or (last and score <= edges[i + 1])):
            return i
    raise AssertionError(f"score {score} outside [0, 1]")


def brute_status(c: pd.DataFrame, state, *, include_automatic: bool = True) -> list[str]:
    out = []
    for left, right in c[["left_id", "right_id"]].itertuples(index=False):
        d = state.decisions.get(str(left))
        if d is None or (d.automatic and not include_automatic):
            out.append("undecided")
        elif d.status == "accepted" and str(right) in d.right_ids:
            out.append("accepted")
        else:
            out.append("rejected")
    return out


# ---------------------------------------------------------------- ScoreIndex


@SETTINGS
@given(data=st.data(), bins=st.integers(1, 12))
def test_counts_agree_with_brute_force(data, bins):
    c = data.draw(candidate_frames())
    t = thresholds(c)
    keep, select, accept, reject = (data.draw(t) for _ in range(4))
    gaps = [b - r for b, r, _ in brute_best(c).values()] or [0.0]
    margin = data.draw(st.one_of(st.sampled_from(gaps), st.floats(0.0, 1.0)))
    ix = ScoreIndex.from_candidates(c, bins=bins)
    got = ix.counts(keep=keep, select=select, auto_accept=accept, margin=margin, auto_reject=reject)
    assert got == brute_counts(c, keep, select, accept, margin, reject)
    assert all(type(v) is int for v in got.values())


@SETTINGS
@given(c=candidate_frames(), bins=st.integers(1, 12))
def test_histogram_counts_each_pair_in_its_bin(c, bins):
    edges, counts = ScoreIndex.from_candidates(c, bins=bins).histogram()
    expected = np.zeros(bins, np.int64)
    for s in c["score"]:
        expected[brute_bin(s, edges)] += 1
    np.testing.assert_array_equal(edges, bin_edges(bins))
    np.testing.assert_array_equal(counts, expected)


@pytest.mark.parametrize("n_records", [1, 63, 64, 65, 3_000])
def test_margin_query_is_exact_across_blocks(n_records):
    rng = np.random.default_rng(n_records)
    sizes = rng.integers(1, 5, n_records)
    left = np.repeat(np.arange(n_records), sizes)
    scores = np.round(rng.random(len(left)) * 20) / 20  # many ties
    c = pd.DataFrame({"left_id": left, "right_id": np.arange(len(left)), "score": scores})
    ix = ScoreIndex.from_candidates(c)
    ranked = c.groupby("left_id")["score"].apply(lambda s: sorted(s, reverse=True))
    best = np.array([r[0] for r in ranked])
    runner = np.array([r[1] if len(r) > 1 else 0.0 for r in ranked])
    for _ in range(200):
        t = rng.choice(scores) if rng.random() < 0.5 else rng.random()
        m = rng.choice(best - runner) if rng.random() < 0.5 else rng.random() * 0.5
        expected = int(np.count_nonzero((best >= t) & (best - runner >= m)))
        assert ix.auto_accept_count(t, m) == expected


def test_empty_candidates_count_nothing():
    c = pd.DataFrame({"left_id": [], "right_id": [], "score": np.array([], float)})
    ix = ScoreIndex.from_candidates(c, bins=4)
    counts = ix.counts(keep=0.0, select=0.0, auto_accept=0.0, margin=0.0, auto_reject=1.0)
    assert set(counts.values()) == {0}
    assert ix.histogram()[1].tolist() == [0, 0, 0, 0]


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="'score'"):
        ScoreIndex.from_candidates(pd.DataFrame({"left_id": [1]}))


def test_histogram_returns_copies():
    c = pd.DataFrame({"left_id": [1], "right_id": [2], "score": [0.5]})
    ix = ScoreIndex.from_candidates(c, bins=2)
    ix.histogram()[1][:] = 99
    assert ix.histogram()[1].tolist() == [0, 1]


# ---------------------------------------------------------------- status histogram


def test_histogram_by_status_on_a_literal_frame():
    c = pd.DataFrame(
        {
            "left_id": ["a", "a", "b", "c"],
            "right_id": ["x", "y", "x", "z"],
            "score": [0.9, 0.6, 0.4, 0.1],
        }
    )
    state = replay(
        [Event("1", "accept", "a", ("x",)), Event("2", "reject", "b"), Event("3", "skip", "c")]
    )
    expected = pd.DataFrame(
        {
            "bin_start": [0.0, 0.5],
            "bin_end": [0.5, 1.0],
            "accepted": [0, 1],
            "rejected": [1, 1],
            "undecided": [1, 0],
        }
    )
    pd.testing.assert_frame_equal(histogram_by_status(c, state, bins=2), expected)


@SETTINGS
@given(data=st.data(), bins=st.integers(1, 10))
def test_histogram_by_status_agrees_with_brute_force(data, bins):
    c = data.draw(candidate_frames())
    state = replay(data.draw(review_logs(c)))
    got = histogram_by_status(c, state, bins=bins)
    edges = bin_edges(bins)
    expected = {k: np.zeros(bins, np.int64) for k in ("accepted", "rejected", "undecided")}
    for s, status in zip(c["score"], brute_status(c, state)):
        expected[status][brute_bin(s, edges)] += 1
    for k, v in expected.items():
        np.testing.assert_array_equal(got[k].to_numpy(), v)
    total = got[["accepted", "rejected", "undecided"]].sum(axis=1).to_numpy()
    np.testing.assert_array_equal(total, ScoreIndex.from_candidates(c, bins=bins).histogram()[1])


# ---------------------------------------------------------------- bulk events


@SETTINGS
@given(data=st.data())
def test_auto_accept_events_decide_picked_records_and_one_undo_reverts_them(data):
    c = data.draw(candidate_frames())
    log = data.draw(review_logs(c))
    state = replay(log)
    threshold = data.draw(thresholds(c))
    margin = data.draw(st.sampled_from([0.0, 0.1, 0.25, 0.5]))
    events = auto_accept_events(
        c, state, threshold=threshold, margin=margin, reviewer="auto", batch="b1", now=50.0
    )
    picked = {
        str(left): str(right)
        for left, (b, r, right) in brute_best(c).items()
        if b >= threshold and b - r >= margin and str(left) not in state.decisions
    }
    assert [e.left_id for e in events] == list(picked)
    assert len({e.event_id for e in events}) == len(events)
    assert all(e.automatic and e.batch == "b1" and e.time == 50.0 for e in events)
    assert all(e.thresholds == {"auto_accept": threshold, "margin": margin} for e in events)
    again = auto_accept_events(
        c, state, threshold=threshold, margin=margin, reviewer="auto", batch="b1", now=51.0
    )
    assert [e.event_id for e in again] == [e.event_id for e in events]

    after = replay([*log, *events])
    for left, right in picked.items():
        d = after.decisions[left]
        assert (d.status, d.right_ids, d.automatic) == ("accepted", (right,), True)
        assert d.scores[right] == brute_best(c)[_original_id(c, left)][0]
    assert {k: v for k, v in after.decisions.items() if k not in picked} == dict(state.decisions)

    if events:
        target = data.draw(st.sampled_from(events)).event_id
        undone = replay([*log, *events, Event("u1", "undo", target=target)])
        assert dict(undone.decisions) == dict(state.decisions)
        assert undone.skipped == state.skipped


@SETTINGS
@given(data=st.data())
def test_auto_reject_events_decide_picked_records_and_one_undo_reverts_them(data):
    c = data.draw(candidate_frames())
    log = data.draw(review_logs(c))
    state = replay(log)
    threshold = data.draw(thresholds(c))
    events = auto_reject_events(c, state, threshold=threshold, reviewer="auto", batch="r1", now=9.0)
    picked = [
        str(left)
        for left, (b, _, _) in brute_best(c).items()
        if b < threshold and str(left) not in state.decisions
    ]
    assert [e.left_id for e in events] == picked
    after = replay([*log, *events])
    for left in picked:
        d = after.decisions[left]
        assert (d.status, d.right_ids, d.automatic) == ("rejected", (), True)
        expected_scores = {
            str(r): s
            for r, s in c.loc[c["left_id"].astype(str) == left, ["right_id", "score"]].itertuples(
                index=False
            )
        }
        assert dict(d.scores) == expected_scores
    if events:
        target = data.draw(st.sampled_from(events)).event_id
        undone = replay([*log, *events, Event("u1", "undo", target=target)])
        assert dict(undone.decisions) == dict(state.decisions)


def _original_id(c: pd.DataFrame, text: str):
    return next(v for v in c["left_id"] if str(v) == text)


@SETTINGS
@given(data=st.data())
def test_auto_accept_count_names_the_events_when_nothing_is_decided(data):
    c = data.draw(candidate_frames())
    t = data.draw(thresholds(c))
    margin = data.draw(st.sampled_from([0.0, 0.05, 0.3]))
    empty = replay([])
    ix = ScoreIndex.from_candidates(c)
    accept = auto_accept_events(c, empty, threshold=t, margin=margin, reviewer="a", batch="b")
    reject = auto_reject_events(c, empty, threshold=t, reviewer="a", batch="b")
    assert len(accept) == ix.auto_accept_count(t, margin)
    assert len(reject) == ix.auto_reject_count(t)
    assert not {e.event_id for e in accept} & {e.event_id for e in reject}


@SETTINGS
@given(data=st.data())
def test_a_compact_batch_stands_for_the_same_events_as_the_event_list(data):
    c = data.draw(candidate_frames())
    t = data.draw(thresholds(c))
    margin = data.draw(st.sampled_from([0.0, 0.05, 0.3]))
    kind = data.draw(st.sampled_from(["accept", "reject"]))
    lefts = sorted({str(x) for x in c["left_id"]})
    decided = data.draw(st.lists(st.sampled_from(lefts), unique=True)) if lefts else []
    state = replay([Event(f"d{i}", "reject", left) for i, left in enumerate(decided)])
    common = {"reviewer": "a", "batch": "b", "now": 5.0}
    if kind == "accept":
        events = auto_accept_events(c, state, threshold=t, margin=margin, **common)
    else:
        events = auto_reject_events(c, state, threshold=t, **common)
    batch = bulk_batch(c, decided, kind=kind, threshold=t, margin=margin, event_id="x", **common)
    got = [replace(e, event_id="") for e in batch.events()]
    assert got == [replace(e, event_id="") for e in events]
    assert [e.event_id for e in batch.events()] == [f"x/{e.left_id}" for e in events]


def test_bulk_events_need_a_batch():
    c = pd.DataFrame({"left_id": [1], "right_id": [2], "score": [0.9]})
    with pytest.raises(ValueError, match="batch"):
        auto_accept_events(c, replay([]), threshold=0.5, margin=0.0, reviewer="a", batch="")


# ---------------------------------------------------------------- estimates


@SETTINGS
@given(data=st.data(), bands=st.integers(1, 10), include_automatic=st.booleans())
def test_acceptance_by_band_agrees_with_brute_force(data, bands, include_automatic):
    c = data.draw(candidate_frames())
    state = replay(data.draw(review_logs(c)))
    got = acceptance_by_band(c, state, bands=bands, include_automatic=include_automatic)
    edges = bin_edges(bands)
    reviewed = np.zeros(bands, np.int64)
    accepted = np.zeros(bands, np.int64)
    statuses = brute_status(c, state, include_automatic=include_automatic)
    for s, status in zip(c["score"], statuses):
        if status != "undecided":
            reviewed[brute_bin(s, edges)] += 1
            accepted[brute_bin(s, edges)] += status == "accepted"
    np.testing.assert_array_equal(got["reviewed"].to_numpy(), reviewed)
    np.testing.assert_array_equal(got["accepted"].to_numpy(), accepted)
    rate = [a / r if r else np.nan for a, r in zip(accepted, reviewed)]
    np.testing.assert_allclose(got["acceptance_rate"].to_numpy(), rate)


@SETTINGS
@given(data=st.data(), include_automatic=st.booleans())
def test_precision_recall_estimate_agrees_with_brute_force(data, include_automatic):
    c = data.draw(candidate_frames(max_left=20))
    state = replay(data.draw(review_logs(c)))
    keep, select = data.draw(thresholds(c)), data.draw(thresholds(c))
    got = estimate_precision_recall(
        c, state, keep=keep, select=select, include_automatic=include_automatic
    )
    statuses = brute_status(c, state, include_automatic=include_automatic)
    reviewed = [(s, st_) for s, st_ in zip(c["score"], statuses) if st_ != "undecided"]
    if len(reviewed) < 20:
        assert got is None
        return
    selected = [st_ for s, st_ in reviewed if s >= max(select, keep)]
    accepted = [s for s, st_ in reviewed if st_ == "accepted"]
    hits = selected.count("accepted")
    intervals = {k: got.pop(k) for k in list(got) if k.endswith(("_low", "_high"))}
    assert got == {
        "precision": hits / len(selected) if selected else None,
        "recall": hits / len(accepted) if accepted else None,
        "reviewed": len(reviewed),
        "accepted": len(accepted),
        "selected": len(selected),
        "selected_accepted": hits,
    }
    for name in ("precision", "recall"):
        if got[name] is None:
            assert intervals[f"{name}_low"] is None
        else:
            assert intervals[f"{name}_low"] <= got[name] <= intervals[f"{name}_high"]


def test_precision_recall_on_a_literal_review():
    c = pd.DataFrame(
        {
            "left_id": [f"L{i}" for i in range(30)],
            "right_id": ["R"] * 30,
            "score": [i / 30 for i in range(30)],
        }
    )
    events = [
        Event(f"e{i}", "accept" if i >= 15 else "reject", f"L{i}", ("R",) if i >= 15 else ())
        for i in range(30)
    ]
    got = estimate_precision_recall(c, replay(events), keep=0.0, select=0.6)
    # selected: scores >= 0.6 are L18..L29, all accepted; accepted: L15..L29
    assert got["precision"] == 1.0
    assert got["recall"] == 12 / 15
    assert estimate_precision_recall(c, replay(events[:19]), keep=0.0, select=0.6) is None


def test_engine_modules_do_not_import_ui_packages():
    code = (
        "import sys, matching.decisions.tuning, matching.decisions.statistics;"
        "bad = [m for m in ('dash', 'flask', 'plotly') if m in sys.modules];"
        "print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
