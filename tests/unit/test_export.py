from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from matching.decisions.events import make_event, replay
from matching.decisions.export import (
    matched_table,
    neutralise,
    neutralise_frame,
    read_export,
    to_csv_bytes,
    to_excel_bytes,
    to_parquet_bytes,
)

WRITERS = {"csv": to_csv_bytes, "xlsx": to_excel_bytes, "parquet": to_parquet_bytes}

HOSTILE = [
    "=1+1",
    "+41 44 000 00 00",
    "-3",
    "@SUM(A1:A2)",
    "\tTab",
    "\rReturn",
    "'already quoted",
    "''two quotes",
    '=HYPERLINK("http://x","y")',
    "<script>alert(1)</script>",
    "_x0041_",
    "_x005F_x0041_",
    "a_xABCD\x01",
    "\x00\x01\x1f\x7f",
    "Zürich 🚀 שלום مرحبا",
    "\u202eevil\u202c",
    "\ufffe\uffff",
    "line\r\nbreak\rand\n",
    '"quoted", with comma',
    "007",
    "1e5",
    "True",
    " padded ",
    "  =1+1",
    "\u00a0=1+1",
    "\u3000@SUM(A1)",
    "\uff1d1+1",
    "\uff0bcmd",
    "\uff0d2",
    "\uff20SUM(A1)",
    ' \u00a0 \uff1dHYPERLINK("http://x")',
]

texts = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=12),
    st.builds(lambda a, b: a + b, st.sampled_from(HOSTILE), st.text(max_size=6)),
)

numbers = st.floats(min_value=-1e300, max_value=1e300) | st.sampled_from([np.nan, np.inf, -np.inf])


@st.composite
def frames(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 6))
    cell = st.one_of(st.none(), texts)
    return pd.DataFrame(
        {
            draw(st.sampled_from(["name", "=cmd", "'note", "_x0009_"])): pd.Series(
                draw(st.lists(cell, min_size=n, max_size=n)), dtype=str
            ),
            "score": pd.Series(
                draw(
                    st.lists(
                        st.floats(min_value=-1e300, max_value=1e300)
                        | st.sampled_from([np.nan, np.inf, -np.inf]),
                        min_size=n,
                        max_size=n,
                    )
                ),
                dtype=float,
            ),
            "count": pd.Series(
                draw(st.lists(st.integers(-(2**53), 2**53), min_size=n, max_size=n)),
                dtype="int64",
            ),
            "automatic": pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n))),
        }
    )


def expected_after(fmt: str, frame: pd.DataFrame) -> pd.DataFrame:
    """What a format can give back.

    Excel has no empty text, only an empty cell; a CSV or Excel column without
    any value does not say what it would have held, and reads as float NaN.
    """
    if fmt == "parquet":
        return frame
    text = frame.columns[0]
    if fmt == "xlsx":
        frame = frame.assign(**{text: frame[text].replace("", np.nan)})
    if frame[text].isna().all():
        frame = frame.assign(**{text: frame[text].astype(float)})
    return frame


