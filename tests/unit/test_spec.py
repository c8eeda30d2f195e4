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
