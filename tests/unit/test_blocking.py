"""Blocking rules: union, multi-column and transformed keys, sorted windows, counts, CLI."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.engine.blocking import KEY_NORMALIZATION, Blocking, count_rules
from matching.engine.candidates import count_pairs, generate_candidates
from matching.engine.demo import generate_tables
from matching.engine.scoring import normalize
from matching.engine.spec import Field, Normalization, Spec, parse_block

ROOT = Path(__file__).resolve().parents[2]
FIELDS = tuple(Field(c) for c in ("given_name", "surname", "street", "postcode"))
UNION = ("exact:postcode", "exact:surname+birth_date", "exact:given_name[:3]+birth_date[year]")


@pytest.fixture(scope="module")
def people():
    tables = generate_tables(400, seed=11)
    return tables.owners, tables.cars, tables.links


def key_of(value: object, transform: str) -> str | None:
    """Reference key of one value, written without the engine's vectorised code."""
    v = normalize(value, KEY_NORMALIZATION)
    if v is None or not transform:
        return v
    if transform.startswith(":"):
        return v[: int(transform[1:])]
    parts = v.split(" ")
    if len(parts) < 3 or not (len(parts[0]) == 4 and parts[0].isdigit()):
        return None
    if not (parts[1].isdigit() and 1 <= int(parts[1]) <= 12 and parts[2][:2].isdigit()):
        return None
    return parts[0] if transform == "year" else f"{int(parts[1]):02d}"


def rule_keys(frame: pd.DataFrame, rule, side: str) -> list[tuple | None]:
    columns = []
    for key in rule.keys:
        transform = key.transform or (f":{rule.size}" if rule.kind == "prefix" else "")
        column = key.left if side == "left" else key.right
        columns.append([key_of(v, transform) for v in frame[column]])
    return [None if any(k is None for k in ks) else ks for ks in zip(*columns)]


def reference_pairs(left, right, rule) -> set[tuple[int, int]]:
    """Pairs an exact or prefix rule keeps, by comparing every pair's keys."""
    lk, rk = rule_keys(left, rule, "left"), rule_keys(right, rule, "right")
    return {
        (i, j)
        for (i, a), (j, b) in itertools.product(enumerate(lk), enumerate(rk))
        if a is not None and a == b
    }


def pair_set(blocking: Blocking) -> set[tuple[int, int]]:
    li, ri = blocking.pairs()
    return set(zip(li.tolist(), ri.tolist()))


@pytest.mark.parametrize(
    "text",
    [
        "exact:postcode",
        "exact:surname+birth_date",
        "exact:given_name[:3]+postcode",
        "exact:birth_date[year]",
        "exact:birth_date[month]+surname[:1]",
        "prefix:street:4",
        "prefix:surname+given_name:2",
    ],
)
def test_multi_column_and_transformed_keys_pair_exactly_the_agreeing_records(people, text):
    left, right, _ = people
    left, right = left.iloc[:150], right.iloc[:160]
    rule = parse_block(text)
    assert pair_set(Blocking(left, right, [rule])) == reference_pairs(left, right, rule)


def test_year_and_month_read_iso_dates_and_treat_others_as_missing():
    left = pd.DataFrame({"d": ["1990-01-02", "1990-13-02", "19900102", None, "1991-12-31 10:00"]})
    right = pd.DataFrame({"d": ["1990-12-30", "1991-01-01"]})
    year = Blocking(left, right, [parse_block("exact:d[year]")])
    assert pair_set(year) == {(0, 0), (4, 1)}
    month = Blocking(left, right, [parse_block("exact:d[month]")])
    assert pair_set(month) == {(0, 1), (4, 0)}