@pytest.mark.parametrize("fmt", list(WRITERS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames())
def test_export_then_import_gives_the_same_data(fmt, frame):
    back = read_export(WRITERS[fmt](frame), fmt)
    # openpyxl writes numbers with 16 significant digits ("%.16g").
    exact = fmt != "xlsx"
    pd.testing.assert_frame_equal(
        back, expected_after(fmt, frame), check_exact=exact, rtol=1e-15, atol=0
    )


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_every_hostile_string_survives_a_round_trip(fmt):
    frame = pd.DataFrame({"text": pd.Series(HOSTILE[:-1], dtype=str)})
    pd.testing.assert_frame_equal(read_export(WRITERS[fmt](frame), fmt), frame)


def test_csv_starts_with_a_byte_order_mark():
    assert to_csv_bytes(pd.DataFrame({"a": ["x"]})).startswith(b"\xef\xbb\xbf")


def test_csv_quotes_text_but_not_numbers():
    frame = pd.DataFrame({"t": ["=1+1", "7"], "n": [-1.5, 2.0], "i": [3, -4]})
    lines = to_csv_bytes(frame).decode("utf-8-sig").splitlines()
    assert lines == ['"t","n","i"', '"\'=1+1",-1.5,3', '"7",2.0,-4']


def test_csv_tells_an_empty_text_from_a_missing_value():
    frame = pd.DataFrame({"t": pd.Series(["", None], dtype=str)})
    assert to_csv_bytes(frame).decode("utf-8-sig").splitlines()[1:] == ['""', ""]
    pd.testing.assert_frame_equal(read_export(to_csv_bytes(frame), "csv"), frame)


def test_excel_formula_cell_is_neutralised_when_opened():
    frame = pd.DataFrame({"t": ["=1+1", "@cmd", "plain"], "n": [1.5, -2.0, 3.0]})
    sheet = load_workbook(io.BytesIO(to_excel_bytes(frame))).active
    cells = [[(c.value, c.data_type) for c in row] for row in sheet.iter_rows(min_row=2)]
    assert cells == [
        [("'=1+1", "s"), (1.5, "n")],
        [("'@cmd", "s"), (-2.0, "n")],
        [("plain", "s"), (3.0, "n")],
    ]


FORMULAS_AFTER_SPACES = ["  =1+1", "\u00a0=1+1", "\u3000@SUM(A1)", "\u200b-2", "\ufeff+1"]
FULL_WIDTH = ["\uff1d1+1", "\uff0bcmd", "\uff0d2", "\uff20SUM(A1)", " \uff1dA1"]


@pytest.mark.parametrize("text", FORMULAS_AFTER_SPACES + FULL_WIDTH)
def test_formulas_after_spaces_and_full_width_ones_are_neutralised(text):
    assert neutralise(text) == "'" + text
    frame = pd.DataFrame({"t": [text]})
    assert to_csv_bytes(frame).decode("utf-8-sig").splitlines()[1] == f'"\'{text}"'
    sheet = load_workbook(io.BytesIO(to_excel_bytes(frame))).active
    assert sheet["A2"].value == "'" + text
    pd.testing.assert_frame_equal(read_export(to_csv_bytes(frame), "csv"), frame)


@pytest.mark.parametrize("text", ["plain", "a=b", "x-1", " padded ", "7", "\uff58\uff1d1"])
def test_ordinary_text_is_left_alone(text):
    assert neutralise(text) == text


def test_neutralise_frame_quotes_text_and_keeps_numbers():
    frame = pd.DataFrame(
        {
            "left_id": ["=1+1", "ok", None],
            "right_id": pd.Categorical(["@x", "y", "@x"]),
            "score": [0.5, 1.0, -1.0],
        }
    )
    out = neutralise_frame(frame)
    assert out["left_id"].tolist()[:2] == ["'=1+1", "ok"] and out["left_id"].isna()[2]
    assert out["right_id"].astype(str).tolist() == ["'@x", "y", "'@x"]
    assert out["score"].tolist() == [0.5, 1.0, -1.0]
    assert frame["left_id"][0] == "=1+1"  # the input is not changed


def test_excel_escapes_control_characters_the_way_excel_does():
    frame = pd.DataFrame({"t": ["a\x01b", "_x0041_"]})
    sheet = load_workbook(io.BytesIO(to_excel_bytes(frame))).active
    assert [row[0].value for row in sheet.iter_rows(min_row=2)] == ["a_x0001_b", "_x005F_x0041_"]


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown export format 'pdf'"):
        read_export(b"", "pdf")


# -- the matched table -----------------------------------------------------


@pytest.fixture
def tables():
    left = pd.DataFrame({"lid": ["a", "b", "c"], "name": ["Ann", "=Bob", "Cy"]})
    right = pd.DataFrame({"rid": ["x", "y", "z"], "name": ["Anne", "Bobby", "Cyd"], "n": [1, 2, 3]})
    candidates = pd.DataFrame(
        {"left_id": ["a", "b", "b"], "right_id": ["x", "y", "z"], "score": [0.9, 0.8, 0.7]}
    )
    return left, right, candidates


def test_matched_table_has_one_row_per_accepted_pair_with_provenance(tables):
    left, right, candidates = tables
    before = (left.copy(), right.copy())
    state = replay(
        [
            make_event(
                "accept",
                event_id="1",
                left_id="b",
                right_ids=["z", "y"],
                reviewer="ann",
                now=1700000000.5,
                edits={"y": {"name": "Robert"}},
                scores={"y": 0.8},
                thresholds={"keep": 0.5, "select": 0.85},
                reason="same family — twins, =both",
            ),
            make_event("reject", event_id="2", left_id="c", reviewer="ann", now=1700000001),
            make_event(
                "accept",
                event_id="3",
                left_id="a",
                right_ids=["x"],
                reviewer="bot",
                now=1700000002,
                automatic=True,
                scores={"x": 0.95},
                thresholds={"keep": 0.5, "select": 0.9, "auto": 0.95},
            ),
        ]
    )
    table = matched_table(state, candidates, left, right, spec_left_id="lid", spec_right_id="rid")
    expected = pd.DataFrame(
        {
            "left_id": ["b", "b", "a"],
            "right_id": ["z", "y", "x"],
            "score": [0.7, 0.8, 0.95],
            "left_name": ["=Bob", "=Bob", "Ann"],
            "right_name": ["Cyd", "Robert", "Anne"],
            "right_n": [3, 2, 1],
            "reviewer": ["ann", "ann", "bot"],
            "decided_at": [
                "2023-11-14T22:13:20.500Z",
                "2023-11-14T22:13:20.500Z",
                "2023-11-14T22:13:22.000Z",
            ],
            "automatic": [False, False, True],
            "edited": pd.Series([None, "name", None], dtype=str),
            "original": pd.Series([None, '{"name": "Bobby"}', None], dtype=str),
            "reason": pd.Series(
                ["same family — twins, =both", "same family — twins, =both", None], dtype=str
            ),
            "threshold_keep": [0.5, 0.5, 0.5],
            "threshold_select": [0.85, 0.85, 0.9],
            "threshold_auto": [np.nan, np.nan, 0.95],
        }
    )
    pd.testing.assert_frame_equal(table, expected)
    pd.testing.assert_frame_equal(left, before[0])
    pd.testing.assert_frame_equal(right, before[1])
    for fmt, write in WRITERS.items():
        pd.testing.assert_frame_equal(read_export(write(table), fmt), expected)


def test_matched_table_uses_row_positions_without_id_columns(tables):
    left, right, candidates = tables
    state = replay([make_event("accept", event_id="1", left_id="2", right_ids=["0"], now=0)])
    table = matched_table(
        state,
        candidates,
        left,
        right,
        spec_left_id=None,
        spec_right_id=None,
        columns=["name"],
    )
    assert table[["left_id", "right_id", "left_name", "right_name"]].to_dict("records") == [
        {"left_id": "2", "right_id": "0", "left_name": "Cy", "right_name": "Anne"}
    ]
    assert np.isnan(table.loc[0, "score"])


def test_matched_table_of_a_review_without_matches_is_empty(tables):
    left, right, candidates = tables
    state = replay([make_event("reject", event_id="1", left_id="a", now=0)])
    table = matched_table(state, candidates, left, right, spec_left_id="lid", spec_right_id="rid")
    assert len(table) == 0
    assert list(table.columns[:3]) == ["left_id", "right_id", "score"]


def test_matched_table_names_a_missing_column_or_record(tables):
    left, right, candidates = tables
    state = replay([make_event("accept", event_id="1", left_id="q", right_ids=["x"], now=0)])
    with pytest.raises(ValueError, match="no record 'q'"):
        matched_table(state, candidates, left, right, spec_left_id="lid", spec_right_id="rid")
    with pytest.raises(ValueError, match="neither table has column 'zip'"):
        matched_table(
            replay([]),
            candidates,
            left,
            right,
            spec_left_id="lid",
            spec_right_id="rid",
            columns=["zip"],
        )


def _csv_row_by_row(frame: pd.DataFrame) -> bytes:
    """CSV as the export wrote it before it formatted columns in Arrow: cell by cell."""
    from matching.decisions.export import _cell, _csv_field

    lines = [",".join(_csv_field(str(c)) for c in frame.columns)]
    for row in frame.itertuples(index=False, name=None):
        lines.append(",".join(_csv_field(_cell(v)) for v in row))
    return ("\ufeff" + "".join(line + "\r\n" for line in lines)).encode("utf-8")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames(), as_object=st.booleans())
