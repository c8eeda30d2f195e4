"""The Data panel's blocking rules in headless Chromium: live per-rule counts, learned weights."""

from __future__ import annotations

from selenium.webdriver.common.keys import Keys

from tests.helpers import LABEL, button, start


def test_blocking_rules_count_live_learn_weights_and_run(dash_duo, demo_app, tmp_path):
    left = tmp_path / "people.csv"
    right = tmp_path / "customers.csv"
    left.write_text("pid;name\n007;Ann Lee\n008;Bo Chen\n009;Cy Diaz\n", encoding="utf-8")
    right.write_text("cid,name\nA1,ann lee\nA2,BO CHEN\nA3,Cy Dias\nA4,Dee Ray\n", encoding="utf-8")
    start(dash_duo, demo_app)
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element("#upload-left input")
    dash_duo.find_element("#upload-left input").send_keys(str(left))
    dash_duo.wait_for_contains_text("#upload-left-info", "3 rows", timeout=10)
    dash_duo.find_element("#upload-right input").send_keys(str(right))
    dash_duo.wait_for_contains_text("#pair-count", "12 pairs to score", timeout=10)
    rules = dash_duo.find_element("#block-rules-input")
    rules.send_keys("exact:name[:2]")
    rules.send_keys(Keys.TAB)
    dash_duo.wait_for_contains_text("#pair-count", "3 pairs to score after blocking", timeout=10)
    assert "exact:name[:2]" in dash_duo.find_element("#pair-count").text
    rules.send_keys(Keys.ENTER, "exact:nope")
    rules.send_keys(Keys.TAB)
    dash_duo.wait_for_contains_text("#pair-count", "block 'exact:nope'", timeout=10)
    rules.send_keys(Keys.BACKSPACE * len("\nexact:nope"))
    rules.send_keys(Keys.TAB)
    dash_duo.wait_for_contains_text("#pair-count", "3 pairs to score after blocking", timeout=10)
    button(dash_duo, "Learn weights").click()
    dash_duo.wait_for_contains_text("#learned-weights", "log2(m/u)", timeout=20)
    dash_duo.select_dcc_dropdown("#left-id-select", value="pid")
    dash_duo.select_dcc_dropdown("#right-id-select", value="cid")
    button(dash_duo, "Run").click()
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=20)
    dash_duo.find_element(".offcanvas .btn-close").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 3", timeout=15)
    assert dash_duo.get_logs() == []
