"""The Tuning tab's learning panel as plain functions: what it shows, learn now, save."""

from __future__ import annotations

from callbacks.learning import learn_now, load_learning, save_learning
from tests.helpers import generated_app


def test_the_panel_shows_learns_and_saves_how_often_and_in_what_order(tmp_path):
    services = generated_app(tmp_path).matchdesk
    pid = services.project_options()[0]["value"]
    shown = load_learning(services, pid)
    assert shown["summary"].startswith("Not learned from decisions yet")
    assert (shown["every"], shown["order"]) == (0, "table")
    assert load_learning(services, None)["summary"] == ""

    early = learn_now(services, pid, "lee")
    assert early["done"] is None and "at least one of each" in early["message"]
    desk = services.desk(services.project(pid))
    view = desk.next_view("ann")
    for _ in range(12):
        view = desk.decide("ann", view, "accept", view["selected"][:1]).view
    done = learn_now(services, pid, "lee")
    assert done["done"] is not None and done["message"].startswith("Learned from 12 decisions")
    assert load_learning(services, pid)["summary"].startswith("Learned from 12 decisions (")

    said = save_learning(services, pid, "lee", 50, "informative")
    assert said.startswith("Saved: the project learns from decisions every 50 decisions")
    assert (load_learning(services, pid)["every"], load_learning(services, pid)["order"]) == (
        50,
        "informative",
    )
    assert save_learning(services, pid, "lee", None, "table").startswith("Saved")
    assert save_learning(services, pid, "lee", 2.5, "table").startswith("Not saved")
    assert learn_now(services, None, "lee")["message"] == "Open a project first."
