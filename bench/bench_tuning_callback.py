"""Benchmark the Tuning tab's callbacks, figures included, at 1,000,000 candidate pairs.

Times :func:`callbacks.tuning.update_tuning_view` (the slider callback: counts,
histogram and the plotly figure) and the JSON Dash sends for it, over many
random slider positions, before and after decisions colour the bars. For
reference it also times the work that runs once per change of the decisions
(``refresh_status``), the estimates on a slider move (cold and cached) and the
count in the bulk-accept dialog. Writes a "Slider callback" section at the end
of ``bench/TUNING.md`` (after ``bench_tuning.py``, which rewrites that file).

    python bench/bench_tuning_callback.py [--records 100000] [--per-record 10] [--moves 300]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dash._utils import to_json

from bench.bench_tuning import TARGET_MS, make_candidates, timed
from callbacks.tuning import handle_bulk, refresh_status, update_estimates, update_tuning_view
from components.ids import ids
from matching.decisions.events import Event
from matching.decisions.settings import ProjectSettings
from server.services import AppConfig, Services

SECTION = "## Slider callback"
NAMES = ("keep", "select", "auto_accept", "margin", "auto_reject")


def services_with(candidates, folder: str) -> tuple[Services, str]:
    """Real services on a fresh SQLite log, holding one project of ``candidates``."""
    services = Services(AppConfig(db_url=f"sqlite:///{folder}/bench.db"), Flask(__name__))
    project = SimpleNamespace(project_id="bench", candidates=candidates)
    services._projects["bench"] = project  # the bench has no tables to build a Project from
    settings = ProjectSettings(floor=0.3, show_from=0.3, select=0.7)
    services.log.ensure_project("bench", name="bench", settings=settings)
    return services, "bench"


def slider_moves(services: Services, pid: str, status, moves: int, seed: int) -> np.ndarray:
    """Milliseconds per slider move: the callback plus the JSON of its response."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(moves):
        th = dict(zip(NAMES, np.round(rng.random(5), 2).tolist()))
        start = time.perf_counter()
        figure, counts = update_tuning_view(services, pid, th, status)
        to_json({"figure": figure, "children": counts})
        out.append((time.perf_counter() - start) * 1000)
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--per-record", type=int, default=10)
    parser.add_argument("--moves", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("TUNING.md"))
    args = parser.parse_args()

    candidates = make_candidates(args.records, args.per_record)
    folder = tempfile.mkdtemp(prefix="bench-tuning-")
    services, pid = services_with(candidates, folder)
    project = services.project(pid)
    index_ms = timed(lambda: services.score_index(project))

    plain = slider_moves(services, pid, None, args.moves, seed=2)

    lefts = candidates["left_id"].to_numpy()[:: args.per_record]
    rights = candidates["right_id"].to_numpy()[:: args.per_record]
    services.log.append_many(
        pid,
        [
            Event(f"e{i}", "accept", lefts[i], (rights[i],), reviewer="ann", time=float(i))
            if i % 3
            else Event(f"e{i}", "reject", lefts[i], reviewer="bob", time=float(i))
            for i in range(0, len(lefts), 10)
        ],
    )
    decided = len(services.log.state(pid).decisions)
    status: dict = {}
    status_ms = timed(lambda: status.update(refresh_status(services, pid, "tuning", None)))
    coloured = slider_moves(services, pid, status, args.moves, seed=3)

    cold_ms = timed(
        lambda: update_estimates(services, pid, 0.41, 0.62, status, trigger=ids.TUNING_SELECT)
    )
    warm_ms = timed(
        lambda: update_estimates(services, pid, 0.41, 0.62, status, trigger=ids.TUNING_SELECT)
    )
    moved_ms = timed(
        lambda: update_estimates(services, pid, 0.47, 0.71, status, trigger=ids.TUNING_SELECT)
    )
    th = dict(keep=0.3, select=0.7, auto_accept=0.6, margin=0.05, auto_reject=0.2)
    dialog: list = []
    dialog_ms = timed(
        lambda: dialog.extend(handle_bulk(services, pid, "ann", th, None, trigger=ids.AUTO_ACCEPT))
    )

    def row(name: str, ms: np.ndarray) -> list[tuple[str, str]]:
        median, p95, worst = np.percentile(ms, [50, 95, 100])
        return [
            (f"{name}: median of {len(ms)}", f"{median:.1f} ms"),
            (f"{name}: p95", f"{p95:.1f} ms"),
            (f"{name}: worst", f"{worst:.1f} ms"),
        ]

    rows = [
        ("services.score_index (first call; later calls are a dict look-up)", f"{index_ms:.0f} ms"),
        *row("slider move, plain bars", plain),
        *row(f"slider move, bars by status ({decided:,} decisions)", coloured),
        ("refresh_status (once per change of the decisions)", f"{status_ms:.0f} ms"),
        (
            "update_estimates, first move after the decisions change (reviewed pairs gathered)",
            f"{cold_ms:.0f} ms",
        ),
        ("update_estimates, the same position again", f"{warm_ms:.1f} ms"),
        ("update_estimates, a new position with the same decisions", f"{moved_ms:.1f} ms"),
        ("Apply auto-accept: dialog with the count", f"{dialog_ms:.0f} ms"),
    ]
    p95 = max(np.percentile(plain, 95), np.percentile(coloured, 95))
    verdict = "meets" if p95 <= TARGET_MS else "MISSES"
    section = "\n".join(
        [
            SECTION,
            "",
            f"Generated by `python bench/bench_tuning_callback.py` (Python"
            f" {platform.python_version()}), same {len(candidates):,} pairs. A slider move is"
            " `callbacks.tuning.update_tuning_view` (counts, histogram, plotly figure and the"
            " counts tiles) plus `dash._utils.to_json` of its response, random positions on"
            " every slider.",
            "",
            "| step | time |",
            "|---|---|",
            *(f"| {name} | {value} |" for name, value in rows),
            "",
            f"The slider callback {verdict} the {TARGET_MS:.0f} ms server-time target"
            f" (p95 {p95:.1f} ms, figure and JSON included). The estimates have their own"
            " callback, so the first move after the decisions change delays only the estimate"
            " text, never the chart and counts.",
            "",
        ]
    )
    text = args.out.read_text() if args.out.exists() else ""
    text = text.split(SECTION)[0].rstrip("\n")
    args.out.write_text(f"{text}\n\n{section}" if text else section)
    print(section)


if __name__ == "__main__":
    main()
