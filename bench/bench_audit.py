"""How well an audit estimates the error rate of an automatic batch, against the truth.

Generated owners and cars (``matching.engine.demo.generate_tables``) come with their true
links. A project is scored on one loose field (given name, blocked on city, so that
the automatic rule makes real mistakes: people of one city who share a given name),
a lead applies auto-accept, and an audit is
drawn for a margin of ±3% at 95%. Simulated auditors answer each drawn record from
the true links, blind. The audited error rate and its Wilson interval are then
compared with the batch's true error rate, known from the links.

Run: ``python bench/bench_audit.py [--records 5000] [--threshold 0.85] [--seeds 5]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matching.decisions.log import DecisionLog
from matching.desk import ReviewDesk
from matching.engine.demo import generate_tables
from matching.engine.project import build_project
from matching.engine.spec import Field, Spec, parse_block


def one_run(records: int, threshold: float, seed: int) -> dict:
    tables = generate_tables(records, seed=seed)
    spec = Spec(
        (Field("given_name"),),
        left_id="owner_id",
        right_id="car_id",
        block=(parse_block("exact:city"),),
    )
    project = build_project(tables.owners, tables.cars, spec, name="audit", keep=0.5, select=0.9)
    folder = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    log = DecisionLog(f"sqlite:///{folder / 'log.db'}")
    log.ensure_project(project.project_id, name="audit")
    desk = ReviewDesk(log, project)
    bulk = desk.batches.apply_bulk("lead", "accept", threshold=threshold, margin=0.0, role="lead")
    truth = dict(zip(tables.links["left_id"].astype(str), tables.links["right_id"].astype(str)))
    decided = desk.refresh().decisions
    wrong_true = sum(truth.get(left) not in d.right_ids for left, d in decided.items())
    (batch,) = desk.batches.automatic_batches()
    desk.audits.draw_audit("lead", batch["batch"], margin=0.03, role="lead")
    view = desk.audits.next_audit_view("auditor")
    while view["left_id"] is not None:
        right = truth.get(view["left_id"])
        offered = [r["_right_id"] for r in view["rows"]]
        if right in offered:
            view = desk.audits.record_verdict("auditor", view, "accept", [right]).view
        else:
            view = desk.audits.record_verdict("auditor", view, "reject").view
    (found,) = desk.audits.audit_results()
    true_rate = wrong_true / bulk.written
    return {
        "seed": seed,
        "batch": bulk.written,
        "audited": found["audited"],
        "audited_rate": round(found["rate"], 4),
        "interval": [round(found["low"], 4), round(found["high"], 4)],
        "true_rate": round(true_rate, 4),
        "true_rate_inside": found["low"] <= true_rate <= found["high"],
        "estimated_wrong": found["estimated_wrong"],
        "true_wrong": wrong_true,
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--threshold", type=float, default=0.85)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    runs = [one_run(args.records, args.threshold, seed) for seed in range(args.seeds)]
    for r in runs:
        print(json.dumps(r))
    print()
    print("| seed | batch | audited | audited error rate (95% interval) | true error rate |")
    print("|---|---|---|---|---|")
    for r in runs:
        lo, hi = r["interval"]
        print(
            f"| {r['seed']} | {r['batch']:,} | {r['audited']:,} | {r['audited_rate']:.1%}"
            f" ({lo:.1%} to {hi:.1%}) | {r['true_rate']:.1%} |"
        )
    return runs


if __name__ == "__main__":
    main()
