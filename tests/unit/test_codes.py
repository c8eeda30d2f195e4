"""Model codes of a text: found by hand-checked rules, the fast column path against the
per-value reference, proposed as a field for product titles, made by any run."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callbacks.propose import fill_panel, proposal_for
from callbacks.tables import read_upload
from components.ids import ids
from matching.engine.candidates import generate_candidates
from matching.engine.codes import code_column, codes_of, holds_codes
from matching.engine.derive import code_names, with_spec_columns
from matching.engine.propose import propose
from matching.engine.spec import Field, Spec
from tests.helpers import uploaded_pair

LEFT = pd.DataFrame(
    {
        "id": ["a1", "a2", "a3", "a4", "a5", "a6"],
        "name": [
            "Sony Bravia KDL-40V2500 40in LCD TV",
            "Canon PowerShot SD1000 digital camera",
            "Panasonic DMR-EZ17 DVD recorder",
            "Garmin nuvi 260 GPS",
            "Bose QuietComfort 3 headphones",
            "Samsung LN-T4065F 40in LCD",
        ],
        "price": ["1199", "249", "199", "299", "349", "1299"],
    }
)
RIGHT = pd.DataFrame(
    {
        "id": ["b1", "b2", "b3", "b4", "b5", "b6"],
        "name": [
            "sony kdl40v2500 bravia v series lcd hdtv",
            "canon sd1000 powershot elph silver",
            "panasonic dmrez17 dvd player recorder",
            "garmin nuvi 260w portable navigator",
            "bose quietcomfort 3 acoustic noise cancelling",
            "samsung lnt4065f lcd television",
        ],
        "price": ["1150", "229", "179", "279", "349", "1250"],
    }
)


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Sony KDL-40V2500", "kdl40v2500"),
        ("HP LaserJet 4000n / Q1234A toner", "4000n q1234a"),
        ("Adobe Photoshop CS", None),  # letters only
        ("Model 2007 for 40 inch", None),  # digits only
        ("Canon A4 x1", None),  # too short to name a model
        ("sd1000 SD1000 Sd-1000", "sd1000"),  # once, whatever its case and joiners
        (None, None),
    ],
)
def test_a_code_is_a_word_of_letters_and_digits_of_four_or_more(text, codes):
    assert codes_of(text) == codes


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.text(alphabet="ab9 -./XZ1", max_size=14)),
        max_size=12,
    )
)
def test_the_column_of_codes_is_the_per_value_reference(values):
    column = pd.Series(values, dtype=object)
    assert code_column(column).tolist() == [codes_of(v) for v in values]


def test_product_titles_hold_codes_and_ids_or_words_do_not():
    assert holds_codes(LEFT["name"]) and holds_codes(RIGHT["name"])
    assert not holds_codes(pd.Series(["rec-1-org", "rec-22-dup-0"]))
    assert not holds_codes(pd.Series(["a study of joins", "on the query plan"]))
    assert not holds_codes(pd.Series([1.0, 2.0]))


def test_a_proposal_compares_the_codes_of_product_titles_as_a_field():
    proposal = propose(LEFT, RIGHT, left_id="id", right_id="id")
    fields = {f.name: f for f in proposal.spec.fields}
    assert fields["name_codes"].scorer == "token_set"
    assert proposal.kinds["name_codes"] == "codes"
    assert any(n.startswith("name_codes: the model codes in name") for n in proposal.notes)
    # No rule keys on the codes (their words come in any order).
    assert all("name_codes" not in rule.text for rule in proposal.spec.block)
    left, right = proposal.add_columns(LEFT, RIGHT)
    assert left["name_codes"].tolist()[:2] == ["40in kdl40v2500", "sd1000"]  # sizes too
    assert right["name_codes"].tolist()[:2] == ["kdl40v2500", "sd1000"]
    # Titles without codes get no such field.
    words = LEFT.assign(name=[f"{w} and more words" for w in "abcdef"])
    other = propose(words, RIGHT.assign(name=words["name"]), left_id="id", right_id="id")
    assert "name_codes" not in {f.name for f in other.spec.fields}


def test_a_set_up_naming_codes_runs_on_the_tables_as_they_are():
    spec = Spec((Field("name_codes", scorer="token_set"),), left_id="id", right_id="id")
    left, right = with_spec_columns(LEFT, RIGHT, spec)
    assert "name_codes" in left.columns and "name_codes" in right.columns
    assert "name_codes" not in LEFT.columns
    found = generate_candidates(LEFT, RIGHT, spec, keep=0.5, top_k=1)
    best = dict(zip(found["left_id"], found["right_id"]))
    assert best["a1"] == "b1" and best["a2"] == "b2" and best["a6"] == "b6"
    assert "a5" not in best  # "quietcomfort 3" has no code: nothing to compare


def test_the_data_panel_offers_and_proposes_the_codes(services, tmp_path):
    uploads = uploaded_pair(services, tmp_path, LEFT, RIGHT, ("abt.csv", "buy.csv"))
    assert uploads["left"]["made"] == ["name_codes"] == code_names(LEFT)
    values, _ = proposal_for(LEFT, RIGHT)
    assert ("name_codes", "token_set") in [(f["left"], f["scorer"]) for f in values["fields"]]
    out = fill_panel(services, ids.UPLOAD_STORE, uploads, None, {}, None)
    row = out["fields"][[f["left"] for f in out["proposal"]["fields"]].index("name_codes")]
    left, right = (col.children for col in row.children[:2])
    assert (left.value, right.value) == ("name_codes", "name_codes")
    assert "name_codes" in left.options and "name" in left.options


def test_the_preview_shows_the_columns_a_run_makes_for_its_first_rows(services, tmp_path):
    from callbacks.propose import preview_of

    path = tmp_path / "abt.csv"
    LEFT.assign(dob_year=["1990"] * 6, dob_month=[5] * 6, dob_day=[6] * 6).to_csv(path, index=False)
    grid = preview_of(services, read_upload(services, path, path.name)).children[1]
    heads = [c["headerName"] for c in grid.columnDefs]
    assert heads[-2:] == ["dob (made)", "name_codes (made)"]
    assert grid.rowData[0]["name_codes"] == "40in kdl40v2500"
    assert grid.rowData[0]["dob"] == "1990-05-06"
    summary = grid.dashGridOptions["pinnedTopRowData"][0]
    assert summary["name_codes"] == "made from name"
    assert summary["dob"] == "made from dob_year, dob_month, dob_day"
    assert "% missing" in summary["name"]
