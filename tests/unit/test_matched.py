"""The Matched tab's rows: paged, sorted and filtered on the server."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callbacks.matched import matched_rows, update_matched
from components.ids import ids
from matching.decisions.events import Batch, make_event
from matching.decisions.ledger import Ledger
from matching.decisions.matched import (
    MAX_BLOCK,
    MatchedTable,
    _filter_mask,
    matched_columns_of,
    matched_count,
    matched_frame,
    page,
)
from matching.engine.project import Project, Slices, index_project
from matching.engine.spec import Field, Spec, parse_block
from server.services import AppConfig

N = 10_000


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 10,000-record project whose records are all accepted by one bulk rule."""
    from app import create_app

    folder = tmp_path_factory.mktemp("big")
    names = [f"person {i:05d}" for i in range(N)]
    left = pd.DataFrame({"id": [f"L{i:05d}" for i in range(N)], "name": names})
    right = pd.DataFrame({"id": [f"R{i:05d}" for i in range(N)], "name": names})
    spec = Spec((Field("name"),), left_id="id", right_id="id", block=(parse_block("exact:name"),))
    app = create_app(
        AppConfig(
            left=left,
            right=right,
            spec=spec,
            keep=0.5,
            select=0.9,
            db_url=f"sqlite:///{folder / 'd.db'}",
            data_dir=str(folder / "data"),
        )
    )
    services = app.matchdesk
    project = services.project(services.project_options()[0]["value"])
    desk = services.desk(project)
    assert desk.batches.apply_bulk("lee", "accept", threshold=0.9, role="lead").written == N
    desk.matches.unmatch("lee", [("L00007", "R00007")], role="lead")
    return services, project


def rows(services, project, **request):
    return matched_rows(services, project.project_id, {"startRow": 0, "endRow": 100, **request})


def test_a_block_at_a_time_with_the_total(big):
    services, project = big
    first = rows(services, project)
    assert first["rowCount"] == N - 1 and len(first["rowData"]) == 100
    later = rows(services, project, startRow=5000, endRow=5100)
    assert later["rowData"][0]["left_id"] == "L05001"  # L00007 was removed
    assert rows(services, project, startRow=0, endRow=10**9)["rowData"].__len__() == MAX_BLOCK


def test_sorted_on_the_server(big):
    services, project = big
    out = rows(services, project, sortModel=[{"colId": "left_id", "sort": "desc"}])
    assert [r["left_id"] for r in out["rowData"][:2]] == ["L09999", "L09998"]


def test_filtered_on_the_server(big):
    services, project = big
    text = {"right_name": {"filterType": "text", "type": "endsWith", "filter": "999"}}
    out = rows(services, project, filterModel=text)
    assert out["rowCount"] == 10 and {r["right_name"][-3:] for r in out["rowData"]} == {"999"}
    both = {
        "left_id": {
            "filterType": "text",
            "operator": "OR",
            "conditions": [
                {"filterType": "text", "type": "equals", "filter": "l00001"},
                {"filterType": "text", "type": "equals", "filter": "L00002"},
            ],
        }
    }
    assert rows(services, project, filterModel=both)["rowCount"] == 2


@pytest.mark.parametrize(
    "request_",
    [
        {"filterModel": {"nope": {"type": "contains", "filter": "x"}}},
        {"filterModel": {"score": {"type": "lessThan", "filter": "not a number"}}},
        {"filterModel": "garbage"},
        {"sortModel": [{"colId": "__proto__", "sort": "desc"}, 5]},
        {"startRow": "x"},
    ],
)
def test_forged_requests_are_ignored_not_obeyed(big, request_):
    services, project = big
    assert rows(services, project, **request_)["rowCount"] == N - 1


def test_the_summary_counts_every_match_without_sending_them(big):
    services, project = big
    out = update_matched(services, project.project_id, "matched", None, [], "lee", None)
    assert out["summary"] == f"{N - 1:,} accepted pairs"
    assert "rowData" not in out


def test_page_keeps_decision_order_on_ties():
    frame = pd.DataFrame({"id": list("abcd"), "score": [0.5, 0.9, 0.5, 0.9]})
    got, count = page(frame, start=0, end=4, sort_model=[{"colId": "score", "sort": "desc"}])
    assert [r["id"] for r in got] == ["b", "d", "a", "c"] and count == 4


