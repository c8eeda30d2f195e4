"""A date held as year, month and day columns is one column wherever a set-up runs: scoring,
blocking, projects, the command line's saved set-ups and the Data panel's proposal."""

from __future__ import annotations

import contextlib
import io

import pandas as pd
import pytest

from callbacks.propose import fill_panel, proposal_for
from components.ids import ids
from matching.cli import main
from matching.engine.blocking import count_rules
from matching.engine.candidates import generate_candidates, plan, run_plan, score_in_steps
from matching.engine.derive import add_date_columns, date_names, with_spec_columns
from matching.engine.project import build_project, project_id_for
from matching.engine.spec import Field, Spec, parse_block, read_setup
from matching.workspace import Workspace
from tests.helpers import uploaded_pair

LEFT = pd.DataFrame(
    {
        "id": ["a1", "a2", "a3"],
        "name": ["Ann Lee", "Bob Ray", "Cy Li"],
        "dob_year": ["1990.0", "1985.0", None],  # a year written as a float, one missing
        "dob_month": ["5", "12", "3"],
        "dob_day": ["6", "1", "3"],
    }
)
RIGHT = pd.DataFrame(
    {
        "id": ["b1", "b2", "b3"],
        "name": ["Ann Lee", "Bob Ray", "Cy Li"],
        "dob_year": [1990, 1985, 1970],
        "dob_month": [5, 12, 3],
        "dob_day": [6, 2, 3],
    }
)
DOB = Spec((Field("name"), Field("dob", scorer="date")), "id", "id")


def test_a_missing_date_column_is_made_of_its_parts_and_nothing_else_changes():
    out = add_date_columns(LEFT, ["dob", "name", "nowhere"])
    assert out["dob"].tolist() == ["1990-05-06", "1985-12-01", None]
    assert list(out.columns) == [*LEFT.columns, "dob"]
    assert "dob" not in LEFT.columns, "the table given is not changed"
    assert "nowhere" not in out.columns, "a column no group makes is left for the check"
    pd.testing.assert_frame_equal(out[list(LEFT.columns)], LEFT)


def test_a_table_lacking_nothing_is_returned_as_it_is():
    assert add_date_columns(LEFT, ["name", "dob_year", None]) is LEFT
    assert add_date_columns(LEFT, []) is LEFT
    made = add_date_columns(LEFT, ["dob"])
    assert add_date_columns(made, ["dob"]) is made


def test_a_table_with_its_own_dob_column_keeps_it():
    own = LEFT.assign(dob=["x", "y", "z"])
    assert add_date_columns(own, ["dob"]) is own
    assert date_names(own) == ["dob_date"]
    assert date_names(LEFT) == ["dob"]
    assert date_names(pd.DataFrame({"name": ["x"]})) == []


def test_parts_that_are_not_numbers_make_no_date_and_the_check_names_it():
    words = LEFT.assign(dob_month=["May", "Dec", "Mar"])
    assert add_date_columns(words, ["dob"]) is words
    with pytest.raises(ValueError, match="the left table has no column 'dob'"):
        generate_candidates(words, RIGHT, DOB)


@pytest.mark.parametrize("runner", ["plan", "generate_candidates", "score_in_steps"])
def test_a_date_field_scores_equal_dates_1_on_tables_holding_its_parts(runner):
    if runner == "plan":
        job, ranges = plan(LEFT, RIGHT, DOB, keep=0.0, top_k=None)
        found = pd.concat(run_plan(job, ranges), ignore_index=True)
    elif runner == "generate_candidates":
        found = generate_candidates(LEFT, RIGHT, DOB, keep=0.0, top_k=None)
    else:
        found = score_in_steps(LEFT, RIGHT, DOB, keep=0.0, top_k=None, progress=lambda *_: None)
    dob = found.set_index(["left_id", "right_id"])["score_dob"]
    assert dob["a1", "b1"] == 1.0
    assert 0.0 < dob["a2", "b2"] < 1.0, "a day apart is near, not equal"
    assert pd.isna(dob["a3", "b3"]), "a date missing a part is missing"
    assert "dob" not in LEFT.columns and "dob" not in RIGHT.columns


def test_a_blocking_rule_on_the_date_keeps_only_pairs_of_that_year():
    spec = Spec(DOB.fields, "id", "id", block=(parse_block("exact:dob[year]"),))
    found = generate_candidates(LEFT, RIGHT, spec, keep=0.0, top_k=None)
    assert sorted(zip(found["left_id"], found["right_id"])) == [("a1", "b1"), ("a2", "b2")]
    counts = count_rules(LEFT, RIGHT, spec.block)
    assert [(c.pairs, c.added) for c in counts] == [(2, 2)]


def test_a_column_neither_table_makes_is_still_named_in_the_error():
    spec = Spec((Field("birth"),), "id", "id")
    with pytest.raises(ValueError, match="the left table has no column 'birth'"):
        generate_candidates(LEFT, RIGHT, spec)


def test_a_project_keeps_the_date_column_and_the_id_of_the_tables_as_given():
    project = build_project(LEFT, RIGHT, DOB, name="dates", keep=0.0)
    assert project.left["dob"].tolist() == ["1990-05-06", "1985-12-01", None]
    assert project.right["dob"].tolist() == ["1990-05-06", "1985-12-02", "1970-03-03"]
    assert project.project_id == project_id_for(LEFT, RIGHT, DOB, keep=0.0, top_k=10)


