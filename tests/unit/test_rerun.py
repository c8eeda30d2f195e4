"""Re-runs keep the work: unchanged records keep their decisions, changed ones come back."""

from __future__ import annotations

import pandas as pd

from components.ids import ids
from matching.decisions.versions import latest_project
from matching.engine.spec import Field, Spec
from server.services import AppConfig
from tests.helpers import review_step

SPEC = Spec((Field("name"),), left_id="id", right_id="id")


def tables(names_left, names_right):
    left = pd.DataFrame({"id": [f"L{i}" for i in range(len(names_left))], "name": names_left})
    right = pd.DataFrame({"id": [f"R{i}" for i in range(len(names_right))], "name": names_right})
    return left, right


def app_for(tmp_path, left, right):
    from app import create_app

    config = AppConfig(
        left=left,
        right=right,
        spec=SPEC,
        keep=0.5,
        select=0.8,
        name="people",
        db_url=f"sqlite:///{tmp_path / 'd.db'}",
        data_dir=str(tmp_path / "data"),
    )
    return create_app(config).matchdesk


def test_a_new_version_keeps_unchanged_decisions_and_sends_changed_records_back(tmp_path):
    names = ["Ann Lee", "Bob Ray", "Cy Kim", "Di Fox"]
    services = app_for(tmp_path, *tables(names, names))
    old = services.project(services.project_options()[0]["value"])
    view = review_step(services, old, who="alice")["view"]
    for _ in range(3):  # alice decides L0, L1 and L2
        view = review_step(services, old, ids.ACCEPT, view, view["selected"], who="alice")["view"]

    # Version 2: L1's name changed, a record L4 is new; L0 and L2 are as they were.
    changed = ["Ann Lee", "Bobby Ray", "Cy Kim", "Di Fox", "Ed Orr"]
    again = app_for(tmp_path, *tables(changed, changed))
    new_id = latest_project(again.log.projects())
    assert new_id != old.project_id
    settings = again.log.project(new_id)["settings"]
    assert settings.version_of == old.project_id
    assert settings.carried == {"carried": 2, "came_back": 1, "new": 1}
    new = again.project(new_id)
    decisions = again.log.state(new_id).decisions
    assert sorted(decisions) == ["L0", "L2"] and decisions["L0"].reviewer == "alice"
    assert "carried over" in decisions["L0"].reason
    shown = review_step(again, new, who="bob")
    assert shown["view"]["left_id"] == "L1"
    assert "changed since decided by alice on" in shown["label"]


def test_a_new_version_of_tables_with_missing_values_keeps_the_decisions(tmp_path):
    names = ["Ann Lee", None, "Cy Kim", "Di Fox"]
    services = app_for(tmp_path, *tables(names, names))
    old = services.project(services.project_options()[0]["value"])
    view = review_step(services, old, who="alice")["view"]
    review_step(services, old, ids.ACCEPT, view, view["selected"], who="alice")  # L0

    # L1 has no name in either version: its record is unchanged all the same.
    again = app_for(tmp_path, *tables([*names, "Ed Orr"], [*names, "Ed Orr"]))
    settings = again.log.project(latest_project(again.log.projects()))["settings"]
    assert settings.carried == {"carried": 1, "came_back": 0, "new": 1}
    assert "L1" not in settings.notes