@given(
    st.lists(
        st.tuples(st.sampled_from(["x", "y", None]), st.sampled_from([0.1, 0.5, None])),
        max_size=30,
    ),
    st.lists(
        st.tuples(st.sampled_from(["name", "score", "nope"]), st.sampled_from(["asc", "desc"])),
        max_size=3,
    ),
    st.sampled_from([None, {"score": {"filterType": "number", "type": "lessThan", "filter": 0.3}}]),
)
@settings(max_examples=100, deadline=None)
def test_a_page_sorts_the_sort_columns_only_and_gives_the_whole_sort_of_the_frame(
    values, sort, filter_model
):
    frame = pd.DataFrame(values, columns=["name", "score"])
    frame.insert(0, "id", [str(i) for i in range(len(frame))])
    sort_model = [{"colId": c, "sort": d} for c, d in sort]
    got, count = page(frame, start=0, end=100, sort_model=sort_model, filter_model=filter_model)
    # the whole frame, filtered then sorted (a column sorted once, by its first key)
    expected = frame.loc[_filter_mask(frame, filter_model)]
    keys = dict((c, d) for c, d in reversed(sort) if c in frame.columns)
    keys = {c: keys[c] for c in dict.fromkeys(c for c, _ in sort) if c in keys}
    if keys:
        expected = expected.sort_values(
            list(keys), ascending=[d == "asc" for d in keys.values()], kind="stable",
            na_position="last",
        )  # fmt: skip
    assert [r["id"] for r in got] == list(expected["id"]) and count == len(expected)


def test_a_sorted_table_is_sorted_again_when_the_decisions_change(big):
    services, project = big
    newest = [{"colId": "left_id", "sort": "desc"}]
    assert rows(services, project, sortModel=newest)["rowData"][0]["left_id"] == "L09999"
    desk = services.desk(project)
    assert desk.matches.unmatch("lee", [("L09999", "R09999")], role="lead").ok
    try:
        again = rows(services, project, sortModel=newest)
        assert again["rowData"][0]["left_id"] == "L09998" and again["rowCount"] == N - 2
    finally:
        assert desk.undo("lee", role="lead").ok
    assert rows(services, project, sortModel=newest)["rowCount"] == N - 1


def _find(component, wanted: str):
    if getattr(component, "id", None) == wanted:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            found = _find(child, wanted)
            if found is not None:
                return found
    return None


def test_matched_grid_layout_asks_the_server_for_rows(demo_app):
    grid = _find(demo_app.layout(), ids.MATCHED_GRID)
    assert grid.rowModelType == "infinite" and "rowData" not in grid.to_plotly_json()["props"]


# -- the table built from the ledger's columns equals the one built record by record ----


def matched_frame_by_record(project, ledger) -> pd.DataFrame:
    """The Matched table as it was built before: one decision at a time (the reference)."""
    accepted = sorted(
        ((left, d) for left, d in ledger.decisions.items() if d.status == "accepted"),
        key=lambda item: item[1].time,
    )
    lefts, rights, who, when, auto, edits = [], [], [], [], [], []
    for left, d in accepted:
        for r in d.right_ids:
            lefts.append(left)
            rights.append(r)
            who.append(d.reviewer)
            when.append(d.time)
            auto.append(d.automatic)
            edits.append((d.edits or {}).get(r))
    pairs = pd.DataFrame({"left_id": lefts, "right_id": rights}, dtype="str")
    scores = pairs.merge(
        project.candidates[["left_id", "right_id", "score"]], on=["left_id", "right_id"], how="left"
    )["score"].to_numpy(np.float64)
    spec = project.spec
    left_cols = [c for c in project.left.columns if c != spec.left_id]
    right_cols = [c for c in project.right.columns if c != spec.right_id]
    left_rows = np.fromiter((project.left_pos[x] for x in lefts), dtype=np.int64, count=len(lefts))
    right_rows = np.fromiter(
        (project.right_pos[x] for x in rights), dtype=np.int64, count=len(rights)
    )
    left_part = project.left.iloc[left_rows][left_cols].reset_index(drop=True)
    right_part = project.right.iloc[right_rows][right_cols].reset_index(drop=True)
    edited: list[str | None] = [None] * len(rights)
    for i, cells in enumerate(edits):
        if cells:
            for col, value in cells.items():
                if col in right_part.columns:
                    if not pd.api.types.is_string_dtype(right_part[col].dtype):
                        right_part[col] = right_part[col].astype(object)
                    right_part.iat[i, right_part.columns.get_loc(col)] = value
            edited[i] = ", ".join(cells)
    decided_at = pd.to_datetime(pd.Series(when, dtype=np.float64), unit="s", utc=True)
    return pd.concat(
        [
            pairs.assign(score=scores),
            left_part.add_prefix("left_"),
            right_part.add_prefix("right_"),
            pd.DataFrame(
                {
                    "reviewer": pd.Series(who, dtype=object),
                    "decided_at": decided_at.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").str[:-4] + "Z",
                    "automatic": pd.Series(auto, dtype=bool),
                    "edited": pd.Series(edited, dtype=object),
                }
            ),
        ],
        axis=1,
    )


LEFTS = ["1", "2", "3", "4"]
RIGHTS = ["a", "b", "c"]


