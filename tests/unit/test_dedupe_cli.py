"""Deduplicating one table on the command line (``--dedupe``) and proposing its set-up."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest

from matching.cli import main
from matching.decisions.clusters import cluster_ids_reference
from matching.engine.blocking import Blocking
from matching.engine.candidates import count_pairs, generate_candidates, plan
from matching.engine.demo import generate_tables
from matching.engine.propose import propose
from matching.engine.spec import Spec, parse_block, parse_field, read_setup
from matching.engine.training import train

ROWS = [
    ("a1", "Ann", "Lee", "1990-01-02", "Leeds"),
    ("a2", "Anne", "Lee", "1990-01-02", "Leeds"),
    ("a3", "Bob", "Ray", "1980-05-06", "York"),
    ("a4", "Bob", "Ray", "1980-05-06", "York"),  # an exact duplicate of a3
    ("a5", "Cy", "Li", "1970-03-03", "Hull"),
    ("a6", "Dee", "Oh", "1960-07-07", "Bath"),
    ("a7", "Ann", "Lee", "1990-01-02", "Leeds"),  # an exact duplicate of a1
]


@pytest.fixture
def people(tmp_path):
    path = tmp_path / "people.csv"
    pd.DataFrame(ROWS, columns=["id", "given_name", "surname", "dob", "city"]).to_csv(
        path, index=False
    )
    return path


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


def read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"left_id": str, "right_id": str})


def dedupe_table(n: int = 400, seed: int = 3) -> tuple[pd.DataFrame, set]:
    """Owners and their cars as one table of people (shuffled) and its duplicate pairs."""
    tables = generate_tables(n, seed=seed)
    owners = tables.owners.drop(columns=["email"]).rename(columns={"owner_id": "id"})
    cars = tables.cars.drop(columns=["car_name"]).rename(columns={"car_id": "id"})
    table = pd.concat([owners, cars], ignore_index=True)
    table = table.sample(frac=1, random_state=seed).reset_index(drop=True)
    truth = {frozenset(p) for p in zip(tables.links["left_id"], tables.links["right_id"])}
    return table, truth


def test_dedupe_scores_each_pair_once_never_a_record_with_itself(people, tmp_path):
    out = tmp_path / "pairs.csv"
    code, err = run("--dedupe", str(people), "--id", "id", "--keep", "0", "--out", str(out))
    assert code == 0, err
    found = read(out)
    assert not (found["left_id"] == found["right_id"]).any()
    pairs = [frozenset(p) for p in zip(found["left_id"], found["right_id"])]
    assert len(set(pairs)) == len(pairs)
    # The earlier record of the table is on the left.
    at = {row[0]: k for k, row in enumerate(ROWS)}
    assert all(at[a] < at[b] for a, b in zip(found["left_id"], found["right_id"]))
    # Both exact duplicates are found, each the best pair of its records.
    best = found.sort_values("score", ascending=False).head(2)
    assert {frozenset(p) for p in zip(best["left_id"], best["right_id"])} == {
        frozenset({"a1", "a7"}),
        frozenset({"a3", "a4"}),
    }
    assert "--id id" in err and "--right-id" not in err and "21 pairs" in err


def test_dedupe_with_fields_writes_the_engines_one_table_candidates(people, tmp_path):
    out = tmp_path / "pairs.csv"
    argv = ["--dedupe", str(people), "--id", "id", "--field", "given_name:jaro_winkler"]
    argv += ["--field", "city", "--block", "exact:surname", "--keep", "0.3", "--out", str(out)]
    code, err = run(*argv)
    assert code == 0, err
    table = pd.read_csv(people, dtype=str)
    spec = Spec(
        (parse_field("given_name:jaro_winkler"), parse_field("city")),
        "id",
        "id",
        (parse_block("exact:surname"),),
        one_table=True,
    )
    expected = generate_candidates(table, table, spec, keep=0.3, top_k=None)
    pd.testing.assert_frame_equal(read(out), expected, check_dtype=False)
    assert f"{count_pairs(table, table, spec.block, one_table=True):,} pairs to score" in err


def test_clusters_join_records_by_pairs_at_or_above_the_threshold(people, tmp_path):
    out, clusters = tmp_path / "pairs.csv", tmp_path / "clusters.csv"
    argv = ["--dedupe", str(people), "--id", "id", "--field", "given_name", "--field", "surname"]
    code, err = run(*argv, "--keep", "0.3", "--out", str(out), "--clusters", str(clusters))
    assert code == 0, err
    table = pd.read_csv(clusters, dtype={"id": str})
    assert table.columns.tolist() == ["id", "cluster_id", "cluster_size"]
    assert table["id"].tolist() == [r[0] for r in ROWS]
    # The default threshold is the select threshold, max(keep, 0.8).
    pairs = read(out)
    strong = pairs[pairs["score"] >= 0.8]
    strong_pairs = zip(strong["left_id"], strong["right_id"])
    expected = cluster_ids_reference(table["id"].tolist(), strong_pairs)
    assert table["cluster_id"].tolist() == expected.tolist()
    by_id = dict(zip(table["id"], table["cluster_id"]))
    assert by_id["a1"] == by_id["a2"] == by_id["a7"] and by_id["a3"] == by_id["a4"]
    assert len({by_id["a1"], by_id["a3"], by_id["a5"], by_id["a6"]}) == 4
    assert table.set_index("id")["cluster_size"].to_dict()["a1"] == 3
    # Only exact copies score 1: a2 (Anne) is left on its own.
    code, err = run(
        *argv, "--out", str(out), "--clusters", str(clusters), "--cluster-threshold", "1"
    )
    assert code == 0, err
    by_id = dict(pd.read_csv(clusters, dtype={"id": str})[["id", "cluster_id"]].values)
    assert by_id["a1"] == by_id["a7"] != by_id["a2"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--left", "x.csv"], "--dedupe compares one table with itself"),
        (["--right-id", "id"], "name its ID column with --id"),
        (["--id", "id", "--left-id", "given_name"], "name two ID columns"),
    ],
)
def test_bad_dedupe_options_exit_2_with_one_line(people, tmp_path, extra, message):
    code, err = run("--dedupe", str(people), *extra, "--out", str(tmp_path / "o.csv"))
    assert code == 2
    assert message in err.splitlines()[-1]


def test_clusters_and_id_need_one_table(people, tmp_path):
    two = ["--left", str(people), "--right", str(people), "--out", str(tmp_path / "o.csv")]
    code, err = run(*two, "--clusters", str(tmp_path / "c.csv"))
    assert code == 2 and "--clusters needs one table" in err
    code, err = run(*two, "--id", "id")
    assert code == 2 and "--id names the ID column of a --dedupe table" in err


def test_a_saved_deduplication_reruns_as_one(people, tmp_path):
    first, again, setup = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "setup.toml"
    code, err = run("--dedupe", str(people), "--out", str(first), "--save-spec", str(setup))
    assert code == 0, err
    saved = read_setup(setup)
    assert saved.spec.one_table and saved.spec.left_id == saved.spec.right_id == "id"
    assert saved.left == saved.right == str(people)
    code, err = run("--spec", str(setup), "--out", str(again))
    assert code == 0, err
    pd.testing.assert_frame_equal(read(again), read(first))


def test_learned_weights_labels_and_suggestions_work_on_one_table(tmp_path):
    table, truth = dedupe_table(300)
    path, out, todo = tmp_path / "people.csv", tmp_path / "o.csv", tmp_path / "todo.csv"
    table.to_csv(path, index=False)
    code, err = run(
        "--dedupe", str(path), "--id", "id", "--keep", "0.2", "--out", str(out),
        "--suggest-labels", "20", "--suggest-file", str(todo),
    )  # fmt: skip
    assert code == 0, err
    assert "learned weights" in err
    asked = pd.read_csv(todo, dtype=str, keep_default_na=False)
    assert len(asked) == 20 and not (asked["left_id"] == asked["right_id"]).any()
    asked["label"] = [int(frozenset(p) in truth) for p in zip(asked["left_id"], asked["right_id"])]
    asked.to_csv(todo, index=False)
    labelled = ["--labels", str(todo), "--keep", "0.2", "--out", str(out)]
    code, err = run("--dedupe", str(path), *labelled)
    assert code == 0, err
    assert "weights learned from 20 labelled pairs" in err
    found = read(out)
    top = found.sort_values("score", ascending=False).head(len(truth) // 2)
    hits = np.mean([frozenset(p) in truth for p in zip(top["left_id"], top["right_id"])])
    assert hits >= 0.95


def test_the_proposal_on_one_table_counts_pairs_of_two_records_once():
    table, truth = dedupe_table(2_000, seed=5)
    proposal = propose(table, table, one_table=True, budget=300_000)
    spec = proposal.spec
    assert spec.one_table and spec.left_id == spec.right_id == "id"
    assert spec.block, "over the budget: blocking rules"
    assert "--id id" in proposal.options()
    assert not any("--left-id" in o or "--right-id" in o for o in proposal.options())
    assert not any("left table" in n or "right table" in n for n in proposal.notes)
    counts = Blocking(table, table, spec.block, one_table=True).count()
    assert [(c.pairs, c.added) for c in proposal.rule_counts] == [
        (c.pairs, c.added) for c in counts
    ]
    assert proposal.pairs == sum(c.added for c in counts) <= 300_000
    li, ri = Blocking(table, table, spec.block, one_table=True).pairs()
    ids = table["id"].to_numpy()
    kept = {frozenset(p) for p in zip(ids[li], ids[ri])}
    assert np.mean([p in kept for p in truth]) >= 0.99


def test_a_record_paired_with_itself_is_not_a_likely_match():
    # Two records never share both a and b, so no pair of two records is a likely
    # match; each record agrees with itself on both, which must not count.
    n = 800
    i = np.arange(n)
    table = pd.DataFrame({"a": [f"a{k % 40}x" for k in i], "b": [f"b{(k // 40) % 20}y" for k in i]})
    proposal = propose(table, table, one_table=True)
    # No likely match to keep: the table is small enough to compare in full (a rule on
    # a and b together would keep no pair of two records).
    assert proposal.coverage is None and proposal.spec.block == ()
    assert proposal.pairs == n * (n - 1) // 2


def test_with_learned_weights_clusters_join_pairs_by_their_match_probability(tmp_path):
    table, truth = dedupe_table(300)
    path, out = tmp_path / "people.csv", tmp_path / "o.csv"
    table.to_csv(path, index=False)
    files = {}
    for name, extra in (("default", []), ("0.95", ["--cluster-probability", "0.95"])):
        files[name] = tmp_path / f"clusters-{name}.csv"
        code, err = run(
            "--dedupe", str(path), "--id", "id", "--keep", "0.2", "--out", str(out),
            "--clusters", str(files[name]), *extra,
        )  # fmt: skip
        assert code == 0, err
    assert "match probability of at least 0.95" in err
    assert files["default"].read_bytes() == files["0.95"].read_bytes()
    clusters = pd.read_csv(files["default"], dtype={"id": str}).set_index("id")["cluster_id"]
    together = [clusters[a] == clusters[b] for a, b in map(tuple, truth)]
    assert np.mean(together) >= 0.9
    assert clusters.value_counts().max() <= 4  # no chain runs through unrelated people
    code, err = run(
        "--dedupe", str(path), "--out", str(out), "--clusters", str(files["default"]),
        "--cluster-threshold", "0.5", "--cluster-probability", "0.9",
    )  # fmt: skip
    assert code == 2 and "not both" in err


def test_unscale_undoes_the_rescaled_score():
    table, _ = dedupe_table(200)
    spec = Spec(
        (parse_field("given_name:jaro_winkler"), parse_field("surname:jaro_winkler")),
        "id",
        "id",
        (parse_block("exact:postcode"),),
        one_table=True,
    )
    job, _ = plan(table, table, spec, keep=0.0)
    learned = train(job, workers=1)
    weight = np.linspace(*learned.span(), 50)
    score = learned.rescale(weight, np.ones(50, bool))
    np.testing.assert_allclose(learned.unscale(score), weight)