def test_union_keeps_every_pair_of_every_rule_and_each_pair_once(people):
    left, right, _ = people
    rules = [parse_block(t) for t in (*UNION, "sorted:street:3")]
    union = Blocking(left, right, rules)
    li, ri = union.pairs()
    codes = li * len(right) + ri
    assert len(np.unique(codes)) == len(codes)
    assert list(codes) == sorted(codes)
    expected = set().union(*(pair_set(Blocking(left, right, [r])) for r in rules))
    assert set(zip(li.tolist(), ri.tolist())) == expected
    counts = union.count()
    assert [c.pairs for c in counts] == [len(pair_set(Blocking(left, right, [r]))) for r in rules]
    seen: set = set()
    for rule, count in zip(rules, counts):
        own = pair_set(Blocking(left, right, [rule]))
        assert count.added == len(own - seen)
        seen |= own
    assert count_pairs(left, right, tuple(rules)) == len(expected)


def test_union_scores_each_pair_once_and_finds_more_true_pairs(people):
    left, right, links = people
    truth = set(zip(links["left_id"], links["right_id"]))
    found = {}
    for rules in (UNION[:1], UNION):
        spec = Spec(
            FIELDS, left_id="owner_id", right_id="car_id", block=tuple(map(parse_block, rules))
        )
        result = generate_candidates(left, right, spec, keep=0.0, top_k=None)
        pairs = list(zip(result["left_id"], result["right_id"]))
        assert len(pairs) == len(set(pairs))
        found[len(rules)] = len(truth & set(pairs))
    assert found[3] > found[1]


@pytest.mark.parametrize("elements", [1, 50, 10**9])
def test_union_chunk_sizes_give_identical_frames(people, elements):
    left, right, _ = people
    spec = Spec(FIELDS, left_id="owner_id", right_id="car_id", block=tuple(map(parse_block, UNION)))
    whole = generate_candidates(left, right, spec, keep=0.3, top_k=3, chunk_elements=10**9)
    chunked = generate_candidates(left, right, spec, keep=0.3, top_k=3, chunk_elements=elements)
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)


def interleaved_window(left_keys, right_keys, window):
    """Reference sorted neighbourhood: equal keys interleave, i-th left by i-th right."""
    entries = []
    for side, keys in ((0, left_keys), (1, right_keys)):
        seen: dict = {}
        for i, k in enumerate(keys):
            if k is not None:
                entries.append((k, seen.get(k, 0), side, i))
                seen[k] = seen.get(k, 0) + 1
    entries.sort()
    pairs = set()
    for p in range(len(entries)):
        for q in range(p + 1, min(p + window + 1, len(entries))):
            a, b = entries[p], entries[q]
            if a[2] != b[2]:
                pairs.add((a[3], b[3]) if a[2] == 0 else (b[3], a[3]))
    return pairs


keys = st.lists(st.sampled_from(["a", "a", "b", "B", "c", "ab", None]), max_size=25)


@settings(max_examples=60, deadline=None)
@given(left=keys, right=keys, window=st.integers(1, 4))
def test_sorted_window_matches_brute_force_with_many_equal_keys(left, right, window):
    lf, rf = pd.DataFrame({"k": left}, dtype=object), pd.DataFrame({"k": right}, dtype=object)
    rule = parse_block(f"sorted:k:{window}")
    norm = KEY_NORMALIZATION
    expected = interleaved_window(
        [normalize(v, norm) for v in left], [normalize(v, norm) for v in right], window
    )
    assert pair_set(Blocking(lf, rf, [rule])) == expected


def test_sorted_window_pairs_equal_keys_side_by_side():
    left = pd.DataFrame({"k": ["x"] * 4})
    right = pd.DataFrame({"k": ["x"] * 4})
    assert pair_set(Blocking(left, right, [parse_block("sorted:k:1")])) == {
        (0, 0),
        (1, 0),
        (1, 1),
        (2, 1),
        (2, 2),
        (3, 2),
        (3, 3),
    }


