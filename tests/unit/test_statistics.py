"""Managers' statistics agree with brute force over random review logs."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.decisions.events import Event, replay
from matching.decisions.statistics import (
    eta,
    per_reviewer,
    progress,
    progress_over_time,
    score_distribution,
)
from matching.engine.score_index import bin_edges

SETTINGS = settings(max_examples=40, deadline=None)
RIGHTS = ["r0", "r1", "r2"]


@st.composite
def event_logs(draw) -> list[Event]:
    """Accepts, rejects, skips, unmatches and undos (some of batches) at rising times."""
    events: list[Event] = []
    clock = draw(st.floats(0, 1e6, allow_nan=False))
    for i in range(draw(st.integers(0, 25))):
        clock += draw(st.sampled_from([0.0, 5.0, 30.0, 61.5, 1200.0, 4000.0]))
        kind = draw(st.sampled_from(["accept", "accept", "reject", "skip", "unmatch", "undo"]))
        common = {
            "event_id": f"e{i}",
            "kind": kind,
            "reviewer": draw(st.sampled_from(["ann", "bob", "cy"])),
            "time": clock,
            "automatic": draw(st.booleans()),
            "batch": draw(st.sampled_from([None, None, "b1", "b2"])),
        }
        if kind == "undo":
            target = draw(st.sampled_from([e.event_id for e in events] or ["none"]))
            events.append(Event(target=target, **common))
            continue
        rights = draw(st.lists(st.sampled_from(RIGHTS), min_size=1, unique=True))
        scores = draw(
            st.dictionaries(
                st.sampled_from(RIGHTS), st.sampled_from([0.0, 0.2, 0.5, 0.95, 1.0]), max_size=3
            )
        )
        events.append(
            Event(
                left_id=f"L{draw(st.integers(0, 8))}",
                right_ids=tuple(rights),
                scores=scores,
                **common,
            )
        )
    return events


@SETTINGS
@given(events=event_logs(), queue_length=st.integers(0, 12))
def test_progress_agrees_with_brute_force(events, queue_length):
    state = replay(events)
    decided = list(state.decisions.values())
    got = progress(state, queue_length)
    pairs_rejected = 0
    for d in decided:
        for r in d.scores:
            if r not in d.right_ids:
                pairs_rejected += 1
    assert got == {
        "records_total": queue_length,
        "records_decided": len(decided),
        "records_remaining": max(queue_length - len(decided), 0),
        "fraction_decided": min(len(decided) / queue_length, 1.0) if queue_length else None,
        "records_accepted": sum(d.status == "accepted" for d in decided),
        "records_rejected": sum(d.status == "rejected" for d in decided),
        "records_skipped": len(state.skipped),
        "pairs_accepted": sum(len(d.right_ids) for d in decided if d.status == "accepted"),
        "pairs_rejected": pairs_rejected,
        "automatic": sum(d.automatic for d in decided),
        "manual": sum(not d.automatic for d in decided),
    }


@SETTINGS
@given(events=event_logs(), freq=st.sampled_from(["15min", "1h", "1D"]))
def test_progress_over_time_counts_standing_decisions_before_each_step(events, freq):
    state = replay(events)
    got = progress_over_time(events, freq=freq)
    pd.testing.assert_frame_equal(got, progress_over_time(state, freq=freq))
    assert list(got.columns) == ["time", "decided", "automatic", "manual"]
    decisions = list(state.decisions.values())
    if not decisions:
        assert got.empty
        return
    step = pd.Timedelta(freq)
    assert (got["time"].diff().dropna() == step).all()
    assert got["decided"].iloc[0] == 0
    assert got["decided"].iloc[-1] == len(decisions)
    for t, decided, automatic in got[["time", "decided", "automatic"]].itertuples(index=False):
        before = [d for d in decisions if d.time < t.timestamp()]
        assert decided == len(before)
        assert automatic == sum(d.automatic for d in before)


def test_progress_over_time_leaves_out_undone_decisions():
    events = [
        Event("a", "accept", "L1", ("r",), time=0.0),
        Event("b", "reject", "L2", time=4000.0),
        Event("u", "undo", target="b", time=4001.0),
    ]
    got = progress_over_time(events, freq="1h")
    assert got["decided"].tolist() == [0, 1]
    assert got["time"].iloc[-1] == pd.Timestamp(3600, unit="s", tz="UTC")


@SETTINGS
@given(
    events=event_logs(),
    remaining=st.integers(0, 50),
    window=st.sampled_from([60.0, 3600.0, 1e9]),
    min_decisions=st.integers(1, 6),
)
def test_eta_is_remaining_times_the_recent_mean_interval(events, remaining, window, min_decisions):
    state = replay(events)
    got = eta(state, remaining, window=window, min_decisions=min_decisions)
    if remaining == 0:
        assert got == 0.0
        return
    times = sorted(d.time for d in state.decisions.values() if not d.automatic)
    if not times:
        assert got is None
        return
    recent = [t for t in times if times[-1] - window < t <= times[-1]]
    if len(recent) < max(min_decisions, 2) or recent[-1] == recent[0]:
        assert got is None
    else:
        mean_interval = (recent[-1] - recent[0]) / (len(recent) - 1)
        assert got == pytest.approx(remaining * mean_interval)


def test_eta_needs_recent_manual_decisions():
    bulk = [Event(f"a{i}", "accept", f"L{i}", ("r",), time=i, automatic=True) for i in range(9)]
    assert eta(replay(bulk), 5) is None
    manual = [Event(f"m{i}", "reject", f"M{i}", time=10.0 * i) for i in range(5)]
    assert eta(replay(bulk + manual), 5) == 50.0
    assert eta(replay(bulk + manual), 5, now=10_000.0) is None


@SETTINGS
@given(events=event_logs(), idle=st.sampled_from([10.0, 900.0, 1e9]))
def test_per_reviewer_agrees_with_brute_force(events, idle):
    state = replay(events)
    got = per_reviewer(state, idle=idle)
    assert list(got.columns) == [
        "reviewer",
        "decisions",
        "accepted",
        "rejected",
        "accept_rate",
        "decisions_per_hour",
    ]
    rows = []
    for reviewer in sorted({d.reviewer for d in state.decisions.values() if not d.automatic}):
        mine = [d for d in state.decisions.values() if d.reviewer == reviewer and not d.automatic]
        times = sorted(d.time for d in mine)
        gaps = [b - a for a, b in pairwise(times) if b - a <= idle]
        accepted = sum(d.status == "accepted" for d in mine)
        rows.append(
            {
                "reviewer": reviewer,
                "decisions": len(mine),
                "accepted": accepted,
                "rejected": len(mine) - accepted,
                "accept_rate": accepted / len(mine),
                "decisions_per_hour": len(gaps) / sum(gaps) * 3600 if sum(gaps) > 0 else np.nan,
            }
        )
    rows.sort(key=lambda r: (-r["decisions"], r["reviewer"]))
    expected = pd.DataFrame(rows, columns=got.columns).astype(got.dtypes.to_dict())
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got.dtypes["decisions"] == np.int64


def test_per_reviewer_on_a_literal_log():
    events = [
        Event("1", "accept", "L1", ("r",), reviewer="ann", time=0.0),
        Event("2", "reject", "L2", reviewer="ann", time=60.0),
        Event("3", "accept", "L3", ("r",), reviewer="ann", time=10_000.0),  # after a break
        Event("4", "accept", "L4", ("r",), reviewer="bob", time=5.0),
        Event("5", "reject", "L5", reviewer="bot", time=6.0, automatic=True),
    ]
    expected = pd.DataFrame(
        {
            "reviewer": ["ann", "bob"],
            "decisions": np.array([3, 1], np.int64),
            "accepted": np.array([2, 1], np.int64),
            "rejected": np.array([1, 0], np.int64),
            "accept_rate": [2 / 3, 1.0],
            "decisions_per_hour": [60.0, np.nan],
        }
    )
    pd.testing.assert_frame_equal(per_reviewer(replay(events)), expected, check_dtype=False)


@SETTINGS
@given(events=event_logs(), bins=st.integers(1, 10))
def test_score_distribution_agrees_with_brute_force(events, bins):
    state = replay(events)
    got = score_distribution(state, bins=bins)
    edges = bin_edges(bins)
    accepted = np.zeros(bins, np.int64)
    rejected = np.zeros(bins, np.int64)
    for d in state.decisions.values():
        for r, s in d.scores.items():
            i = min(int(np.searchsorted(edges, s, side="right")) - 1, bins - 1)
            if r in d.right_ids:
                accepted[i] += 1
            else:
                rejected[i] += 1
    np.testing.assert_array_equal(got["accepted"].to_numpy(), accepted)
    np.testing.assert_array_equal(got["rejected"].to_numpy(), rejected)
    np.testing.assert_array_equal(got["bin_start"].to_numpy(), edges[:-1])


def test_empty_review_has_zero_progress():
    state = replay([])
    assert progress(state, 0)["fraction_decided"] is None
    assert progress_over_time(state).empty
    assert per_reviewer(state).empty
    assert eta(state, 3) is None
    assert score_distribution(state, bins=4)[["accepted", "rejected"]].to_numpy().sum() == 0