def test_csv_written_by_columns_is_byte_for_byte_the_cell_by_cell_csv(frame, as_object):
    text = frame.columns[0]
    if as_object:  # text as Python objects (an upload) rather than Arrow text (a project file)
        frame = frame.assign(**{text: frame[text].astype(object).where(frame[text].notna())})
    mixed = pd.Series([1, "=x", None, 2.5, True, np.nan][: len(frame)], dtype=object)
    frame = frame.assign(mixed=mixed.reindex(range(len(frame))).to_numpy())
    assert to_csv_bytes(frame) == _csv_row_by_row(frame)


def test_every_white_space_python_allows_before_a_formula_is_neutralised_in_csv():
    import re

    spaces = [chr(c) for c in range(0x3100) if re.match(r"\s", chr(c))]
    frame = pd.DataFrame({"text": pd.Series([s + "=1" for s in spaces] + ["\u200b@x"], dtype=str)})
    assert to_csv_bytes(frame) == _csv_row_by_row(frame)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.sampled_from(HOSTILE), st.text("=+-@ab'1", max_size=4)),
        max_size=30,
    )
)
def test_neutralise_frame_equals_neutralise_cell_by_cell(values):
    # The fast path (each distinct value once) against the plain rule, value by value.
    frame = pd.DataFrame({"id": pd.Series(values, dtype=object), "n": range(len(values))})
    out = neutralise_frame(frame)["id"].tolist()
    assert out == [neutralise(v) if isinstance(v, str) else v for v in values]