def test_sorted_multi_column_key_sorts_by_the_first_column_then_the_next():
    left = pd.DataFrame({"s": ["smith", "smith", "jones"], "g": ["ann", "zoe", "ann"]})
    right = pd.DataFrame({"s": ["smith", "smith", "jones"], "g": ["zoe", "ann", "bob"]})
    found = pair_set(Blocking(left, right, [parse_block("sorted:s+g:1")]))
    assert {(0, 1), (1, 0), (2, 2)} <= found


def test_old_single_rule_spec_keeps_its_form_and_digest():
    spec = Spec((Field("a"),), block=parse_block("prefix:a:2"))
    assert spec.to_dict()["block"] == {"kind": "prefix", "left": "a", "right": "a", "size": 2}
    assert Spec.from_dict(spec.to_dict()) == spec
    union = Spec((Field("a"),), block=[parse_block("exact:a[:2]+b"), parse_block("sorted:a:3")])
    assert Spec.from_dict(union.to_dict()) == union


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("exact:a[nope]", "unknown transform [nope]"),
        ("exact:a[:0]", "unknown transform [:0]"),
        ("exact:a+", "missing the column name"),
        ("sorted:a+b", "needs a size"),
    ],
)
def test_bad_rule_text_is_rejected_naming_the_rule(text, message):
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        parse_block(text)
    assert repr(text) in str(info.value)


def test_rule_with_an_unknown_column_names_the_rule():
    frame = pd.DataFrame({"a": ["x"]})
    with pytest.raises(ValueError, match="block 'exact:a\\+zz': the left table has no column 'zz'"):
        Blocking(frame, frame, [parse_block("exact:a+zz")])


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "matching", *args], capture_output=True, text=True, cwd=ROOT
    )


@pytest.fixture
def files(tmp_path, people):
    left, right, _ = people
    paths = tmp_path / "owners.csv", tmp_path / "cars.csv"
    left.to_csv(paths[0], index=False)
    right.to_csv(paths[1], index=False)
    return [
        "--left", str(paths[0]), "--right", str(paths[1]),
        "--left-id", "owner_id", "--right-id", "car_id", "--field", "surname",
    ]  # fmt: skip


def test_count_only_prints_each_rules_pairs_what_it_adds_and_the_total(files, people):
    left, right, _ = people
    done = run(*files, *(a for r in UNION for a in ("--block", r)), "--count-only")
    assert done.returncode == 0, done.stderr
    counts = Blocking(left, right, [parse_block(r) for r in UNION]).count()
    lines = done.stdout.strip().splitlines()
    assert lines[0].split() == ["rule", "pairs", "added"]
    for line, count in zip(lines[1:], counts):
        assert line.split() == [count.rule, f"{count.pairs:,}", f"{count.added:,}"]
    assert lines[-1].split() == ["total", f"{sum(c.added for c in counts):,}"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("exact:surname+nope", "block 'exact:surname+nope': the left table has no column 'nope'"),
        ("exact:surname[abc]", "block 'exact:surname[abc]': unknown transform [abc]"),
    ],
)
def test_bad_rule_exits_2_naming_it(files, tmp_path, rule, message):
    out = tmp_path / "o.csv"
    done = run(*files, "--block", "exact:postcode", "--block", rule, "--out", str(out))
    assert done.returncode == 2
    assert message in done.stderr.strip().splitlines()[-1]
    assert not out.exists()


short = st.sampled_from(["ab", "Ab", "ac", "b", "bc", "", None, "x y"])
rule_texts = st.lists(
    st.sampled_from(
        ["exact:a", "exact:a+b", "prefix:a:1", "exact:a[:1]+b", "sorted:b:2", "sorted:a+b:1"]
    ),
    min_size=1,
    max_size=4,
    unique=True,
)


