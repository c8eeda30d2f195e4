"""The whole app at a million records: gunicorn with 4 workers, driven in headless Chromium.

Generated owners and cars (``generate_tables(N, seed=1)``), the six shared fields,
blocked on the union of ``postcode``, ``surname + birth_date`` and
``given_name + birth_date``. The project is made first, in a separate process,
through the app's own ``create_app`` (so its candidates are scored and saved once,
before any clock starts). Then ``gunicorn 'app:server'`` serves it with the same
options in ``MATCHDESK_ARGS``, and a headless Chromium measures, as a person uses
the page:

- the first record on screen after opening the page;
- key ``a`` to the next record rendered, before and after a bulk auto-accept;
- the bulk auto-accept itself (Tuning tab, Apply auto-accept, Confirm) and the
  undo of that batch (key ``u`` on the Review tab, by the lead who applied it);
- the Tuning tab's status refresh, a slider move, the Statistics tab;
- the Matched tab opening with the accepted pairs, and their CSV export;
- the resident memory (RSS, and PSS where /proc allows) of the workers, and the
  peak PSS of the whole server: the process gunicorn forks its workers from, the
  workers, and any process they fork (a run, a scoring), while it serves and while
  it starts.

``--serve app`` starts the server as a person does, ``python app.py --left ...
--workers 4``: that process reads the tables and makes the project at start
(nothing is made beforehand), then forks the workers.

Times are wall-clock in the browser (``performance.now()``), from the click or key
to the page showing the result; the server's share of a callback is the round trip
of its request, recorded by wrapping the page's ``fetch``.

Run: ``python bench/bench_app_scale.py [--records 1000000] [--keys 100] [--workers 4]``;
``--records 20000`` is a quick smoke run. Prints a Markdown table with the targets.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RULES = ("exact:postcode", "exact:surname+birth_date", "exact:given_name+birth_date")
FIELDS = ("given_name", "surname", "street", "city", "postcode", "birth_date")

# Every Dash callback request is timed: output, start, end (performance.now()).
_RECORD_CALLS = """
window.__calls = [];
const __fetch = window.fetch;
window.fetch = function(input, init) {
    const url = typeof input === 'string' ? input : (input && input.url) || '';
    if (!url.includes('_dash-update-component')) { return __fetch.apply(this, arguments); }
    let output = '';
    try { output = JSON.parse(init.body).output; } catch (e) {}
    const rec = {output: output, t0: performance.now(), t1: null, status: null};
    window.__calls.push(rec);
    return __fetch.apply(this, arguments).then(
        r => { rec.t1 = performance.now(); rec.status = r.status; return r; },
        e => { rec.t1 = performance.now(); rec.status = -1; throw e; });
};
// True once a callback request started at or after index SINCE, naming NAME, has answered.
window.__answered = (name, since) =>
    window.__calls.slice(since).some(c => (c.output || '').includes(name) && c.t1 !== null);
"""

# Press a key; done when the record label changes (as bench_review.py).
_PRESS = """
const key0 = arguments[0], done = arguments[arguments.length - 1];
const label = document.getElementById('record-label');
const before = label.textContent;
let key = key0;
if (key === 'a') {
    try { if (!dash_ag_grid.getApi('candidate-grid').getSelectedRows().length) { key = 'n'; } }
    catch (e) { key = 'n'; }
}
const t0 = performance.now();
const timer = setTimeout(() => { obs.disconnect(); done([key, -1]); }, arguments[1]);
const obs = new MutationObserver(() => {
    if (label.textContent !== before) {
        obs.disconnect(); clearTimeout(timer);
        requestAnimationFrame(() => done([key, performance.now() - t0]));
    }
});
obs.observe(label, {childList: true, characterData: true, subtree: true});
document.dispatchEvent(new KeyboardEvent('keydown', {key: key, bubbles: true}));
"""

# Run ACTION, then poll CONDITION every 5 ms; milliseconds until it holds (-1: timeout).
_ACT_AND_WAIT = """
const done = arguments[arguments.length - 1], limit = arguments[0];
const t0 = performance.now();
(function () { ACTION })();
(function poll() {
    let ok = false;
    try { ok = (function () { return CONDITION; })(); } catch (e) { ok = false; }
    if (ok) { requestAnimationFrame(() => done(performance.now() - t0)); }
    else if (performance.now() - t0 > limit) { done(-1); }
    else { setTimeout(poll, 5); }
})();
"""


def _js_text(selector: str) -> str:
    return f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_args(folder: Path) -> list[str]:
    """The workers' options when they open the project from the data folder by id."""
    return ["--db", f"sqlite:///{folder / 'log.db'}", "--data-dir", str(folder / "data")]


