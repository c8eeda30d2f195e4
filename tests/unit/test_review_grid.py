"""The review grid as one comparison table: pinned left record, column order, tint."""

from __future__ import annotations

import json
import shutil
import subprocess

import pandas as pd
import pytest
from dash import no_update

from components.ids import ids
from components.review import (
    LEFT_ROW_CLASS,
    MISSING_CLASS,
    SIMILARITY_BANDS,
    breakable,
    candidate_columns,
    review_tab,
    typical_chars,
)
from matching.engine.demo import GENERATED_FIELDS
from matching.engine.project import record_view
from matching.engine.spec import Field
from tests.helpers import generated_app, patched, review_step

TINTS = {cls for cls, _, _ in SIMILARITY_BANDS} | {MISSING_CLASS}


@pytest.fixture
def six(tmp_path):
    """The six-field app's services and project."""
    services = generated_app(tmp_path).matchdesk
    return services, services.project(services.project_options()[0]["value"])


def _fields(cols: list[dict]) -> list[str]:
    return [c["field"] for c in cols]


def test_pinned_row_is_the_left_record_under_the_right_columns(six):
    services, project = six
    out = review_step(services, project)
    left = project.left.iloc[0]
    pinned = patched(out["grid_options"])[("pinnedTopRowData",)]
    assert len(pinned) == 1
    assert pinned[0]["car_id"] == left["owner_id"]
    for col in GENERATED_FIELDS:
        assert pinned[0][col] == left[col]
    assert "car_name" not in pinned[0] or pinned[0]["car_name"] is None
    card = str(out["card"])
    assert left["email"] in card and "Left record O0000001" in card


def test_left_record_lines_up_with_differently_named_right_columns(services, project):
    view = record_view(project, "2", keep=0.0, select=1.0)
    # The demo compares OwnerSurname with OwnerSurname; OwnerName exists on both sides.
    assert view["pinned"] == {"CarID": "2", "OwnerName": "Bob", "OwnerSurname": "Johnson"}
    assert view["left_rest"] == {"OwnerEmail": "bob.johnson@example.com"}
    assert list(view["rows"][0])[:4] == ["CarID", "CarName", "OwnerName", "OwnerSurname"]


def test_columns_are_score_then_compared_fields_in_spec_order_then_id_then_the_rest():
    right = ["car_id", "car_name", "surname", "given_name", "city", "note"]
    fields = [Field("given_name"), Field("city"), Field("family", "surname")]
    cols = candidate_columns(right, fields, right_id="car_id")
    assert _fields(cols) == ["score", "given_name", "city", "surname", "car_id", "car_name", "note"]
    assert cols[0]["cellRenderer"] == "ScoreBar"
    assert "family" in cols[3]["headerTooltip"]
    assert all("score_" not in f for f in _fields(cols)), "no per-field score columns"


def test_a_right_column_compared_twice_appears_once_tinted_by_its_first_field():
    fields = [Field("name", scorer="jaro_winkler"), Field("alias", "name", scorer="token_set")]
    cols = candidate_columns(["id", "name"], fields, right_id="id")
    assert _fields(cols) == ["score", "name", "id"]
    assert '"score_name"' in cols[1]["cellClassRules"]["sim-0"]


def test_compared_cells_carry_tint_rules_and_a_score_tooltip_the_rest_do_not():
    cols = candidate_columns(["id", "a", "b"], [Field("a")], right_id="id")
    compared, others = cols[1], cols[2:]
    assert set(compared["cellClassRules"]) == TINTS | {"cell-differs", "cell-edited"}
    assert "similarity" in compared["tooltipValueGetter"]["function"]
    assert compared["editable"] == {"function": "!params.node.rowPinned"}
    for col in others:
        assert set(col["cellClassRules"]) == {"cell-edited"}
        assert col["tooltipField"] == col["field"]


