"""Review page speed in headless Chromium on generated 5,000 x 5,000 tables.

Candidates are computed before the clock starts. The script measures:
- first record on screen after the page is opened;
- pressing ``a`` to the next record rendered (median, p90, max);
- the largest callback response during review (bytes);
- database statements per key press (every statement any of the app's engines sends
  while the presses run, counted with SQLAlchemy's ``before_cursor_execute`` event),
  with the write transactions and the reads of the project's settings among them.

Run: ``python bench/bench_review.py [--n 5000] [--presses 60]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask import request  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from app import create_app  # noqa: E402
from matching.engine.demo import GENERATED_FIELDS, generate_tables  # noqa: E402
from matching.engine.spec import Field, Spec  # noqa: E402
from server.services import AppConfig  # noqa: E402
from tests.helpers import StatementCount  # noqa: E402

PRESS = """
const done = arguments[arguments.length - 1];
const label = document.getElementById('record-label');
const before = label.textContent;
let key = 'a';
try { if (!dash_ag_grid.getApi('candidate-grid').getSelectedRows().length) { key = 'n'; } }
catch (e) { key = 'n'; }
const t0 = performance.now();
const obs = new MutationObserver(() => {
    if (label.textContent !== before) {
        obs.disconnect();
        requestAnimationFrame(() => done([key, performance.now() - t0]));
    }
});
obs.observe(label, {childList: true, characterData: true, subtree: true});
document.dispatchEvent(new KeyboardEvent('keydown', {key: key, bubbles: true}));
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="records per table")
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--port", type=int, default=8077)
    args = parser.parse_args()

    tables = generate_tables(args.n, seed=7, unlinked=0.0)
    spec = Spec(
        fields=tuple(Field(f) for f in GENERATED_FIELDS), left_id="owner_id", right_id="car_id"
    )
    folder = Path(tempfile.mkdtemp(prefix="matchdesk-bench-"))
    config = AppConfig(
        left=tables.owners,
        right=tables.cars,
        spec=spec,
        keep=0.5,
        select=0.6,
        name="bench",
        db_url=f"sqlite:///{folder / 'bench.db'}",
        data_dir=str(folder / "data"),
    )
    t = time.perf_counter()
    app = create_app(config)
    setup = time.perf_counter() - t
    sizes: list[int] = []
    count = StatementCount()

    @app.server.after_request
    def record_size(response):
        if request.path.endswith("_dash-update-component"):
            sizes.append(len(response.get_data()))
        return response

    server = make_server("127.0.0.1", args.port, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    options = Options()
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options)
    driver.set_script_timeout(20)
    try:
        t0 = time.perf_counter()
        driver.get(f"http://127.0.0.1:{args.port}/")
        while "Record 1 of" not in driver.execute_script(
            "const e = document.getElementById('record-label'); return e ? e.textContent : '';"
        ):
            time.sleep(0.01)
        first = time.perf_counter() - t0
        sizes.clear()
        with count:
            results = [driver.execute_async_script(PRESS) for _ in range(args.presses)]
    finally:
        driver.quit()
        server.shutdown()
    times = sorted(ms for key, ms in results if key == "a")
    print(
        f"tables: {args.n:,} owners x {len(tables.cars):,} cars, "
        f"{len(app.matchdesk.project(app.matchdesk.project_options()[0]['value']).candidates):,}"
        f" candidate pairs (app start incl. scoring {setup:.1f} s, before the clock)"
    )
    print(f"first record on screen: {first * 1000:.0f} ms (target <= 3000)")
    print(
        f"press a -> next record rendered, {len(times)} presses: median "
        f"{statistics.median(times):.0f} ms, p90 {times[int(0.9 * len(times)) - 1]:.0f} ms, "
        f"max {times[-1]:.0f} ms (target median <= 150); "
        f"{len(results) - len(times)} records with nothing pre-selected took n instead"
    )
    print(
        f"largest response during review: {max(sizes) / 1024:.1f} KB over {len(sizes)} "
        f"responses (target <= 200 KB)"
    )
    presses = len(results)
    print(
        f"database statements per key press: {count.statements / presses:.1f}, among them "
        f"{count.writes / presses:.1f} write transactions and {count.settings / presses:.1f}"
        " reads of the project's settings"
    )


if __name__ == "__main__":
    main()
