"""Data panel: blocking rules with a live per-rule pair count, learned weights, run."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from callbacks.data import PAIR_BUDGET, count_view
from components.data import learned_table
from matching.engine.blocking import Blocking
from matching.engine.demo import generate_tables
from matching.engine.form import LearnedForFields, spec_from_rows
from matching.engine.spec import (
    CLEANINGS,
    Normalization,
    cleaning_name,
    cleaning_text,
    parse_block,
    parse_rules,
)
from matching.engine.training import learn_for_tables
from tests.helpers import texts


@pytest.fixture(scope="module")
def people():
    tables = generate_tables(600, seed=9)
    return tables.owners, tables.cars


def test_rules_are_read_one_per_line_and_a_bad_one_is_named():
    assert parse_rules("exact:postcode\n\n  exact:surname+birth_date \n") == (
        parse_block("exact:postcode"),
        parse_block("exact:surname+birth_date"),
    )
    assert parse_rules(None) == ()
    with pytest.raises(ValueError, match="block 'exact:a\\[x\\]'"):
        parse_rules("exact:postcode\nexact:a[x]")


def test_count_shows_each_rule_what_it_adds_and_the_total(people):
    left, right = people
    text = "exact:postcode\nexact:surname+birth_date"
    shown = texts(count_view(left, right, text))
    counts = Blocking(left, right, parse_rules(text)).count()
    for c in counts:
        i = shown.index(c.rule)
        assert shown[i + 1 : i + 3] == [f"{c.pairs:,}", f"{c.added:,}"]
    total = sum(c.added for c in counts)
    assert shown[-2:] == [f"{total:,}", f"{total:,} pairs to score after blocking"]
    assert not any("budget" in t for t in shown)


def test_count_without_rules_warns_above_the_pair_budget():
    big = pd.DataFrame({"a": ["x"] * 10_000})
    shown = texts(count_view(big, big.iloc[: PAIR_BUDGET // 10_000 + 1], ""))
    assert any("over the budget" in t for t in shown)
    assert shown[-1] == "50,010,000 pairs to score (10,000 x 5,001)"


def test_each_rows_cleaning_becomes_its_fields_normalization():
    spec = spec_from_rows(
        ["surname", "year", "phone", "code", "note"],
        [None] * 5,
        ["jaro_winkler", "levenshtein", "exact", "exact", "qratio"],
        [1, 1, 2, 1, 1],
        ["text", "number", "digits", "flags:casefold+numbers", None],
        "pid",
        "cid",
    )
    assert [f.normalization for f in spec.fields] == [
        Normalization(),
        Normalization(numbers=True),
        Normalization(digits=True),
        Normalization(casefold=True, strip_accents=False, collapse=False, numbers=True),
        Normalization(),  # a row with no cleaning given is cleaned as text
    ]
    assert [cleaning_name(f.normalization) for f in spec.fields] == [
        "text",
        "number",
        "digits",
        None,
        "text",
    ]


@pytest.mark.parametrize("name", list(CLEANINGS))
def test_a_named_cleaning_is_written_and_read_by_its_name(name):
    assert cleaning_text(CLEANINGS[name]) == name
    assert cleaning_name(CLEANINGS[name]) == name


@pytest.mark.parametrize(
    ("clean", "message"),
    [
        ("bogus", "field 'year': unknown cleaning 'bogus'; choose one of text, number, digits"),
        (5, "field 'year': unknown cleaning '5'"),
        (["text"], "field 'year': unknown cleaning"),
        ({"numbers": True}, "field 'year': unknown cleaning"),
        ("flags:numbers+shout", "field 'year': unknown cleaning flag 'shout'; flags are casefold"),
    ],
)
def test_a_forged_cleaning_is_refused_with_a_message(clean, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        spec_from_rows(["year"], [None], ["exact"], [1], [clean], None, None)


@pytest.mark.parametrize("cleanings", [[], ["text", "text"], "text", None, 3])
def test_field_rows_that_do_not_line_up_are_refused(cleanings):
    with pytest.raises(ValueError, match="the field rows do not line up"):
        spec_from_rows(["year"], [None], ["exact"], [1], cleanings, None, None)


def test_count_of_a_rule_on_a_missing_column_names_the_rule(people):
    left, right = people
    with pytest.raises(ValueError, match="block 'exact:nope': the left table has no column"):
        count_view(left, right, "exact:nope")


def test_learned_weights_are_shown_and_used_by_the_run_while_the_fields_stay(people):
    left, right = people
    args = (
        ["given_name", "surname"],
        [None, None],
        ["qratio", "qratio"],
        [1, 1],
        ["text", "text"],
        "owner_id",
        "car_id",
    )
    spec = spec_from_rows(*args, "exact:postcode\nexact:surname+birth_date")
    weights = learn_for_tables(left, right, spec).weights
    shown = texts(learned_table(weights.to_dict()))
    assert shown[:2] == ["field", "match weight by level"] and "given_name" in shown
    assert any(cell.startswith("exact +") for cell in shown)
    learned = LearnedForFields.of(weights, spec.fields).to_dict()
    with_weights = spec_from_rows(*args, "exact:postcode", learned)
    assert with_weights.learned == weights and with_weights.block
    assert spec_from_rows(*args, "", learned).learned is not None
    reweighted = (*args[:3], [2, 1], *args[4:])  # a field's weight in the mean: still fits
    assert spec_from_rows(*reweighted, "", learned).learned is not None
    other_fields = spec_from_rows(
        ["surname"], [None], ["qratio"], [1], [None], None, None, "", learned
    )
    assert other_fields.learned is None
    # The same names with another scorer or cleaning: levels and values mean something
    # else, so the weights are not used (Run scores by the mean until they are learned).
    other_scorer = (*args[:2], ["jaro_winkler", "qratio"], *args[3:])
    assert spec_from_rows(*other_scorer, "", learned).learned is None
    other_cleaning = (*args[:4], ["digits", "text"], *args[5:])
    assert spec_from_rows(*other_cleaning, "", learned).learned is None
    for forged in ({"fields": "x"}, {"weights": {}, "fields": []}, ["x"], weights.to_dict()):
        with pytest.raises(ValueError, match="use Learn weights again"):
            spec_from_rows(*args, "", forged)


def test_weights_are_learned_without_a_blocking_rule_too(people):
    left, right = people
    spec = spec_from_rows(
        ["surname", "given_name"],
        [None, None],
        ["qratio"] * 2,
        [1, 1],
        ["text"] * 2,
        None,
        None,
        "",
    )
    learned = learn_for_tables(left, right, spec).weights
    assert learned.fields == ("surname", "given_name")
    assert all(learned.bits(f)[0] > 2 for f in range(2))


def test_the_proposed_keep_and_pre_select_are_the_scores_at_1_and_50_percent(people):
    from matching.engine.training import KEEP_PROBABILITY, SELECT_PROBABILITY

    left, right = people
    spec = spec_from_rows(
        ["surname", "given_name", "postcode"],
        [None, None, None],
        ["jaro_winkler"] * 3,
        [1, 1, 1],
        ["text"] * 3,
        None,
        None,
        "",
    )
    proposed = learn_for_tables(left, right, spec)
    w = proposed.weights
    for score, chance in ((proposed.keep, KEEP_PROBABILITY), (proposed.select, SELECT_PROBABILITY)):
        # Rounded to two places: within a hundredth of the score's span of bits.
        near = w.probability(w.unscale([score - 0.01, score + 0.01]))
        assert near[0] <= chance <= near[1]
    # The prior is the share of matches among all pairs, not among agreeing ones.
    assert w.prior < 5 / min(len(left), len(right))