def test_blind_columns_have_no_tint_no_scores_and_the_same_layout():
    right, fields = ["id", "a", "b"], [Field("a"), Field("b")]
    seen = candidate_columns(right, fields, right_id="id", show_scores=True)
    blind = candidate_columns(right, fields, right_id="id", blind=True, show_scores=True)
    assert _fields(blind) == _fields(seen)
    text = json.dumps(blind)
    assert "sim-" not in text and "score_" not in text and "cell-differs" not in text


def test_show_scores_writes_the_field_score_in_its_cells():
    cols = candidate_columns(["a"], [Field("a")], show_scores=True)
    assert cols[1]["cellRenderer"] == "CompareCell"
    assert cols[1]["cellRendererParams"] == {"marksField": "_marks_a", "scoreField": "score_a"}
    assert "cellRenderer" not in candidate_columns(["a"], [Field("a")])[1]


def test_columns_share_the_width_by_content_and_ids_are_never_cut():
    frame = pd.DataFrame({"id": ["C" * 24], "street": ["12 Long Street Name"], "zip": ["1234"]})
    chars = typical_chars(frame)
    assert chars == {"id": 24, "street": 19, "zip": 4}
    cols = candidate_columns(
        ["id", "street", "zip"], [Field("street"), Field("zip")], right_id="id", chars=chars
    )
    street, zip_, id_ = cols[1:]
    assert street["flex"] > zip_["flex"] and 80 <= zip_["minWidth"] < street["minWidth"]
    assert street["minWidth"] >= 8 * 19, "a compared value is not cut while there is room"
    assert id_["minWidth"] > 8 * 24


def test_eight_long_compared_fields_still_fit_1440_px_before_other_columns():
    names = [f"field_{i}" for i in range(8)]
    chars = {name: 40 for name in names} | {"id": 10, "note": 30}
    cols = candidate_columns(
        ["id", *names, "note"], [Field(n) for n in names], right_id="id", chars=chars
    )
    fixed = 44 + sum(c["minWidth"] for c in cols if c["field"] in ["score", "id", *names])
    assert fixed <= 1410


def test_headers_wrap_and_long_names_may_break_after_underscores():
    grid = _find(review_tab(), ids.CANDIDATE_GRID)
    assert grid.defaultColDef["wrapHeaderText"] and grid.defaultColDef["autoHeaderHeight"]
    assert breakable("birth_date") == "birth_\u200bdate"
    assert breakable("given name") == "given name"


def test_grid_pins_and_styles_the_left_row_and_never_selects_it():
    options = _find(review_tab(), ids.CANDIDATE_GRID).dashGridOptions
    assert options["pinnedTopRowData"] == []
    assert options["rowClassRules"] == {LEFT_ROW_CLASS: "params.node.rowPinned === 'top'"}
    assert options["rowSelection"]["isRowSelectable"] == {"function": "!params.rowPinned"}
    assert options["enableBrowserTooltips"] is True


def test_blind_mode_sends_no_scores_no_marks_and_no_preselection(six):
    services, project = six
    seen = review_step(services, project)
    blind = review_step(services, project, ids.BLIND, seen["view"], blind=True)
    assert blind["label"] == seen["label"], "the same record, laid out the same"
    assert seen["selected"]["ids"] and blind["selected"] == {"ids": []}
    assert [r["_right_id"] for r in blind["rows"]] == [r["_right_id"] for r in seen["rows"]]
    sent = json.dumps([blind["rows"], blind["view"]])
    assert '"score' not in sent and "_diff_" not in sent and "_marks_" not in sent
    assert "sim-" not in json.dumps(blind["columns"])
    assert blind["legend_style"] == {"visibility": "hidden"}
    assert blind["show_scores_disabled"] is True
    back = review_step(services, project, ids.BLIND, blind["view"], blind=False)
    assert back["selected"] == seen["selected"] and back["legend_style"] == {}