def app_args(folder: Path, records: int) -> list[str]:
    """The options that make the project: the same inputs make the same project."""
    return [
        "--left", str(folder / "owners.parquet"), "--right", str(folder / "cars.parquet"),
        "--left-id", "owner_id", "--right-id", "car_id",
        *(a for f in FIELDS for a in ("--field", f)),
        *(a for r in RULES for a in ("--block", r)),
        "--keep", "0.5", "--select", "0.8",
        "--name", f"generated {records:,}",
        "--db", f"sqlite:///{folder / 'log.db'}", "--data-dir", str(folder / "data"),
    ]  # fmt: skip


def prepare(folder: Path, records: int, *, make_project: bool = True) -> dict:
    """Write the tables and make the project (candidates scored and saved) in this
    process; without ``make_project``, write the tables only (no project, no log)."""
    from app import config_from_args, create_app
    from matching.engine.demo import generate_tables

    t = time.perf_counter()
    for name in ("log.db", "log.db-wal", "log.db-shm"):  # every run starts with no decisions
        (folder / name).unlink(missing_ok=True)
    if not (folder / "cars.parquet").exists():  # a kept --folder keeps its tables
        tables = generate_tables(records, seed=1)
        tables.owners.to_parquet(folder / "owners.parquet", index=False)
        tables.cars.to_parquet(folder / "cars.parquet", index=False)
        del tables
    generated = time.perf_counter() - t
    if not make_project:
        shutil.rmtree(folder / "data", ignore_errors=True)
        return {"generate_s": round(generated, 1), "project_s": None}
    t = time.perf_counter()
    config, _ = config_from_args(app_args(folder, records))
    app = create_app(config)
    services = app.matchdesk
    project = services.project(services.project_options()[0]["value"])
    return {
        "generate_s": round(generated, 1),
        "project_s": round(time.perf_counter() - t, 1),
        "project_id": project.project_id,
        "left": len(project.left),
        "right": len(project.right),
        "candidates": len(project.candidates),
    }


def project_sizes(data: Path) -> dict:
    """Rows of the tables and candidates of the one project in a data folder."""
    import pyarrow as pa

    folder = next(p for p in data.iterdir() if (p / "candidates.arrow").exists())

    def rows(name: str) -> int:
        with pa.memory_map(str(folder / name)) as source:
            return pa.ipc.open_file(source).read_all().num_rows

    return {
        "project_id": folder.name,
        "left": rows("left.arrow"),
        "right": rows("right.arrow"),
        "candidates": rows("candidates.arrow"),
    }


