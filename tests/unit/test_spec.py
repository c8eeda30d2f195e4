"""The comparison spec: fields, blocking and their text forms."""

from __future__ import annotations

import pytest

from matching.engine.spec import (
    SCORERS,
    Block,
    Field,
    Normalization,
    Spec,
    parse_block,
    parse_field,
)


@pytest.mark.parametrize(
    ("text", "left", "right", "scorer", "weight"),
    [
        ("surname", "surname", "surname", "qratio", 1.0),
        ("given_name:jaro_winkler@2", "given_name", "given_name", "jaro_winkler", 2.0),
        ("OwnerSurname=Surname", "OwnerSurname", "Surname", "qratio", 1.0),
        ("a=b:token_set@0.5", "a", "b", "token_set", 0.5),
    ],
)
def test_parse_field_reads_columns_scorer_and_weight(text, left, right, scorer, weight):
    field = parse_field(text)
    assert (field.left, field.right, field.scorer, field.weight) == (left, right, scorer, weight)


@pytest.mark.parametrize(
    ("text", "cleaning", "left", "scorer"),
    [
        ("year:exact/number", Normalization(numbers=True), "year", "exact"),
        ("phone:levenshtein/digits@2", Normalization(digits=True), "phone", "levenshtein"),
        ("title/text", Normalization(), "title", "qratio"),
        ("a:ratio/flags:casefold", Normalization(True, False, False), "a", "ratio"),
        # A column whose name has a slash and no cleaning after it.
        ("km/h:exact", Normalization(), "km/h", "exact"),
    ],
)
def test_a_field_says_how_its_values_are_cleaned_after_a_slash(text, cleaning, left, scorer):
    field = parse_field(text)
    assert (field.normalization, field.left, field.scorer) == (cleaning, left, scorer)
    assert parse_field(field.text) == field


def test_the_proposals_printed_options_give_its_fields_with_their_cleaning():
    import pandas as pd

    from matching.engine.propose import propose

    left = pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "year": ["1999.0", "2001.0", "1987.0"],
            "title": ["a study of x", "on y and z", "the w method"],
        }
    )
    right = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "year": ["1999", "2001", "1987"],
            "title": ["study of x", "on y, z", "w method"],
        }
    )
    proposal = propose(left, right, left_id="id", right_id="id")
    given = [o.removeprefix("--field ") for o in proposal.options() if o.startswith("--field")]
    assert tuple(parse_field(t.strip("'")) for t in given) == proposal.spec.fields
    assert any(f.normalization.numbers for f in proposal.spec.fields)


@pytest.mark.parametrize("scorer", SCORERS)
def test_every_scorer_name_is_accepted(scorer):
    assert parse_field(f"name:{scorer}").scorer == scorer


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name:nope", "unknown scorer"),
        ("name@heavy", "not a number"),
        ("name@0", "weight must be > 0"),
        ("name@-1", "weight must be > 0"),
        ("=right", "missing the left column"),
        ("year:exact/flags:numbers+loud", "unknown cleaning flag"),
    ],
)
def test_parse_field_rejects_bad_text(text, message):
    with pytest.raises(ValueError, match=message):
        parse_field(text)


@pytest.mark.parametrize(
    ("text", "block"),
    [
        ("exact:city", Block("exact", "city", "city", 0)),
        ("prefix:surname:3", Block("prefix", "surname", "surname", 3)),
        ("sorted:surname=Surname:4", Block("sorted", "surname", "Surname", 4)),
    ],
)
def test_parse_block_reads_kind_columns_and_size(text, block):
    assert parse_block(text) == block


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fuzzy:city", "expected exact:COL"),
        ("prefix:city", "needs a size"),
        ("prefix:city:x", "not a whole number"),
        ("prefix:city:0", "at least 1"),
        ("exact:", "missing the column"),
        ("exact:a:b:c", "expected exact:COL"),
    ],
)
def test_parse_block_rejects_bad_text(text, message):
    with pytest.raises(ValueError, match=message):
        parse_block(text)


def test_spec_needs_a_field_and_unique_names():
    with pytest.raises(ValueError, match="at least one field"):
        Spec(fields=())
    with pytest.raises(ValueError, match="repeated: name"):
        Spec(fields=(Field("name"), Field("name", scorer="ratio")))


def test_spec_round_trips_through_dict_and_keeps_its_digest():
    spec = Spec(
        fields=(
            Field("given", "first", "jaro_winkler", 2.0, Normalization(casefold=False)),
            Field("surname"),
        ),
        left_id="id",
        right_id="car",
        block=Block("prefix", "surname", size=2),
    )
    again = Spec.from_dict(spec.to_dict())
    assert again == spec
    assert again.digest() == spec.digest()
    assert Spec(fields=(Field("surname"),)).digest() != spec.digest()
