"""The Matched tab's rows: paged, sorted and filtered on the server."""

from __future__ import annotations

import pandas as pd
import pytest

from callbacks.matched import matched_rows, update_matched
from callbacks.services import AppConfig
from components.ids import ids
from matching.matched import MAX_BLOCK, page
from matching.spec import Field, Spec, parse_block

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
    assert desk.apply_bulk("lee", "accept", threshold=0.9, role="lead").written == N
    desk.unmatch("lee", [("L00007", "R00007")], role="lead")
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