def workers_of(master: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                pids.append(int(entry.name))
    return sorted(pids)


def tree_of(root: int) -> list[int]:
    """``root`` and every process descended from it (workers, runs, a scoring)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(tree)


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def memory_mb(pids: list[int]) -> tuple[float, float | None]:
    """Summed RSS and PSS (None when /proc does not give it) of the processes, in MB."""
    rss = pss = 0
    pss_known = True
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rss += int(status.split("VmRSS:")[1].split()[0])
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            pss += int(rollup.split("\nPss:")[1].split()[0])
        except (OSError, IndexError, ValueError):
            pss_known = False
    return rss / 1024, (pss / 1024 if pss_known and pids else None)


def resident_kinds_mb(pids: list[int]) -> dict[str, float]:
    """Summed ``RssAnon`` (the process's own memory) and ``RssFile`` (pages of mapped
    files, such as the project's, counted again in every process that touched them)."""
    out = {"anon": 0.0, "file": 0.0}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for kind, key in (("anon", "RssAnon:"), ("file", "RssFile:")):
            with contextlib.suppress(IndexError, ValueError):
                out[kind] += int(status.split(key)[1].split()[0]) / 1024
    return out


class Memory(threading.Thread):
    """Samples the workers' summed RSS and PSS every second, and the PSS of the whole
    server (the master and every process under it); keeps the largest.

    The whole server's peak is kept apart while it starts (``phase`` "starting":
    with ``--serve app``, the tables read and the project scored) and while it
    serves (every later phase). On a shared machine a server that outgrows
    ``limit_mb`` is stopped (its master and workers killed) before it starves
    everything else.
    """

    def __init__(self, master: int, limit_mb: float, *, workers_at_start: bool = True) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.limit_mb = limit_mb
        #: False: the workers' figures leave out the start, when the master's only
        #: child may be the process scoring the project (``--serve app``).
        self.workers_at_start = workers_at_start
        self.peak_rss = 0.0
        self.peak_pss = 0.0
        self.per_worker: list[float] = []
        #: What the page was doing (set by :func:`measure`), and at the peak: that, and
        #: the peak's own memory and mapped-file pages (RssAnon, RssFile summed).
        self.phase = "starting"
        self.at_peak: dict = {}
        #: The whole server's peak PSS while starting and while serving, each with the
        #: master's PSS and RSS, the number of processes and the phase at that moment.
        self.tree: dict[str, dict] = {}
        self.exceeded = False
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            pids = workers_of(self.master)
            rss, pss = memory_mb(pids)
            if self.phase == "starting" and not self.workers_at_start:
                rss, pss = 0.0, None
            if rss > self.peak_rss:
                self.per_worker = [memory_mb([p])[0] for p in pids]
                self.at_peak = {"phase": self.phase, **resident_kinds_mb(pids)}
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss or 0.0)
            tree = tree_of(self.master)
            tree_pss = memory_mb(tree)[1] or 0.0
            when = "start" if self.phase == "starting" else "serve"
            if tree_pss > self.tree.get(when, {}).get("pss", -1.0):
                master_rss, master_pss = memory_mb([self.master])
                self.tree[when] = {
                    "pss": tree_pss,
                    "master_pss": master_pss or 0.0,
                    "master_rss": master_rss,
                    "processes": len(tree),
                    "phase": self.phase,
                }
            # Pages of the project files the workers map are counted in every worker's
            # RSS; PSS shares them out, so it is what the machine really holds.
            if max(tree_pss, pss or rss) > self.limit_mb:
                self.exceeded = True
                for pid in reversed(tree):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                return


def start_gunicorn(
    folder: Path, records: int, port: int, workers: int, *, tables: bool, serve: str = "gunicorn"
) -> subprocess.Popen:
    """The server: ``gunicorn 'app:server'`` (its workers build the app), or with
    ``serve="app"``, ``python app.py ... --workers N`` (one process reads the tables,
    makes the project and forks the workers)."""
    log = (folder / "gunicorn.log").open("w")
    if serve == "app":
        command = [
            sys.executable, "app.py", *app_args(folder, records), "--workers", str(workers),
            "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    options = app_args(folder, records) if tables else server_args(folder)
    env = {**os.environ, "MATCHDESK_ARGS": shlex.join(options)}
    command = [
        sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", "4",
        "--worker-class", "gthread", "--timeout", "600", "--bind", f"127.0.0.1:{port}",
        "app:server",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(proc: subprocess.Popen, port: int, workers: int, folder: Path) -> float:
    """Seconds until every worker has booted (built its app) and gone idle."""
    import requests

    t = time.perf_counter()
    deadline = t + 1800
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gunicorn stopped:\n" + (folder / "gunicorn.log").read_text()[-3000:])
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    # A worker that has not served the page yet refuses Dash's scripts ("dash is not a
    # registered library"): let every worker serve it once before the browser comes.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: requests.get(f"http://127.0.0.1:{port}/", timeout=600), range(32)))
    # Workers build the app (and read the project) before serving; wait until all are idle.
    quiet = 0
    last: dict[int, int] = {}
    while time.perf_counter() < deadline and quiet < 3:
        pids = workers_of(proc.pid)
        now = {p: cpu_ticks(p) for p in pids}
        quiet = quiet + 1 if len(pids) == workers and now == last else 0
        last = now
        time.sleep(1.0)
    return time.perf_counter() - t


def browser(downloads: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--window-size=1440,1000",
    ):
        options.add_argument(flag)
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options)
    driver.set_script_timeout(900)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_CALLS})
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    return driver