def test_a_project_opened_in_the_workspace_shows_the_date(services):
    project = services.open_project(LEFT, RIGHT, DOB, name="dates", keep=0.0, select=0.8)
    assert project.left["dob"].iloc[0] == "1990-05-06"
    again = Workspace(services.config).project(project.project_id)  # read from its folder
    assert again.right["dob"].tolist() == ["1990-05-06", "1985-12-02", "1970-03-03"]
    pairs = again.candidates.set_index(["left_id", "right_id"])
    assert pairs.loc[("a1", "b1"), "score_dob"] == 1.0
    # "Re-run this project" offers the date in the panel's column lists.
    record, stored = services.uploaded({"project": project.project_id, "side": "left"})
    assert record["made"] == ["dob"] and "dob" not in stored.columns, "kept as uploaded"


def test_one_table_gets_the_date_once_and_stays_one_table():
    spec = Spec((Field("name"), Field("dob", scorer="date")), "id", "id", one_table=True)
    table = pd.concat([LEFT, RIGHT], ignore_index=True)
    left, right = with_spec_columns(table, table, spec)
    assert right is left and left["dob"].iloc[3] == "1990-05-06"
    found = generate_candidates(table, table, spec, keep=0.0, top_k=None)
    dob = found.set_index(["left_id", "right_id"])["score_dob"]
    assert dob["a1", "b1"] == 1.0
    project = build_project(table, table, spec, name="one", keep=0.0)
    assert project.left is project.right and "dob" in project.left.columns


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def raw(tmp_path):
    people = pd.concat([LEFT, RIGHT.assign(id=["c1", "c2", "c3"])], ignore_index=True)
    left, right = tmp_path / "left.csv", tmp_path / "right.csv"
    people.to_csv(left, index=False)
    RIGHT.to_csv(right, index=False)
    return left, right


def test_a_proposed_set_up_naming_dob_runs_again_on_the_raw_tables(raw, tmp_path):
    left, right = raw
    saved, first, second = tmp_path / "setup.toml", tmp_path / "a.csv", tmp_path / "b.csv"
    code, _, err = run(
        "--left", str(left), "--right", str(right), "--left-id", "id", "--right-id", "id",
        "--weights", "mean", "--keep", "0", "--save-spec", str(saved), "--out", str(first),
    )  # fmt: skip
    assert code == 0, err
    assert "dob is made in the left table from dob_year, dob_month, dob_day" in err
    setup = read_setup(saved)
    assert "dob" in [f.name for f in setup.spec.fields]
    code, _, err = run("--spec", str(saved), "--out", str(second))
    assert code == 0, err
    assert first.read_text() == second.read_text()
    scores = pd.read_csv(second, dtype=str).set_index(["left_id", "right_id"])["score_dob"]
    assert float(scores["a1", "b1"]) == 1.0


def test_a_hand_written_date_field_and_rule_count_on_the_raw_tables(raw, tmp_path):
    left, right = raw
    options = ["--left", str(left), "--right", str(right), "--left-id", "id", "--right-id", "id"]
    options += ["--field", "dob:date", "--block", "exact:dob[year]"]
    code, out, err = run(*options, "--count-only")
    assert code == 0, err
    assert out.splitlines()[1].split()[-2:] == ["5", "5"]  # a3 has no year
    code, _, err = run(*options, "--field", "nowhere", "--count-only")
    assert code == 2 and "the left table has no column 'nowhere'" in err


def test_the_data_panel_proposes_one_date_field_and_offers_it(services, tmp_path):
    uploads = uploaded_pair(services, tmp_path, LEFT, RIGHT, ("people.csv", "customers.csv"))
    assert uploads["left"]["made"] == ["dob"]
    assert "dob" not in uploads["left"]["columns"], "the table's own columns, as read"
    values, note = proposal_for(LEFT, RIGHT)
    dob = [f for f in values["fields"] if f["left"] == "dob"]
    assert [(f["right"], f["scorer"]) for f in dob] == [("dob", "date")]
    assert not any(f["left"].startswith("dob_") for f in values["fields"])
    assert "dob is made in the left table from dob_year, dob_month, dob_day" in str(note)
    out = fill_panel(services, ids.UPLOAD_STORE, uploads, None, {}, None)
    assert out["proposal"]["fields"] == values["fields"]
    row = out["fields"][[f["left"] for f in values["fields"]].index("dob")]
    left, right = (col.children for col in row.children[:2])
    assert (left.value, right.value) == ("dob", "dob")
    assert "dob" in left.options and "dob_year" in left.options and "dob" in right.options


def test_the_data_panel_proposes_the_date_for_one_table_too():
    table = pd.concat([LEFT, RIGHT], ignore_index=True)
    values, note = proposal_for(table, table, one_table=True)
    assert [(f["left"], f["scorer"]) for f in values["fields"]] == [
        ("name", "jaro_winkler"),
        ("dob", "date"),
    ]
    assert "dob is made in the table from dob_year, dob_month, dob_day" in str(note)