def test_the_page_keeps_what_the_desk_checks_not_the_rows(six):
    services, project = six
    view = review_step(services, project)["view"]
    assert {"left_id", "position", "view_id", "reviewer", "selected"} <= set(view)
    assert not {"rows", "left", "pinned", "left_rest"} & set(view)
    out = review_step(services, project, ids.SKIP, view)
    assert out["label"] == "Record 2 of 40"


def test_done_queue_clears_the_pinned_row(services, project):
    view = review_step(services, project)["view"]
    for _ in range(5):
        out = review_step(services, project, ids.SKIP, view)
        view = out["view"]
    assert out["done"] is True
    assert patched(out["grid_options"]) == {("pinnedTopRowData",): []}


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the rules")
def test_tint_rules_put_each_score_in_one_band():
    rules = candidate_columns(["a"], [Field("a")])[1]["cellClassRules"]
    cases = {0.0: "sim-0", 0.49: "sim-0", 0.5: "sim-1", 0.7: "sim-2", 0.85: "sim-3", 0.99: "sim-3"}
    cases[1.0] = "sim-4"
    script = f"""
    const rules = {json.dumps(rules)};
    const classes = (data, pinned) => Object.keys(rules).filter(k =>
        new Function("params", "return " + rules[k])({{data, node: {{rowPinned: pinned}}}}));
    const out = {{}};
    for (const s of {json.dumps(list(cases))}) {{ out[s] = classes({{score_a: s}}, null); }}
    out.missing = classes({{score_a: null, _diff_a: true}}, null);
    out.pinned = classes({{a: "x"}}, "top");
    console.log(JSON.stringify(out));
    """
    got = json.loads(
        subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout
    )
    for score, cls in cases.items():
        assert got[str(score) if score != int(score) else str(int(score))] == [cls], score
    assert got["missing"] == ["cell-differs", MISSING_CLASS]
    assert got["pinned"] == []


def _find(component, id_):
    if getattr(component, "id", None) == id_:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if hasattr(child, "to_plotly_json"):
            found = _find(child, id_)
            if found is not None:
                return found
    return None


def test_every_record_gets_the_same_columns_and_they_are_sent_once(six):
    services, project = six
    first = review_step(services, project)
    second = review_step(services, project, ids.SKIP, first["view"])
    assert second["label"] == "Record 2 of 40"
    assert second["columns"] is no_update, "the page has these columns already"
    assert second["view"]["grid"] == first["view"]["grid"]
    again = review_step(services, project, ids.SKIP, {**second["view"], "grid": None})
    assert again["columns"] == first["columns"]
    blind = review_step(services, project, ids.BLIND, again["view"], blind=True)
    assert blind["columns"] is not no_update and blind["view"]["grid"] != first["view"]["grid"]


def test_show_scores_keeps_the_record_and_the_reviewers_ticks(six):
    services, project = six
    first = review_step(services, project)
    out = review_step(services, project, ids.SHOW_SCORES, first["view"], show_scores=True)
    assert out["label"] == first["label"]
    assert out["rows"] is no_update and out["selected"] is no_update
    assert any(c.get("cellRenderer") == "CompareCell" for c in out["columns"])


def test_near_values_carry_the_characters_that_differ(services, project):
    # Bob Johnson's candidates: Jonson (0.92) is near, the rest are not.
    rows = record_view(project, "2", keep=0.26, select=1.0)["rows"]
    jonson = next(r for r in rows if r["OwnerSurname"] == "Jonson")
    assert jonson["_marks_OwnerSurname"] == {"of": "Jonson", "spans": [[2, 2]]}
    assert all("_marks_OwnerSurname" not in r for r in rows if r is not jonson)


def test_marked_cells_get_the_compare_renderer_only_when_there_are_marks():
    col = candidate_columns(["a"], [Field("a")])[1]
    assert "_marks_a" in col["cellRendererSelector"]["function"]
    assert col["cellRendererParams"] == {"marksField": "_marks_a"}
    blind = candidate_columns(["a"], [Field("a")], blind=True)[1]
    assert "cellRendererSelector" not in blind and "cellRendererParams" not in blind