class Page:
    """The measuring side of the browser."""

    def __init__(self, driver) -> None:
        self.driver = driver

    def until_record(self, mark: str, started: float, *, limit_s: float = 600) -> float:
        """Milliseconds from ``started`` (``time.perf_counter()``) until the record label
        shows ``mark``; raises after ``limit_s``."""
        while mark not in self.text("#record-label"):
            if time.perf_counter() - started > limit_s:
                raise RuntimeError(f"no record on screen after {limit_s:g} s")
            time.sleep(0.01)
        return (time.perf_counter() - started) * 1000

    def act(self, action: str, condition: str, *, limit_s: float = 60) -> float:
        """Milliseconds from running ``action`` until ``condition`` holds; raises on timeout."""
        script = _ACT_AND_WAIT.replace("ACTION", action).replace("CONDITION", condition)
        ms = self.driver.execute_async_script(script, limit_s * 1000)
        if ms < 0:
            raise RuntimeError(f"timed out after {limit_s} s waiting for {condition}")
        return ms

    def calls(self) -> list[dict]:
        return self.driver.execute_script("return window.__calls")

    def mark(self) -> int:
        return len(self.calls())

    def call_ms(self, since: int, output: str, *, limit_s: float = 60) -> float | None:
        """Round trip (ms) of the first finished callback request after ``since`` whose
        output names ``output``; None when there was none."""
        deadline = time.time() + limit_s
        while time.time() < deadline:
            calls = self.calls()[since:]
            hit = [c for c in calls if output in (c["output"] or "")]
            if hit and hit[0]["t1"] is not None:
                if hit[0]["status"] != 200:
                    raise RuntimeError(f"{output}: HTTP {hit[0]['status']}")
                return hit[0]["t1"] - hit[0]["t0"]
            if not hit and len(calls) and all(c["t1"] is not None for c in calls):
                time.sleep(0.2)
                if len(self.calls()) == since + len(calls):
                    return None
            time.sleep(0.02)
        return None

    def idle(self, *, limit_s: float = 120) -> None:
        """Wait until no callback request is in flight (and none started for 300 ms)."""
        deadline = time.time() + limit_s
        stable = 0
        seen = -1
        while time.time() < deadline and stable < 6:
            calls = self.calls()
            busy = any(c["t1"] is None for c in calls)
            stable = stable + 1 if not busy and len(calls) == seen else 0
            seen = len(calls)
            time.sleep(0.05)

    def text(self, selector: str) -> str:
        return self.driver.execute_script(f"return {_js_text(selector)};")

    def click_js(self, selector: str) -> str:
        return f"document.querySelector({json.dumps(selector)}).click();"

    def tab(self, label: str) -> str:
        return (
            "Array.from(document.querySelectorAll('.nav-link'))"
            f".find(a => a.textContent.trim() === {json.dumps(label)}).click();"
        )

    def set_reviewer(self, name: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        box = self.driver.find_element(By.ID, "reviewer-name")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        if name:
            box.send_keys(name)
        box.send_keys(Keys.TAB)
        time.sleep(0.5)
        self.idle()

    def pick_project(self, name: str) -> None:
        """Open the navbar's project list and click the project named ``name``."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, 120).until(lambda d: d.find_elements(By.ID, "project-select"))
        self.driver.find_element(By.ID, "project-select").click()
        path = f"//*[contains(@class, 'dash-options-list-option')][normalize-space()={name!r}]"
        WebDriverWait(self.driver, 30).until(lambda d: d.find_elements(By.XPATH, path))
        self.driver.find_element(By.XPATH, path).click()

    def keys(self, key: str, count: int) -> list[float]:
        out = []
        for _ in range(count):
            pressed, ms = self.driver.execute_async_script(_PRESS, key, 60_000)
            if ms < 0:
                raise RuntimeError(f"key {pressed!r}: the record did not change within 60 s")
            out.append(ms)
        return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))]


class Figures(dict):
    """The measurements so far; each is printed as it is taken, so a run stopped
    midway (by the memory guard, or by hand) still tells what it measured."""

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        print(json.dumps({key: value}), flush=True)

    def update(self, other=(), **more) -> None:
        for key, value in dict(other, **more).items():
            self[key] = value


def measure(page: Page, args, folder: Path, downloads: Path, memory: Memory) -> dict:
    r: dict = Figures()
    d = page.driver
    mark = f" of {args.records:,}"
    # Opening the project: with the tables in every worker, the page loads with it
    # selected; otherwise the page opens on the demo and the project is picked in the
    # navbar. Either way, until its first record is on screen.
    t = time.perf_counter()
    d.get(f"http://127.0.0.1:{args.port}/")
    if not args.tables_in_workers:
        page.idle()
        t = time.perf_counter()
        page.pick_project(f"generated {args.records:,}")
    r["first_record_ms"] = page.until_record(mark, t)
    page.idle(limit_s=600)
    # Again, reloaded: the browser's cache holds Dash's and Plotly's scripts, and the
    # page opens on the project it showed last (or the workers' first project).
    t = time.perf_counter()
    d.refresh()
    if not args.tables_in_workers:
        page.idle()
        if mark not in page.text("#record-label"):
            t = time.perf_counter()
            page.pick_project(f"generated {args.records:,}")
    r["first_record_warm_ms"] = page.until_record(mark, t)
    page.idle(limit_s=600)

    memory.phase = "keys before the bulk"
    r["keys_before"] = page.keys("a", args.keys)
    memory.phase = "Tuning and Statistics before the bulk"

    r.update({f"{k}_before": v for k, v in tabs(page).items()})

    # A lead applies auto-accept: the default rule (best >= 0.9, ahead by 0.1).
    memory.phase = "bulk auto-accept"
    page.set_reviewer("lead")
    page.act(page.tab("Tuning"), "true")
    page.idle()
    r["bulk_preview_ms"] = page.act(
        page.click_js("#auto-accept-button"),
        "document.querySelector('#bulk-modal-text') && "
        f"/[0-9]/.test({_js_text('#bulk-modal-text')})",
        limit_s=600,
    )
    question = page.text("#bulk-modal-text")
    page.idle()
    since = page.mark()
    r["bulk_accept_ms"] = page.act(
        page.click_js("#bulk-confirm-button"),
        f"/automatically/.test({_js_text('#bulk-result-text')})",
        limit_s=900,
    )
    r["bulk_accept_server_ms"] = page.call_ms(since, "bulk-done-store")
    r["bulk_result"] = page.text("#bulk-result-text")
    r["bulk_question"] = question
    page.idle(limit_s=900)

    # A reviewer goes on: the first request in each other worker reads the batch.
    page.set_reviewer("")
    page.act(page.tab("Review"), "true")
    page.idle(limit_s=900)
    memory.phase = "keys after the bulk"
    r["keys_after"] = page.keys("a", args.keys)
    memory.phase = "Tuning and Statistics after the bulk"

    r.update({f"{k}_after": v for k, v in tabs(page).items()})

    # The Matched tab with the batch's pairs, and their CSV export.
    memory.phase = "Matched tab"
    since = page.mark()
    r["matched_ms"] = page.act(
        page.tab("Matched"),
        f"window.__answered('matched-summary', {since}) && "
        # the grid's rows asked for again after the tab opened (the decisions changed),
        # not rows it showed before
        f"window.__answered('getRowsResponse', {since}) && "
        "document.querySelectorAll('#matched-grid .ag-row').length > 0 && "
        f"/accepted pairs/.test({_js_text('#matched-summary')})",
        limit_s=600,
    )
    r["matched_summary"] = page.text("#matched-summary")
    page.idle(limit_s=600)
    for old in downloads.glob("*"):
        old.unlink()
    memory.phase = "CSV export"
    t = time.perf_counter()
    if not args.skip_export:
        page.act(page.click_js("#export-csv-button"), "true")
    exported = None
    while not args.skip_export and time.perf_counter() - t < 900:
        files = [p for p in downloads.glob("*") if not p.name.endswith(".crdownload")]
        if files:
            exported = files[0]
            break
        time.sleep(0.05)
    r["export_ms"] = (time.perf_counter() - t) * 1000 if exported else None
    r["peak_rss_mb"], r["peak_pss_mb"] = memory.peak_rss, memory.peak_pss
    if exported is not None:
        with open(exported, "rb") as fh:
            r["export_rows"] = sum(1 for _ in fh) - 1
        r["export_mb"] = exported.stat().st_size / 1e6
    page.idle(limit_s=600)

    # The lead undoes the batch from the Review tab.
    memory.phase = "undo of the batch"
    page.set_reviewer("lead")
    page.act(page.tab("Review"), "true")
    page.idle(limit_s=900)
    before = page.text("#review-progress")
    decided = int(before.split(" of ")[0].replace(",", ""))
    written = int(r["bulk_result"].split(" records")[0].replace(",", ""))
    since = page.mark()
    r["undo_ms"] = page.act(
        "document.dispatchEvent(new KeyboardEvent('keydown', {key: 'u', bubbles: true}));",
        f"window.__answered('record-label', {since}) && "
        f"parseInt({_js_text('#review-progress')}.split(' of ')[0].replace(/,/g, ''))"
        f" <= {decided - written}",
        limit_s=900,
    )
    r["undo_server_ms"] = page.call_ms(since, "record-label")
    r["progress_before_undo"] = before
    r["progress_after_undo"] = page.text("#review-progress")
    page.idle(limit_s=900)
    r["logs"] = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
    r["peak_rss_mb"], r["peak_pss_mb"] = memory.peak_rss, memory.peak_pss
    return r


def tabs(page: Page) -> dict:
    """Tuning status refresh, one slider move and the Statistics tab."""
    out = {}
    page.act(page.tab("Review"), "true")
    page.idle(limit_s=600)
    since = page.mark()
    out["tuning_ms"] = page.act(
        page.tab("Tuning"),
        f"window.__answered('tuning-status-store', {since}) && "
        "document.querySelector('#tuning-chart .main-svg') !== null",
        limit_s=600,
    )
    page.idle(limit_s=600)
    out["tuning_status_ms"] = page.call_ms(since, "tuning-status-store")
    before = page.text("#tuning-counts")
    out["slider_ms"] = page.act(
        "const h = document.querySelector('#tuning-keep-slider [role=slider]');"
        "h.focus(); h.dispatchEvent(new KeyboardEvent('keydown', "
        "{key: 'ArrowRight', code: 'ArrowRight', keyCode: 39, bubbles: true}));",
        f"{_js_text('#tuning-counts')} !== {json.dumps(before)}",
    )
    page.idle()
    since = page.mark()
    out["statistics_ms"] = page.act(
        page.tab("Statistics"),
        f"window.__answered('stats-progress', {since}) && "
        "document.querySelector('#stats-progress').textContent.length > 0",
        limit_s=600,
    )
    page.idle(limit_s=600)
    out["statistics_server_ms"] = page.call_ms(since, "stats-progress")
    return out


def report(r: dict, prep: dict, args, boot_s: float, load: str) -> str:
    def ms(v) -> str:
        return "n/a" if v is None else f"{v:,.0f} ms"

    def keys(v: list[float]) -> str:
        return f"median {statistics.median(v):.0f} ms, p99 {pct(v, 99):.0f} ms, max {max(v):.0f} ms"

    def ok(value, limit) -> str:
        return "" if value is None else (" ✓" if value <= limit else " ✗")

    rows = [
        ("first record on screen after opening the project"
         + (" (page load)" if args.tables_in_workers else " (picked in the navbar)"),
         ms(r["first_record_ms"]) + ok(r["first_record_ms"], 3000) + " (a new browser); "
         + ms(r["first_record_warm_ms"]) + ok(r["first_record_warm_ms"], 3000)
         + " (reloaded, scripts cached)", "≤ 3,000 ms"),
        (f"key a → next record, before bulk ({len(r['keys_before'])} keys)",
         keys(r["keys_before"]) + ok(statistics.median(r["keys_before"]), 100)
         + ok(pct(r["keys_before"], 99), 300), "median ≤ 100 ms, p99 ≤ 300 ms"),
        (f"key a → next record, after bulk ({len(r['keys_after'])} keys)",
         keys(r["keys_after"]) + ok(statistics.median(r["keys_after"]), 100)
         + ok(pct(r["keys_after"], 99), 300), "median ≤ 100 ms, p99 ≤ 300 ms"),
        ("  the first 4 keys after bulk (other workers read the batch)",
         ", ".join(f"{x:,.0f}" for x in r["keys_after"][:4]) + " ms", ""),
        ("bulk auto-accept preview (count in the dialog)", ms(r["bulk_preview_ms"]), ""),
        (f"bulk auto-accept: {r['bulk_result']}", ms(r["bulk_accept_ms"])
         + ok(r["bulk_accept_ms"], 15000) + f" (server {ms(r['bulk_accept_server_ms'])})",
         "≤ 15,000 ms"),
        ("undo of that batch", ms(r["undo_ms"]) + ok(r["undo_ms"], 15000)
         + f" (server {ms(r['undo_server_ms'])}); {r['progress_before_undo']} → "
         f"{r['progress_after_undo']}", "≤ 15,000 ms"),
    ]  # fmt: skip
    for when in ("before", "after"):
        rows += [
            (f"Tuning tab, status refresh ({when} bulk)",
             ms(r[f"tuning_status_ms_{when}"]) + ok(r[f"tuning_status_ms_{when}"], 1000)
             + f" round trip; tab to chart {ms(r[f'tuning_ms_{when}'])}", "≤ 1,000 ms"),
            (f"slider move ({when} bulk)", ms(r[f"slider_ms_{when}"])
             + ok(r[f"slider_ms_{when}"], 200), "≤ 200 ms"),
            (f"Statistics tab ({when} bulk)", ms(r[f"statistics_ms_{when}"])
             + ok(r[f"statistics_ms_{when}"], 1000)
             + f" (round trip {ms(r[f'statistics_server_ms_{when}'])})", "≤ 1,000 ms"),
        ]  # fmt: skip
    rows += [
        (f"Matched tab opens ({r['matched_summary']})", ms(r["matched_ms"])
         + ok(r["matched_ms"], 2000), "≤ 2,000 ms"),
        (f"CSV export ({r.get('export_rows', 0):,} rows, {r.get('export_mb', 0):.0f} MB)",
         ms(r["export_ms"]) + ok(r["export_ms"], 30000), "≤ 30,000 ms"),
        (f"memory of the {args.workers} workers, peak (sum)",
         f"RSS {r['peak_rss_mb']:,.0f} MB{ok(r['peak_rss_mb'], 3072)}, PSS "
         f"{r['peak_pss_mb']:,.0f} MB; per worker "
         + ", ".join(f"{x:,.0f}" for x in r.get("per_worker_mb", [])) + " MB", "RSS ≤ 3,072 MB"),
        ("  at that peak: what the page did; own memory / mapped project files (summed RSS)",
         f"{r.get('at_peak', {}).get('phase', '?')}; "
         f"{r.get('at_peak', {}).get('anon', 0):,.0f} MB / "
         f"{r.get('at_peak', {}).get('file', 0):,.0f} MB", ""),
    ]  # fmt: skip
    for when, words, limit in (("serve", "serving", 2560), ("start", "starting", None)):
        tree = r.get("tree", {}).get(when)
        if tree:
            rows.append((
                f"whole server while {words} (master, workers and what they fork), peak PSS",
                f"{tree['pss']:,.0f} MB{ok(tree['pss'], limit) if limit else ''}, "
                f"{tree['processes']} processes, during {tree['phase']}; the master "
                f"{tree['master_pss']:,.0f} MB PSS, {tree['master_rss']:,.0f} MB RSS",
                "≤ 2,560 MB" if limit else "",
            ))  # fmt: skip
    made = (
        f"project made (scored and saved) in {prep['project_s']} s before the clock"
        if prep["project_s"] is not None
        else "project made by the server as it started (python app.py --workers)"
    )
    lines = [
        f"{prep['left']:,} owners x {prep['right']:,} cars, {prep['candidates']:,} candidate "
        f"pairs; tables generated in {prep['generate_s']} s, {made}; {args.workers} gunicorn "
        f"workers ready {boot_s:.0f} s after start. Load: {load}.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
    ]
    if r["logs"]:
        lines += ["", f"Browser console errors: {r['logs'][:3]}"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=100, help="key presses before and after")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--folder", help="keep the files here (default: a temporary folder)")
    parser.add_argument(
        "--max-rss-gb",
        type=float,
        default=12.0,
        help="stop the server when its workers' memory (PSS where /proc gives it, else "
        "RSS) passes this (default 12 GB)",
    )
    parser.add_argument(
        "--tables-in-workers",
        action="store_true",
        help="give every worker the tables (--left/--right in MATCHDESK_ARGS), so each reads "
        "them and opens the project at start; by default workers get only --db and "
        "--data-dir and open the project from its files when the page picks it",
    )
    parser.add_argument(
        "--serve",
        choices=("gunicorn", "app"),
        default="gunicorn",
        help="gunicorn: gunicorn 'app:server', the project made beforehand (the default); "
        "app: python app.py --left ... --workers N, which reads the tables and makes the "
        "project itself at start, then forks its workers",
    )
    parser.add_argument("--skip-export", action="store_true", help="leave out the CSV export")
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare:
        made = prepare(Path(args.prepare), args.records, make_project=args.serve == "gunicorn")
        print(json.dumps(made))
        return 0
    if args.serve == "app":
        args.tables_in_workers = True  # the page opens on the project the app was given
    if args.records < 1000:
        parser.error("--records must be at least 1000")
    args.port = args.port or free_port()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="bench-app-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    downloads = folder / "downloads"
    downloads.mkdir(exist_ok=True)
    made_by = ["--prepare", str(folder), "--serve", args.serve]
    done = subprocess.run(
        [sys.executable, __file__, "--records", str(args.records), *made_by],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode:
        sys.stderr.write(done.stderr[-3000:])
        return 1
    prep = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(prep), flush=True)
    proc = start_gunicorn(
        folder,
        args.records,
        args.port,
        args.workers,
        tables=args.tables_in_workers,
        serve=args.serve,
    )
    memory = Memory(proc.pid, args.max_rss_gb * 1024, workers_at_start=args.serve != "app")
    memory.start()
    driver = None
    try:
        try:
            boot_s = wait_ready(proc, args.port, args.workers, folder)
            memory.phase = "opening the page"
            if prep["project_s"] is None:
                prep.update(project_sizes(folder / "data"))
            driver = browser(downloads)
            r = measure(Page(driver), args, folder, downloads, memory)
        except Exception:
            if not memory.exceeded:
                raise
            workers = ", ".join(f"{x:,.0f}" for x in memory.per_worker)
            print(
                f"stopped: the {args.workers} workers' memory passed {args.max_rss_gb} GB "
                f"({memory.peak_rss:,.0f} MB; per worker {workers} MB; target 3,072 MB in all)"
            )
            return 1
        rss, pss = memory_mb(workers_of(proc.pid))
        r["peak_rss_mb"], r["peak_pss_mb"] = (
            max(r["peak_rss_mb"], rss),
            max(r["peak_pss_mb"], pss or 0),
        )
        r["per_worker_mb"] = memory.per_worker
        r["at_peak"] = memory.at_peak
        r["tree"] = memory.tree
        load = Path("/proc/loadavg").read_text().split()[:3]
        print(json.dumps({k: v for k, v in r.items() if k != "logs"}), flush=True)
        print()
        print(report(r, prep, args, boot_s, "load average " + ", ".join(load)))
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
