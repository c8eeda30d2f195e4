"""Helpers shared by the callback tests."""

from __future__ import annotations

import json

import sqlalchemy as sa

from callbacks.review import update_review


def review_step(
    services,
    project,
    trigger=None,
    view=None,
    selected=(),
    edits=None,
    who="ann",
    session=None,
    *,
    blind=False,
    show_scores=False,
    reason=None,
    comment=None,
    audit=False,
) -> dict:
    """Call the review callback as the page would; returns its outputs by name.

    The page's grid shows ``view``'s record: a decision carries it (see :func:`on_screen`).
    """
    out = update_review(
        project.project_id,
        who,
        [{"_right_id": r} for r in selected],
        edits or {},
        view,
        session,
        services=services,
        trigger=trigger,
        blind=blind,
        show_scores=show_scores,
        shown=on_screen(view),
        reason=reason,
        comment=comment,
        audit=audit,
    )
    return out


def on_screen(view) -> dict | None:
    """The candidate grid's ``eventData`` while its rows are ``view``'s record's."""
    left_id = view.get("left_id") if isinstance(view, dict) else None
    return {"data": {"record": left_id}, "timestamp": 1} if left_id else None


def dash_request(dependencies: list[dict], output_has: str, values: dict, changed: str) -> dict:
    """The JSON body the page would POST to ``/_dash-update-component``.

    ``dependencies`` is what ``/_dash-dependencies`` answers; the callback is the
    one whose output string contains ``output_has``. ``values`` maps ``"id.prop"``
    to the value sent (None for the rest); ``changed`` is the ``"id.prop"`` that
    triggered it. Tests and benchmarks use it to send raw, possibly forged, requests.
    """
    dep = next(d for d in dependencies if output_has in d["output"])

    def fill(items):
        return [{**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in items]

    outputs = [
        {"id": part.split(".")[0], "property": part.split(".")[1]}
        for part in dep["output"].strip(".").split("...")
    ]
    return {
        "output": dep["output"],
        "outputs": outputs,
        "inputs": fill(dep["inputs"]),
        "state": fill(dep["state"]),
        "changedPropIds": [changed],
    }


def review_post(client, values: dict, changed: str) -> dict:
    """POST a review request through a Flask test client, as the page would.

    Returns the answer's JSON with its ``status`` (only the status when the
    server sent nothing to update).
    """
    dependencies = client.get("/_dash-dependencies").get_json()
    body = dash_request(dependencies, "record-label.children", values, changed)
    response = client.post(
        "/_dash-update-component", json=body, headers={"Origin": "http://localhost"}
    )
    text = response.get_data(as_text=True)
    if response.status_code == 204 or not text:
        return {"status": response.status_code}
    return {"status": response.status_code, **json.loads(text)}


def patched(patch) -> dict:
    """What a ``dash.Patch`` assigns, as ``{key path: value}``."""
    return {
        tuple(op["location"]): op["params"]["value"]
        for op in patch.to_plotly_json()["operations"]
        if op["operation"] == "Assign"
    }


def generated_app(
    folder, *, n: int = 40, keep: float = 0.45, select: float = 0.8, eight=False, name=None
):
    """An app on generated owners and cars compared on six fields (``GENERATED_FIELDS``).

    Its database and data live in ``folder`` (a ``pathlib.Path``).

    With ``eight``, the cars also carry their owner's email and both tables a
    phone number, and those two are compared too (after ``surname``, at the end).
    """
    import numpy as np

    from app import create_app
    from matching.engine.demo import GENERATED_FIELDS, generate_tables
    from matching.engine.spec import Field, Spec
    from server.services import AppConfig

    tables = generate_tables(n, seed=3)
    left, right = tables.owners.copy(), tables.cars.copy()
    names = list(GENERATED_FIELDS)
    if eight:
        rng = np.random.default_rng(3)
        left["phone"] = [f"+61 4{d:08d}" for d in rng.integers(0, 10**8, size=len(left))]
        owner = dict(zip(tables.links["right_id"], tables.links["left_id"]))
        by_owner = left.set_index("owner_id")
        right["email"] = [by_owner["email"].get(owner.get(c)) for c in right["car_id"]]
        right["phone"] = [by_owner["phone"].get(owner.get(c)) for c in right["car_id"]]
        names = [*names[:2], "email", *names[2:], "phone"]
    spec = Spec(fields=tuple(Field(f) for f in names), left_id="owner_id", right_id="car_id")
    return create_app(
        AppConfig(
            left=left,
            right=right,
            spec=spec,
            keep=keep,
            select=select,
            name=name or ("eight fields" if eight else "six fields"),
            db_url=f"sqlite:///{folder / 'generated.db'}",
            data_dir=str(folder / "generated-data"),
        )
    )


# -- browser tests ---------------------------------------------------------------------

LABEL = "#record-label"


def button(dash_duo, text: str):
    """The visible button whose label is ``text``."""
    from selenium.webdriver.common.by import By

    for b in dash_duo.driver.find_elements(By.TAG_NAME, "button"):
        if b.text.strip() == text and b.is_displayed():
            return b
    raise AssertionError(f"no visible button labelled {text!r}")


def click(dash_duo, element) -> None:
    """Scroll ``element`` to the middle of the window and click it.

    Near the foot of a long page the element cannot scroll to the middle, and
    headless Chromium may then report the click as intercepted; the element's
    own click() is what a person's click would fire.
    """
    from selenium.common.exceptions import ElementClickInterceptedException

    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    try:
        element.click()
    except ElementClickInterceptedException:
        dash_duo.driver.execute_script("arguments[0].click()", element)


def tab(dash_duo, text: str):
    """The tab whose label is ``text``."""
    from selenium.webdriver.common.by import By

    return dash_duo.driver.find_element(By.XPATH, f"//a[contains(@class,'nav-link')][.='{text}']")


def open_tab(dash_duo, text: str) -> None:
    """Click the tab labelled ``text`` and wait until it is the one shown.

    On a loaded machine a click on a tab has been seen to leave the old tab shown (no
    callback ran); a person clicks again, and so does this, once, before failing.
    """
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.wait import WebDriverWait

    def shown(_driver) -> bool:
        return "active" in (tab(dash_duo, text).get_attribute("class") or "")

    for attempt in (1, 2):
        click(dash_duo, tab(dash_duo, text))
        try:
            WebDriverWait(dash_duo.driver, 10).until(shown)
            return
        except TimeoutException:
            if attempt == 2:
                raise AssertionError(f"the {text!r} tab did not open") from None


def start(dash_duo, app) -> None:
    """Serve ``app`` and wait for the first of the demo's five records."""
    dash_duo.start_server(app)
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=15)