@settings(max_examples=60, deadline=None)
@given(
    left=st.lists(st.tuples(short, short), max_size=12),
    right=st.lists(st.tuples(short, short), max_size=12),
    texts=rule_texts,
)
def test_union_of_any_rules_is_each_rules_pairs_once_and_counts_agree(left, right, texts):
    lf = pd.DataFrame(left or None, columns=["a", "b"], dtype=object)
    rf = pd.DataFrame(right or None, columns=["a", "b"], dtype=object)
    rules = [parse_block(t) for t in texts]
    union = Blocking(lf, rf, rules)
    li, ri = union.pairs()
    found = list(zip(li.tolist(), ri.tolist()))
    assert len(found) == len(set(found))
    each = [pair_set(Blocking(lf, rf, [r])) for r in rules]
    assert set(found) == set().union(*each)
    counts = union.count()
    assert [c.pairs for c in counts] == [len(e) for e in each]
    assert sum(c.added for c in counts) == len(found)
    for rule, own in zip(rules, each):
        if rule.kind != "sorted":
            assert own == reference_pairs(lf, rf, rule)
    exact = [r for r in rules if r.kind != "sorted"]
    if exact:  # counted from group sizes, without making the pairs: the same counts
        assert count_rules(lf, rf, exact) == Blocking(lf, rf, exact).count()


def key_window(left: list, right: list, window: int) -> set[tuple[int, int]]:
    """Reference window over distinct keys: the sorted distinct keys of both tables, and
    each pair whose keys are at most window // 2 places apart (recordlinkage's)."""
    distinct = sorted({k for k in [*left, *right] if k is not None})
    rank = {k: i for i, k in enumerate(distinct)}
    return {
        (i, j)
        for i, a in enumerate(left)
        for j, b in enumerate(right)
        if a is not None and b is not None and abs(rank[a] - rank[b]) <= window // 2
    }


@settings(max_examples=60, deadline=None)
@given(left=keys, right=keys, window=st.integers(1, 7))
def test_window_over_distinct_keys_matches_brute_force(left, right, window):
    lf, rf = pd.DataFrame({"k": left}, dtype=object), pd.DataFrame({"k": right}, dtype=object)
    norm = KEY_NORMALIZATION
    expected = key_window(
        [normalize(v, norm) for v in left], [normalize(v, norm) for v in right], window
    )
    blocking = Blocking(lf, rf, [parse_block(f"sortedkeys:k:{window}")])
    assert pair_set(blocking) == expected
    li, ri = blocking.pairs()
    assert list(zip(li, ri)) == sorted(zip(li, ri))
    assert blocking.count()[0].pairs == len(expected)
    assert blocking.keeps(0, li, ri).all()


words = st.lists(
    st.one_of(st.none(), st.sampled_from(["red apple", "green apple", "apple pie", "pear", "x"])),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(left=words, right=words, k=st.integers(1, 3))
def test_tfidf_nearest_neighbours_match_brute_force(left, right, k):
    from matching.engine.tfidf import TfidfModel

    lf, rf = pd.DataFrame({"t": left}, dtype=object), pd.DataFrame({"t": right}, dtype=object)
    norm = Normalization()
    lv = [normalize(v, norm) for v in left]
    rv = [normalize(v, norm) for v in right]
    lu = list(dict.fromkeys(v for v in lv if v is not None))
    ru = list(dict.fromkeys(v for v in rv if v is not None))
    model = TfidfModel([*lu, *ru])
    nearest = {}
    for a in lu:
        ranked = sorted(
            ((model.pair(a, b), -j, b) for j, b in enumerate(ru) if model.pair(a, b) > 0),
            reverse=True,
        )
        nearest[a] = {b for _, _, b in ranked[:k]}
    expected = {
        (i, j)
        for i, a in enumerate(lv)
        for j, b in enumerate(rv)
        if a is not None and b is not None and b in nearest[a]
    }
    blocking = Blocking(lf, rf, [parse_block(f"tfidf:t:{k}")])
    assert pair_set(blocking) == expected
    assert blocking.count()[0].pairs == len(expected)


def test_tfidf_rules_take_one_column():
    with pytest.raises(ValueError, match="tfidf blocking takes one column"):
        parse_block("tfidf:a+b:3")
