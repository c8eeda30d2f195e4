"""Helpers shared by the callback tests."""

from __future__ import annotations

from callbacks.review import update_review


def review_step(
    services, project, trigger=None, view=None, selected=(), edits=None, who="ann", session=None
) -> dict:
    """Call the review callback as the page would; returns its outputs by name."""
    out = update_review(
        project.project_id,
        who,
        [{"_right_id": r} for r in selected],
        edits or {},
        view,
        session,
        services=services,
        trigger=trigger,
    )
    return out


# -- browser tests ---------------------------------------------------------------------

LABEL = "#record-label"


def button(dash_duo, text: str):
    """The visible button whose label is ``text``."""
    from selenium.webdriver.common.by import By

    for b in dash_duo.driver.find_elements(By.TAG_NAME, "button"):
        if b.text.strip() == text and b.is_displayed():
            return b
    raise AssertionError(f"no visible button labelled {text!r}")


def tab(dash_duo, text: str):
    """The tab whose label is ``text``."""
    from selenium.webdriver.common.by import By

    return dash_duo.driver.find_element(By.XPATH, f"//a[contains(@class,'nav-link')][.='{text}']")


def start(dash_duo, app) -> None:
    """Serve ``app`` and wait for the first of the demo's five records."""
    dash_duo.start_server(app)
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=15)


def project_id(app) -> str:
    """The id of the app's first project."""
    return app.matchdesk.project_options()[0]["value"]


# -- decision log ----------------------------------------------------------------------


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
