"""Screenshot of the Review tab at 1440 x 900 on a generated six-field project.

Run: ``python scripts/screenshot_review.py docs/review-tab.png [--n 300]``. The
project is 300 generated owners and cars compared on given name, surname, street,
city, postcode and birth date; the shot shows its third record (two fields differ) after
skipping the first two. ``--eight`` adds email and phone to the compared fields.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from tests.helpers import generated_app  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="PNG file to write")
    parser.add_argument("--n", type=int, default=300, help="records per table")
    parser.add_argument("--keep", type=float, default=0.45, help="keep threshold")
    parser.add_argument("--record", type=int, default=3, help="which record to show (1-based)")
    parser.add_argument(
        "--eight", action="store_true", help="also compare email and phone (eight fields)"
    )
    parser.add_argument("--script", default="", help="JavaScript to run before the shot")
    parser.add_argument("--port", type=int, default=8078)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="matchdesk-shot-"))
    fields = "eight" if args.eight else "six"
    app = generated_app(
        folder,
        n=args.n,
        keep=args.keep,
        eight=args.eight,
        name=f"Owners ↔ cars ({args.n}, {fields} fields)",
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", args.port, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = Options()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options)
    try:
        driver.set_window_size(1440, 900)
        # The window includes no browser chrome in headless mode; make the viewport 1440 x 900.
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight];")
        driver.set_window_size(1440 + 1440 - inner[0], 900 + 900 - inner[1])
        driver.get(f"http://127.0.0.1:{args.port}/")
        label = "return (document.getElementById('record-label') || {}).textContent || '';"
        deadline = time.time() + 30
        while "Record 1 of" not in driver.execute_script(label):
            assert time.time() < deadline, "the review page did not load"
            time.sleep(0.1)
        for k in range(2, args.record + 1):
            driver.execute_script(
                "document.dispatchEvent(new KeyboardEvent('keydown', {key: 's', bubbles: true}));"
            )
            while f"Record {k} of" not in driver.execute_script(label):
                time.sleep(0.05)
        time.sleep(1.0)
        if args.script:
            driver.execute_script(args.script)
            time.sleep(0.5)
        driver.save_screenshot(args.out)
    finally:
        driver.quit()
        server.shutdown()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
