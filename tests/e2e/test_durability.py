"""Decisions survive a killed server, triple clicks and a second reviewer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains

from tests.conftest import ROOT, pytest_setup_options

LABEL = "#record-label"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, port: int) -> subprocess.Popen:
    """``python app.py`` as a real process, in its own working folder."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("the app did not start")


def press(driver, keys: str) -> None:
    ActionChains(driver).send_keys(keys).perform()


@pytest.fixture
def server(tmp_path):
    port = free_port()
    procs = [start_server(tmp_path, port)]
    yield tmp_path, port, procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_killed_server_loses_nothing_and_the_page_resumes(dash_duo, server):
    folder, port, procs = server
    url = f"http://127.0.0.1:{port}/"
    dash_duo.driver.get(url)
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=20)
    press(dash_duo.driver, "a")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    press(dash_duo.driver, "n")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 3 of 5")

    os.kill(procs[0].pid, signal.SIGKILL)
    procs[0].wait()
    procs.append(start_server(folder, port))

    dash_duo.driver.refresh()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 3 of 5", timeout=20)
    dash_duo.wait_for_text_to_equal("#review-progress", "2 of 5 decided")
    press(dash_duo.driver, "u")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    assert dash_duo.get_logs() == []


def test_triple_click_records_one_decision(dash_duo, demo_app):
    dash_duo.start_server(demo_app)
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=15)
    dash_duo.driver.execute_script(
        "const b = document.getElementById('accept-button'); b.click(); b.click(); b.click();"
    )
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    time.sleep(1)
    assert dash_duo.find_element(LABEL).text == "Record 2 of 5"
    project = demo_app.matchdesk.project_options()[0]["value"]
    assert len(demo_app.matchdesk.log.events(project)) == 1
    assert dash_duo.get_logs() == []


def test_two_reviewers_get_different_records_and_names_are_remembered(dash_duo, demo_app):
    dash_duo.start_server(demo_app)
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=15)
    name = dash_duo.find_element("#reviewer-name")
    name.send_keys("Ann\n")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5")
    dash_duo.find_element(".navbar-brand").click()

    other = webdriver.Chrome(options=pytest_setup_options())
    try:
        other.get(dash_duo.server_url)
        deadline = time.time() + 15
        while not other.find_elements("id", "reviewer-name"):
            assert time.time() < deadline
            time.sleep(0.1)
        other.find_element("id", "reviewer-name").send_keys("Bob\n")
        deadline = time.time() + 15
        while other.find_element("id", "record-label").text != "Record 2 of 5":
            assert time.time() < deadline, "Bob was shown Ann's record"
            time.sleep(0.1)
        other.find_element("css selector", ".navbar-brand").click()
        ActionChains(other).send_keys("n").perform()
        while other.find_element("id", "record-label").text != "Record 3 of 5":
            assert time.time() < deadline
            time.sleep(0.1)
    finally:
        other.quit()

    press(dash_duo.driver, "a")
    # Bob decided record 2 and now holds record 3: Ann goes on to record 4
    dash_duo.wait_for_text_to_equal(LABEL, "Record 4 of 5")
    dash_duo.driver.refresh()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 4 of 5", timeout=15)
    assert dash_duo.find_element("#reviewer-name").get_attribute("value") == "Ann"
    state = demo_app.matchdesk.log.state(demo_app.matchdesk.project_options()[0]["value"])
    assert {d.reviewer for d in state.decisions.values()} == {"Ann", "Bob"}
    assert dash_duo.get_logs() == []


def test_two_tabs_of_one_reviewer_the_second_is_told(dash_duo, demo_app):
    dash_duo.start_server(demo_app)
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=15)
    driver = dash_duo.driver
    tab_a = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.get(dash_duo.server_url)
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=15)
    tab_b = driver.current_window_handle

    driver.switch_to.window(tab_a)
    driver.find_element("css selector", ".navbar-brand").click()
    press(driver, "a")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")

    driver.switch_to.window(tab_b)
    assert dash_duo.find_element(LABEL).text == "Record 1 of 5"  # drawn before A decided
    driver.find_element("css selector", ".navbar-brand").click()
    press(driver, "n")
    dash_duo.wait_for_contains_text("#page-message", "already decided by you", timeout=10)
    assert "nothing was recorded" in dash_duo.find_element("#page-message").text
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    state = demo_app.matchdesk.log.state(demo_app.matchdesk.project_options()[0]["value"])
    assert {k: d.status for k, d in state.decisions.items()} == {"1": "accepted"}
    assert dash_duo.get_logs() == []
