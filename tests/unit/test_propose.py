"""The proposed set-up: column profiles, IDs, fields and scorers, blocking within a budget."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import matching.engine.propose
import matching.engine.rule_choice
from matching.engine.blocking import Blocking, joint_key_codes
from matching.engine.demo import GENERATED_FIELDS, generate_tables, tutorial_cars, tutorial_owners
from matching.engine.propose import NoSharedColumns, column_key, profile_table, propose, scorer_for
from matching.engine.spec import Block, Key

#: The scorer each generated field should get, by what it holds.
EXPECTED_SCORERS = {
    "given_name": "jaro_winkler",
    "surname": "jaro_winkler",
    "city": "jaro_winkler",
    "street": "token_set",
    "postcode": "levenshtein",
    "birth_date": "date",
}


@pytest.fixture(scope="module")
def generated():
    return generate_tables(2_000, seed=5)


def test_proposal_on_generated_tables_picks_the_ids_and_every_shared_field(generated):
    proposal = propose(generated.owners, generated.cars)
    spec = proposal.spec
    assert (spec.left_id, spec.right_id) == ("owner_id", "car_id")
    assert [f.name for f in spec.fields] == list(GENERATED_FIELDS)
    assert {f.name: f.scorer for f in spec.fields} == EXPECTED_SCORERS
    assert all(f.left == f.right and f.weight == 1.0 for f in spec.fields)
    assert "only in the left table: email" in proposal.notes
    assert "only in the right table: car_name" in proposal.notes


def test_blocking_stays_within_the_budget_and_keeps_the_true_links(generated):
    left, right, links = generated.owners, generated.cars, generated.links
    budget = 500_000  # a fifth of the 2,000 x 2,200 pairs
    proposal = propose(left, right, budget=budget)
    rules = proposal.spec.block
    assert rules, "tables over the budget get blocking rules"
    counts = Blocking(left, right, rules).count()
    assert [(c.rule, c.pairs, c.added) for c in proposal.rule_counts] == [
        (c.rule, c.pairs, c.added) for c in counts
    ]
    assert proposal.pairs == sum(c.added for c in counts) <= budget
    li, ri = Blocking(left, right, rules).pairs()
    kept = set(zip(left["owner_id"].to_numpy()[li], right["car_id"].to_numpy()[ri]))
    found = np.mean([pair in kept for pair in zip(links["left_id"], links["right_id"])])
    assert found >= 0.99
    assert "the rules keep" in proposal.report()


def test_tables_within_the_budget_get_no_blocking(generated):
    proposal = propose(generated.owners.head(50), generated.cars.head(60))
    assert proposal.spec.block == ()
    assert proposal.pairs == 50 * 60
    assert "no blocking: all 3,000 pairs are scored" in proposal.report()


def test_the_tutorial_compares_the_owner_names_by_their_ids():
    spec = propose(tutorial_owners(), tutorial_cars()).spec
    assert (spec.left_id, spec.right_id) == ("OwnerID", "CarID")
    assert [f.text for f in spec.fields] == [
        "OwnerName:jaro_winkler",
        "OwnerSurname:jaro_winkler",
    ]


def test_column_names_match_ignoring_case_spaces_underscores_and_synonyms():
    left = pd.DataFrame(
        {
            "Record ID": ["a", "b", "c"],
            "Surname": ["Smith", "Jones", "Brown"],
            "First Name": ["Ann", "Bob", "Cy"],
            "DOB": ["1990-01-02", "1985-03-04", "1970-05-06"],
            "Zip": ["02134", "10001", "94105"],
            "E-mail": ["a@x.org", "b@x.org", "c@x.org"],
        }
    )
    right = pd.DataFrame(
        {
            "family_name": ["Smyth", "Jones", "Browne"],
            "forename": ["Anne", "Bob", "Cy"],
            "date_of_birth": ["02/01/1990", "04/03/1985", "06/05/1970"],
            "postal_code": ["02134", "10001", "94105"],
            "EMAIL": ["a@x.org", "b@x.org", "c@x.org"],
            "city": ["Oxford", "Bath", "Leeds"],
        }
    )
    proposal = propose(left, right)
    assert [f.text for f in proposal.spec.fields] == [
        "Surname=family_name:jaro_winkler",
        "First Name=forename:jaro_winkler",
        "DOB=date_of_birth:date",
        "Zip=postal_code:levenshtein/number",
        "E-mail=EMAIL:levenshtein",
    ]
    assert (proposal.spec.left_id, proposal.spec.right_id) == ("Record ID", None)
    assert any("rows are numbered" in note and "right" in note for note in proposal.notes)
    assert column_key("Last_Name") == column_key("last name") == "surname"


def test_tables_with_no_shared_column_names_get_a_clear_message():
    left = pd.DataFrame({"a": ["1"], "b": ["x"]})
    right = pd.DataFrame({"c": ["1"], "d": ["x"]})
    with pytest.raises(
        NoSharedColumns, match=r"no column names in common.*left: a, b; right: c, d"
    ):
        propose(left, right)


def test_sharing_only_an_id_column_is_not_a_proposal():
    left = pd.DataFrame({"rec_id": ["1", "2"], "name": ["Ann", "Bob"]})
    right = pd.DataFrame({"rec_id": ["7", "8"], "full": ["ann", "bob"]})
    with pytest.raises(NoSharedColumns, match=r"rec_id: an ID column"):
        propose(left, right)


def test_near_constant_and_mostly_empty_columns_are_left_out():
    n = 200
    names = [f"name{i}" for i in range(n)]
    left = pd.DataFrame(
        {
            "name": names,
            "country": ["AU"] * n,
            "fax": [None] * (n - 2) + ["1", "2"],
        }
    )
    right = left.copy()
    proposal = propose(left, right)
    assert [f.name for f in proposal.spec.fields] == ["name"]
    assert "left out country: nearly the same value in every row" in proposal.notes
    assert "left out fax: mostly missing" in proposal.notes


def test_a_given_id_is_kept_and_not_compared():
    left = pd.DataFrame(
        {"email": ["a@x.org", "b@x.org"], "surname": ["Smith", "Jones"], "city": ["Ely", "Rye"]}
    )
    proposal = propose(left, left.copy(), left_id="email", right_id="email")
    assert (proposal.spec.left_id, proposal.spec.right_id) == ("email", "email")
    assert [f.name for f in proposal.spec.fields] == ["surname", "city"]
    with pytest.raises(ValueError, match="the left table has no ID column 'nope'"):
        propose(left, left.copy(), left_id="nope")


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["Ann", "Bob", "Mary Jo", "O'Brien", None], "name"),
        (["12 Oak Street", "3 Mill Road", "400 High Lane"], "text"),
        (["A long description of the thing, with many words in it " * 2] * 3, "long_text"),
        (["12", "7", "399", "40"], "number"),
        (["02134", "10001", "94105", "00501"], "code"),
        (["SW1A 1AA", "EC1A 1BB", "W1A 0AX"], "code"),
        (["NSW", "VIC", "QLD", "NSW"], "code"),
        (["+61 2 9999 1234", "(02) 9876 5432", "0412 345 678"], "code"),
        (["1990-01-02", "1985-12-31", "2001-07-04"], "date"),
        (["02/01/1990", "31/12/1985", "04/07/2001"], "date"),
        (["ann@example.com", "bob@example.org", "c.d@x.co"], "email"),
    ],
)
def test_profile_guesses_what_a_column_holds(values, kind):
    (profile,) = profile_table(pd.DataFrame({"col": values}))
    assert profile.kind == kind


def test_profile_counts_missing_and_distinct_values_and_finds_ids():
    frame = pd.DataFrame(
        {
            "person_id": ["p1", "p2", "p3", "p4"],
            "code_id": ["x", "x", "y", "z"],  # id-like name, but repeats
            "name": ["Ann", " ", None, "Ann"],
        }
    )
    person, code, name = profile_table(frame)
    assert (person.kind, person.unique, person.distinct, person.missing) == ("id", True, 4, 0.0)
    assert code.kind != "id" and not code.unique
    assert (name.missing, name.distinct, name.top_share) == (0.5, 1, 1.0)
    assert name.near_constant


def test_proposal_is_the_same_each_time(generated):
    a = propose(generated.owners, generated.cars, budget=500_000)
    b = propose(generated.owners, generated.cars, budget=500_000)
    assert a.spec == b.spec and a.rule_counts == b.rule_counts


@pytest.mark.parametrize(
    ("kind", "distinct", "values", "scorer"),
    [
        ("code", 8, 5_000, "exact"),  # a state: a category
        ("number", 2, 300, "exact"),
        ("code", 40, 40, "levenshtein"),  # every postcode different
        ("code", 4_800, 5_000, "levenshtein"),
        ("number", 400, 5_000, "levenshtein"),
        ("name", 10, 5_000, "jaro_winkler"),
        ("text", 10, 5_000, "token_set"),
        ("long_text", 10, 5_000, "tfidf"),
        ("date", 10, 5_000, "date"),
        ("email", 10, 5_000, "levenshtein"),
    ],
)
def test_each_kind_gets_its_scorer(kind, distinct, values, scorer):
    assert scorer_for(kind, distinct, values) == scorer


def test_an_empty_table_gets_a_clear_message():
    left = pd.DataFrame({"name": ["Ann"]})
    with pytest.raises(ValueError, match="the right table has no rows"):
        propose(left, left.iloc[:0])


def test_rules_chosen_on_a_sample_are_those_the_full_pair_joins_choose(generated, monkeypatch):
    left, right = generated.owners, generated.cars
    options = {"budget": 500_000, "sample": 700}  # a sample of the left rows, as at 1M rows
    fast = propose(left, right, **options)

    # The same choice made by joining the sample's pairs with Blocking and counting
    # the union by making its pairs, as the proposal did before it counted group sizes.
    def joined(rules, codes, rows, n_left):
        return Blocking(left.iloc[rows].reset_index(drop=True), right, rules)

    monkeypatch.setattr(matching.engine.rule_choice, "SampleRules", joined)
    monkeypatch.setattr(
        matching.engine.propose,
        "count_rules",
        lambda lf, rf, rules, cache, one_table=False: Blocking(lf, rf, rules).count(),
    )
    slow = propose(left, right, **options)
    assert fast.spec == slow.spec and len(fast.spec.block) >= 2
    assert fast.rule_counts == slow.rule_counts
    assert (fast.pairs, fast.coverage) == (slow.pairs, slow.coverage)


def test_sampled_rule_pairs_are_the_pairs_blocking_makes(generated):
    left, right = generated.owners, generated.cars
    rules = [
        Block("exact", keys=(Key("surname", None, ":3"), Key("city"))),
        Block("exact", "postcode"),
    ]
    rows = np.arange(0, len(left), 3)
    cache: dict = {}
    codes = {k: joint_key_codes(left, right, k, cache) for r in rules for k in r.keys}
    fast = matching.engine.rule_choice.SampleRules(rules, codes, rows, len(left))
    slow = Blocking(left.iloc[rows].reset_index(drop=True), right, rules)
    assert fast.rule_sizes() == slow.rule_sizes()
    for k in range(len(rules)):
        li, ri = fast.rule_pairs(k, 0, len(rows))
        assert sorted(zip(li, ri)) == list(zip(*slow.rule_pairs(k, 0, len(rows))))
        assert slow.keeps(k, li, ri).all() and fast.keeps(k, li, ri).all()


def test_no_rule_that_keeps_no_pair_is_proposed():
    """When no two records agree on any value, a rule on one of them keeps nothing:
    proposing it would leave the run without a single candidate."""
    from matching.engine.blocking import count_rules
    from matching.engine.propose import propose

    rows = 400
    left = pd.DataFrame({"name": [f"person {i}" for i in range(rows)], "id": range(rows)})
    right = pd.DataFrame({"name": [f"Person {i}x" for i in range(rows)], "id": range(rows)})
    left, right = left.astype(str), right.astype(str)
    proposal = propose(left, right, left_id="id", right_id="id", budget=10_000)
    rules = proposal.spec.block
    if rules:
        assert sum(c.added for c in count_rules(left, right, list(rules))) > 0
