"""Saved set-ups: TOML and JSON files that hold the tables, spec and thresholds."""

from __future__ import annotations

import json
import tomllib

import pandas as pd
import pytest

from matching.engine.candidates import generate_candidates
from matching.engine.demo import generate_tables
from matching.engine.propose import propose
from matching.engine.spec import (
    Field,
    Normalization,
    Setup,
    Spec,
    dumps_setup,
    loads_setup,
    parse_block,
    read_setup,
    write_setup,
)
from matching.engine.weights import LearnedWeights


def full_setup() -> Setup:
    learned = LearnedWeights(
        fields=("Nom de famille", 'say "hi"'),
        m=((0.9, 0.05, 0.03, 0.02), (0.8, 0.1, 0.05, 0.05)),
        u=((0.01, 0.02, 0.07, 0.9), (0.02, 0.03, 0.05, 0.9)),
        prior=0.001,
    )
    spec = Spec(
        fields=(
            Field("Nom de famille", "surname", "jaro_winkler", 2.0),
            Field('say "hi"', "greeting", "token_set", 0.5, Normalization(casefold=False)),
        ),
        left_id="id gauche",
        right_id=None,
        block=(parse_block("exact:Nom de famille=surname[:3]"), parse_block("sorted:greeting:4")),
        learned=learned,
    )
    return Setup(spec, left="données/left.csv", right="right.parquet", keep=0.35, select=0.9)


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_a_set_up_round_trips_through_its_text(fmt):
    setup = full_setup()
    text = dumps_setup(setup, fmt)
    assert loads_setup(text, fmt) == setup
    data = json.loads(text) if fmt == "json" else tomllib.loads(text)
    assert data["tables"] == {
        "left": "données/left.csv",
        "right": "right.parquet",
        "left_id": "id gauche",
    }
    assert data["rules"] == ["exact:Nom de famille=surname[:3]", "sorted:greeting:4"]
    assert data["thresholds"] == {"keep": 0.35, "select": 0.9}
    assert [f["scorer"] for f in data["fields"]] == ["jaro_winkler", "token_set"]


def test_a_saved_proposal_reruns_to_the_same_candidates(tmp_path):
    tables = generate_tables(400, seed=9)
    left, right = tables.owners, tables.cars
    spec = propose(left, right, budget=40_000).spec
    assert spec.block, "the saved set-up should carry blocking rules too"
    path = tmp_path / "setup.toml"
    write_setup(Setup(spec, "l.csv", "r.csv", keep=0.4, select=0.85), path)
    again = read_setup(path)
    assert again.spec == spec and (again.keep, again.select) == (0.4, 0.85)
    first = generate_candidates(left, right, spec, keep=0.4)
    second = generate_candidates(left, right, again.spec, keep=again.keep)
    assert len(first) > 300
    pd.testing.assert_frame_equal(first, second)


def test_table_paths_are_read_relative_to_the_file(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    write_setup(
        Setup(Spec(fields=(Field("a"),)), "in/l.csv", str(tmp_path / "r.csv")), folder / "s.json"
    )
    setup = read_setup(folder / "s.json")
    assert setup.left == str(folder / "in" / "l.csv")
    assert setup.right == str(tmp_path / "r.csv")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("s.yaml", "", "a set-up file ends in .toml or .json"),
        ("s.toml", "fields = [", "cannot read the set-up as TOML"),
        ("s.json", "{}", "not a set-up file"),
        ("s.json", '{"format": "matchdesk-setup", "fields": []}', "at least one field"),
        (
            "s.toml",
            'format = "matchdesk-setup"\n[[fields]]\nleft = "a"\nscorer = "nope"\n',
            "unknown scorer 'nope'",
        ),
        (
            "s.toml",
            'format = "matchdesk-setup"\nrules = ["exact:"]\n[[fields]]\nleft = "a"\n',
            "missing the column name",
        ),
        (
            "s.toml",
            'format = "matchdesk-setup"\n[thresholds]\nkeep = 3\n[[fields]]\nleft = "a"\n',
            "keep must be between 0 and 1",
        ),
    ],
)
def test_a_bad_set_up_file_is_refused_naming_it(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as caught:
        read_setup(path)
    assert str(path) in str(caught.value)


def test_a_missing_set_up_file_names_itself(tmp_path):
    with pytest.raises(ValueError, match=r"nowhere\.toml: cannot read the set-up"):
        read_setup(tmp_path / "nowhere.toml")
