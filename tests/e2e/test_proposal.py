"""The Data panel's previews and proposed set-up in headless Chromium, through to a review."""

from __future__ import annotations

import threading

from dash.testing.wait import until
from selenium.webdriver.common.keys import Keys

import callbacks.propose
from matching.engine.demo import generate_tables
from tests.helpers import LABEL, button, start

BADGE = ".proposed-badge"


def marked(dash_duo) -> list[str]:
    """What carries a "proposed" badge: field rows by number, the IDs, the rules."""
    rows = dash_duo.find_elements("#fields-container .row")
    out = [str(i) for i, row in enumerate(rows) if row.find_elements("css selector", BADGE)]
    for name in ("left-id", "right-id", "block-rules"):
        if dash_duo.find_elements(f"#{name}-proposed {BADGE}"):
            out.append(name)
    return out


def test_upload_two_files_see_preview_and_proposal_run_and_review(dash_duo, demo_app, tmp_path):
    tables = generate_tables(40, seed=11)
    left, right = tmp_path / "owners.csv", tmp_path / "cars.csv"
    tables.owners.to_csv(left, index=False)
    tables.cars.to_csv(right, index=False, sep=";")
    start(dash_duo, demo_app)
    button(dash_duo, "Data").click()
    # The open project's set-up is shown: the tutorial compares OwnerSurname.
    dash_duo.wait_for_contains_text("#proposal-note", "The set-up of the project", timeout=10)
    dash_duo.find_element("#upload-left input").send_keys(str(left))
    dash_duo.wait_for_contains_text("#preview-left", "owner_id (ID)", timeout=15)
    preview = dash_duo.find_element("#preview-left").text
    assert "birth_date (date)" in preview and "given_name (name)" in preview
    assert "0% missing · 40 distinct" in preview
    assert "O0000001" in preview  # the first rows themselves
    dash_duo.find_element("#upload-right input").send_keys(str(right))
    dash_duo.wait_for_contains_text("#preview-right", "car_id (ID)", timeout=15)
    dash_duo.wait_for_contains_text("#proposal-note", "Set-up proposed", timeout=15)
    assert "only in the left table: email" in dash_duo.find_element("#proposal-note").text
    assert "owner_id" in dash_duo.find_element("#left-id-select").text
    assert "car_id" in dash_duo.find_element("#right-id-select").text
    rows = dash_duo.find_element("#fields-container").text.split("proposed")
    assert [r.split() for r in rows if r.strip()] == [
        ["given_name", "given_name", "jaro_winkler", "text"],
        ["surname", "surname", "jaro_winkler", "text"],
        ["street", "street", "token_set", "text"],
        ["city", "city", "jaro_winkler", "text"],
        ["postcode", "postcode", "levenshtein", "number"],
        ["birth_date", "birth_date", "date", "text"],
    ]
    # Six fields, both IDs and the (empty: 40 x 44 pairs need none) rules are proposed.
    every = ["0", "1", "2", "3", "4", "5", "left-id", "right-id", "block-rules"]
    until(lambda: marked(dash_duo) == every, timeout=10)
    weight = dash_duo.find_elements("#fields-container input[type='number']")[0]
    weight.send_keys(Keys.BACKSPACE, "2", Keys.TAB)
    until(lambda: marked(dash_duo) == every[1:], timeout=10)
    dash_duo.wait_for_contains_text("#pair-count", "1,760 pairs to score", timeout=10)
    button(dash_duo, "Run").click()
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=30)
    dash_duo.find_element(".offcanvas .btn-close").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 40", timeout=15)
    button(dash_duo, "Accept").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 40", timeout=10)
    options = demo_app.matchdesk.project_options()
    new = next(o["value"] for o in options if o["label"] == "owners.csv ↔ cars.csv")
    state = demo_app.matchdesk.log.state(new)
    truth = dict(zip(tables.links["left_id"], tables.links["right_id"]))
    ((left_id, decision),) = state.decisions.items()
    assert decision.right_ids == (truth[left_id],)
    assert dash_duo.get_logs() == []


def test_large_uploads_say_proposing_then_fill_the_form(dash_duo, demo_app, tmp_path, monkeypatch):
    tables = generate_tables(40, seed=11)
    left, right = tmp_path / "owners.csv", tmp_path / "cars.csv"
    tables.owners.to_csv(left, index=False)
    tables.cars.to_csv(right, index=False)
    monkeypatch.setattr(callbacks.propose, "PROPOSE_LATER_ROWS", 50)  # 40 + 44 rows: large
    release = threading.Event()  # the proposal waits until the page has been seen waiting
    real = callbacks.propose.proposal_for

    def held(*tables, **options):
        release.wait(timeout=30)
        return real(*tables, **options)

    monkeypatch.setattr(callbacks.propose, "proposal_for", held)
    start(dash_duo, demo_app)
    button(dash_duo, "Data").click()
    dash_duo.find_element("#upload-left input").send_keys(str(left))
    dash_duo.wait_for_contains_text("#upload-left-info", "40 rows", timeout=15)
    dash_duo.find_element("#upload-right input").send_keys(str(right))
    dash_duo.wait_for_contains_text("#upload-right-info", "44 rows", timeout=15)
    dash_duo.wait_for_contains_text("#proposal-note", "Proposing a set-up…", timeout=15)
    run = button(dash_duo, "Run")
    assert not run.is_enabled()
    release.set()
    dash_duo.wait_for_contains_text("#proposal-note", "Set-up proposed", timeout=15)
    until(lambda: len(marked(dash_duo)) == 9, timeout=10)  # six fields, the IDs, the rules
    until(run.is_enabled, timeout=10)
    assert dash_duo.get_logs() == []
