"""The Clusters tab's callbacks on a one-table project, and its exports read back with pandas."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from dash import no_update

from callbacks.clusters import save_rules, show_clusters_tab, show_rules, update_clusters
from callbacks.data import run_project
from components.ids import ids, rep_rule
from tests.dash_http import ORIGIN
from tests.helpers import texts
from tests.unit.test_dedupe_panel import upload

SAME_PAGE = {"Referer": f"{ORIGIN}/", "Sec-Fetch-Site": "same-origin"}

PEOPLE = (
    "pid,name,town,seen,source\n"
    "p1,Ann Lee,Leeds,2020-01-01,crm\n"
    "p2,Anne Lee,Leeds,2023-05-01,web\n"
    "p3,Bob Ray,York,2019-01-01,crm\n"
    "p4,Bob Rey,York,2022-02-02,web\n"
    "p5,Cy Li,Hull,2021-03-03,crm\n"
    "p6,Ann Leigh,Leeds,2021-06-06,web\n"
)


@pytest.fixture
def dedupe(services):
    """A one-table project run from the Data panel: p1 = p2 (p6 shown, not taken: p1 ≠ p6),
    p2 = p6, p3 = p4."""
    form = (
        ["name", "town"],
        [None, None],
        ["qratio", "qratio"],
        [1, 1],
        ["text", "text"],
        "pid",
        None,
        "",
        None,
    )
    info = upload(services, PEOPLE)
    _, project_id, message, color, _ = run_project(
        services, {"left": info}, form, 0.3, 0.9, one_table=True
    )
    assert color == "success", message
    project = services.project(project_id)
    desk = services.desk(project)
    for left, rights in (("p1", ["p2"]), ("p2", ["p6"]), ("p3", ["p4"])):
        view = desk.next_view("ann")
        while view["left_id"] != left:
            desk.decide("ann", view, "reject")
            view = desk.next_view("ann")
        assert {"p2", "p6"} <= {r["_right_id"] for r in view["rows"]} or left != "p1"
        assert desk.decide("ann", view, "accept", rights).ok
    desk.release("ann")
    return project


def test_the_tab_is_shown_for_one_table_only(services, project, dedupe):
    assert show_clusters_tab(services, dedupe.project_id) == {}
    assert show_clusters_tab(services, project.project_id) == {"display": "none"}
    assert show_clusters_tab(services, None) == {"display": "none"}


def test_a_lead_settles_a_cluster_conflict_in_the_tab_and_undoes_it(services, dedupe):
    pid = dedupe.project_id
    out = update_clusters(services, pid, "clusters", None, None, "lee", None)
    assert out["summary"].startswith("2 clusters of two or more records, holding 5 of 6")
    assert [r["record_id"] for r in out["rows"]] == ["p1", "p2", "p6", "p3", "p4"]
    assert [c["field"] for c in out["columns"]][:3] == ["cluster_id", "cluster_size", "pid"]
    assert out["conflict_summary"].startswith("1 pair of records said to be different")
    chain = [(r["left_id"], r["right_id"], r["path"]) for r in out["conflicts"]]
    assert chain == [("p1", "p2", "p1 = p2 = p6"), ("p2", "p6", "p1 = p2 = p6")]
    # Nothing is drawn while another tab is open.
    assert update_clusters(services, pid, "review", None, None, "lee", None)["rows"] is no_update
    nothing = update_clusters(services, pid, "clusters", ids.CLUSTER_SPLIT, [], "lee", None)
    assert nothing["conflict_summary"].startswith("Select an accepted pair of a conflict first.")
    split = update_clusters(
        services, pid, "clusters", ids.CLUSTER_SPLIT, [out["conflicts"][1]], "lee", out["store"]
    )
    assert split["conflict_summary"].startswith("Removed p2 = p6; Undo puts it back. No conflicts")
    assert [r["record_id"] for r in split["rows"]] == ["p1", "p2", "p3", "p4"]
    undone = update_clusters(services, pid, "clusters", ids.CLUSTER_UNDO, [], "lee", split["store"])
    assert undone["conflict_summary"].startswith("Undone. 1 pair")
    assert undone["conflicts"] == out["conflicts"]


def _get(demo_app, project, name: str):
    answer = demo_app.server.test_client().get(
        f"/export/{project.project_id}/{name}", headers=SAME_PAGE
    )
    assert answer.status_code == 200, answer.data[:300]
    return answer.data


def test_rules_saved_in_the_tab_make_the_representatives_export(demo_app, services, dedupe):
    pid = dedupe.project_id
    shown = show_rules(services, pid, "clusters")
    assert shown["date_options"] == ["pid", "name", "town", "seen", "source"]
    assert len(shown["rules"]) == 5 and shown["date"] is None
    names = [rep_rule(c) for c in shown["date_options"]]
    values = ["most recent", "longest", "most frequent", "most frequent", "preferred source"]
    refused = save_rules(services, pid, "lee", values, names, None, "source", "web")
    assert "needs a date column" in refused and refused.startswith("Not saved")
    saved = save_rules(services, pid, "lee", values, names, "seen", "source", "web ")
    assert saved.startswith("Saved: representative records take pid: most recent, name: longest")
    assert show_rules(services, pid, "clusters")["preferred"] == "web"
    reps = pd.read_csv(io.BytesIO(_get(demo_app, dedupe, "representatives.csv")), dtype=str)
    assert reps["cluster_id"].tolist() == ["C0", "C1", "C2"]  # p1 p2 p6 | p3 p4 | p5
    assert reps["records"].tolist() == ["3", "2", "1"]
    first = reps.iloc[0]
    assert (first["pid"], first["name"], first["source"]) == ("p2", "Ann Leigh", "web")
    assert reps.iloc[2][["pid", "name"]].tolist() == ["p5", "Cy Li"]
    xlsx = pd.read_excel(io.BytesIO(_get(demo_app, dedupe, "representatives.xlsx")), dtype=str)
    pd.testing.assert_frame_equal(xlsx, reps)


def test_the_clusters_and_matched_exports_carry_each_records_cluster(demo_app, dedupe):
    clusters = pd.read_parquet(io.BytesIO(_get(demo_app, dedupe, "clusters.parquet")))
    assert clusters.columns.tolist()[:3] == ["cluster_id", "cluster_size", "pid"]
    assert dict(zip(clusters["pid"], clusters["cluster_id"])) == {
        "p1": "C0",
        "p2": "C0",
        "p3": "C1",
        "p4": "C1",
        "p5": "C2",
        "p6": "C0",
    }
    matched = pd.read_csv(io.BytesIO(_get(demo_app, dedupe, "matches.csv")), dtype=str)
    assert matched.columns.tolist()[:3] == ["left_id", "right_id", "cluster_id"]
    assert list(zip(matched["left_id"], matched["right_id"], matched["cluster_id"])) == [
        ("p1", "p2", "C0"),
        ("p2", "p6", "C0"),
        ("p3", "p4", "C1"),
    ]


def test_a_two_table_project_has_no_clusters_to_export(demo_app, project):
    answer = demo_app.server.test_client().get(
        f"/export/{project.project_id}/clusters.csv", headers=SAME_PAGE
    )
    assert answer.status_code == 404 and "one table's duplicates" in answer.json["error"]


def test_the_rules_panel_waits_for_its_tab(services, dedupe):
    assert show_rules(services, dedupe.project_id, "review")["rules"] is no_update
    assert texts(show_rules(services, dedupe.project_id, "clusters")["rules"])[0] == "pid"


def test_the_open_tab_follows_decisions_made_elsewhere(services, dedupe):
    pid = dedupe.project_id
    drawn = update_clusters(services, pid, "clusters", None, None, "lee", None)
    tick = update_clusters(services, pid, "clusters", ids.CLUSTER_TICK, [], "lee", drawn["store"])
    assert tick["rows"] is no_update  # nothing new: nothing sent
    # Another tab takes p3 = p4 out of the matches.
    assert services.desk(dedupe).matches.unmatch("ann", [("p3", "p4")], role="reviewer").ok
    tick = update_clusters(services, pid, "clusters", ids.CLUSTER_TICK, [], "lee", drawn["store"])
    assert [r["record_id"] for r in tick["rows"]] == ["p1", "p2", "p6"]