def tiny_project() -> Project:
    """Four left and three right records; some pairs are candidates, some are not."""
    left = pd.DataFrame({"id": LEFTS, "name": ["ann", "bo", None, "cy"]})
    right = pd.DataFrame({"id": RIGHTS, "name": ["ann", "bob", "cyd"], "city": ["x", None, "z"]})
    cands = pd.DataFrame(
        {
            "left_id": ["1", "1", "2", "3", "4"],
            "right_id": ["a", "b", "b", "c", "a"],
            "score": [0.9, 0.4, 0.8, 0.7, 0.6],
        }
    )
    return Project(
        project_id="tiny",
        name="tiny",
        left=left,
        right=right,
        spec=Spec((Field("name"),), left_id="id", right_id="id"),
        keep=0.3,
        select=0.5,
        top_k=None,
        candidates=cands,
        queue=list(LEFTS),
        left_pos={k: i for i, k in enumerate(LEFTS)},
        right_pos={k: i for i, k in enumerate(RIGHTS)},
        slices={"1": (0, 2), "2": (2, 3), "3": (3, 4), "4": (4, 5)},
    )


_history = st.lists(
    st.tuples(
        st.sampled_from(["accept", "accept", "reject", "skip", "unmatch", "undo", "batch"]),
        st.sampled_from(LEFTS),
        st.sets(st.sampled_from(RIGHTS), min_size=1, max_size=3),
        st.sampled_from(["ann", "bob", "lee"]),
        st.integers(0, 3),  # the clock: equal times are common
        st.sampled_from([None, {"name": "fixed"}, {"city": "q", "name": "n"}, {"nope": "v"}]),
        st.integers(0, 60),
    ),
    max_size=40,
)


@given(_history)
@settings(max_examples=200, deadline=None)
def test_table_from_the_columns_equals_the_record_by_record_table(raw):
    """Accepts of one or several rights with corrections, rejects, skips, changes (a
    later decision on a decided record), unmatches, undos and compact bulk batches."""
    project = tiny_project()
    ledger = Ledger(project.queue, project.left_pos)
    applied: list[str] = []
    for i, (kind, left, rights, who, clock, fix, target) in enumerate(raw):
        now = float(1_700_000_000 + clock) + 0.0015 * (i % 3)
        if kind == "undo":
            tid = applied[target % len(applied)] if applied else "none"
            ledger.apply(make_event("undo", event_id=f"u{i}", reviewer=who, target=tid, now=now))
        elif kind == "batch":
            chosen = [LEFTS[(target + k) % 4] for k in range(1 + target % 4)]  # any order
            accept = target % 5 != 0
            batch = Batch.of(
                f"b{i}", "accept" if accept else "reject", batch=f"bulk{i}", reviewer="lee",
                time=now, left_ids=chosen, right_ids=[RIGHTS[target % 3]] * len(chosen),
                offsets=list(range(len(chosen) + 1)), cand_right=[RIGHTS[target % 3]] * len(chosen),
                cand_score=[0.9] * len(chosen),
            )  # fmt: skip
            ledger.apply(batch)
            applied.append(f"b{i}/{len(chosen) - 1}")
        else:
            picked = sorted(rights) if kind in ("accept", "unmatch") else []
            edits = {r: fix for r in picked} if kind == "accept" and fix else None
            ledger.apply(
                make_event(
                    kind, event_id=f"e{i}", reviewer=who, left_id=left, right_ids=picked,
                    edits=edits or {}, now=now,
                )
            )  # fmt: skip
            applied.append(f"e{i}")
    expected = matched_frame_by_record(project, ledger)
    pd.testing.assert_frame_equal(matched_frame(project, ledger), expected)
    # the same with the app's columnar lookups (each record's candidate rows as slices)
    table = MatchedTable.of_ledger(TINY_INDEXED, ledger)
    pd.testing.assert_frame_equal(table.frame(), expected)
    # the tab's summary and columns, told without building the table
    assert matched_count(ledger) == len(expected) == len(table)
    assert matched_columns_of(TINY_INDEXED) == list(expected.columns) == list(table.columns)
    # a block of rows in any order, and any whole column, as the whole table has them
    shuffled = np.random.default_rng(len(raw)).permutation(len(expected))
    shuffled = shuffled[: len(expected) // 2 + 1]
    pd.testing.assert_frame_equal(
        table.block(shuffled), expected.iloc[shuffled].reset_index(drop=True)
    )
    for column in expected.columns:
        pd.testing.assert_series_equal(table[column], expected[column], check_names=False)


def _indexed(project: Project) -> Project:
    out = index_project(
        project.left, project.right, project.spec, project.candidates.copy(),
        name=project.name, keep=project.keep, select=project.select, top_k=None,
    )  # fmt: skip
    assert isinstance(out.slices, Slices)
    return out


TINY_INDEXED = _indexed(tiny_project())


def test_big_project_table_from_the_columns_equals_the_record_by_record_table(big):
    """10,000 records accepted by one bulk batch, one of them unmatched since."""
    services, project = big
    desk = services.desk(project)
    ledger = desk.refresh()
    pd.testing.assert_frame_equal(
        matched_frame(project, ledger), matched_frame_by_record(project, ledger)
    )
    assert len(matched_frame(project, ledger)) == N - 1