def upload_and_propose(dash_duo, app, left, right, rows: int) -> None:
    """Serve ``app``, open the Data panel, upload the ``left`` and ``right`` files (the
    left of ``rows`` rows) and wait for the proposed set-up."""
    start(dash_duo, app)
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element("#upload-left input")
    dash_duo.find_element("#upload-left input").send_keys(str(left))
    dash_duo.wait_for_contains_text("#upload-left-info", f"{rows} rows", timeout=10)
    dash_duo.find_element("#upload-right input").send_keys(str(right))
    dash_duo.wait_for_contains_text("#proposal-note", "Set-up proposed", timeout=15)


def uploaded_pair(services, folder, left, right, names=("left.csv", "right.csv")) -> dict:
    """``left`` and ``right`` written as CSV files in ``folder`` and read as the Data panel
    reads uploads: ``{"left": record, "right": record}``."""
    from callbacks.tables import read_upload

    out = {}
    for side, frame, name in zip(("left", "right"), (left, right), names):
        path = folder / name
        frame.to_csv(path, index=False)
        out[side] = read_upload(services, path, path.name)
    return out


def project_id(app) -> str:
    """The id of the app's first project."""
    return app.matchdesk.project_options()[0]["value"]


# -- decision log ----------------------------------------------------------------------


class StatementCount:
    """Database statements every SQLAlchemy engine of this process sends inside ``with``.

    ``writes`` counts write transactions (SQLite's ``BEGIN IMMEDIATE``) and
    ``settings`` the reads of a project's settings (statements that select
    ``projects.meta``), both among ``statements``. Counted with SQLAlchemy's
    ``before_cursor_execute`` event, from every thread.
    """

    def __init__(self) -> None:
        self.statements = self.writes = self.settings = 0
        self._on = False
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._seen)

    def __enter__(self) -> StatementCount:
        self.statements = self.writes = self.settings = 0
        self._on = True
        return self

    def __exit__(self, *_exc) -> None:
        self._on = False

    def close(self) -> None:
        """Stop listening."""
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement: str, *_args) -> None:
        if not self._on:
            return
        self.statements += 1
        text = statement.lower()
        self.writes += text.startswith("begin immediate")
        self.settings += text.startswith("select") and "projects.meta" in text


def write_from_threads(log, make, *, writers: int = 20, per_writer: int = 10) -> list:
    """Append ``make(writer, i)`` from ``writers`` threads started together; returns errors."""
    import threading

    errors: list = []
    start_all = threading.Barrier(writers)

    def write(writer: int) -> None:
        try:
            start_all.wait()
            for i in range(per_writer):
                log.append("p", make(writer, i))
        except Exception as error:  # collected so the test names it
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def texts(component) -> list[str]:
    """Every string in a component tree, in order."""
    out = []

    def walk(node):
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, (list, tuple)):
            for child in node:
                walk(child)
        elif hasattr(node, "children"):
            walk(node.children)

    walk(component)
    return out
