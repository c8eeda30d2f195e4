"""The workspace on its own, as the command line uses it: open, re-run, delete, warm-up."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from matching.engine.spec import Field, Spec
from matching.workspace import Workspace, WorkspaceConfig, in_child

SPEC = Spec((Field("name"),), left_id="id", right_id="id")


def tables(names):
    left = pd.DataFrame({"id": [f"L{i}" for i in range(len(names))], "name": names})
    return left, left.copy()


@pytest.fixture
def config(tmp_path):
    return WorkspaceConfig(db_url=f"sqlite:///{tmp_path / 'd.db'}", data_dir=str(tmp_path / "data"))


def open_names(workspace, names, name="people"):
    return workspace.open_project(*tables(names), SPEC, name=name, keep=0.5, select=0.8)


def test_a_project_opened_is_recorded_and_another_workspace_reopens_it_without_scoring(config):
    first = Workspace(config)
    made = open_names(first, ["Ann Lee", "Bob Ray", "Cy Kim"])
    assert first.scorings == 1
    assert first.project_options() == [{"label": "people", "value": made.project_id}]
    settings = first.log.project(made.project_id)["settings"]
    assert (settings.left_rows, settings.floor, settings.show_from) == (3, 0.5, 0.5)
    assert settings.select == 0.8 and settings.spec == SPEC

    again = Workspace(config)  # another process, or a restart
    opened = again.project(made.project_id)
    assert again.scorings == 0
    pd.testing.assert_frame_equal(opened.candidates, made.candidates)
    assert again.project("no-such-project") is None and again.project(None) is None


def test_a_new_version_of_the_tables_inherits_the_decisions_that_still_hold(config):
    workspace = Workspace(config)
    old = open_names(workspace, ["Ann Lee", "Bob Ray", "Cy Kim"])
    desk = workspace.desk(old)
    for _ in range(3):
        view = desk.next_view("alice")
        assert desk.decide("alice", view, "accept", view["selected"]).ok

    new = open_names(workspace, ["Ann Lee", "Bobby Ray", "Cy Kim", "Di Fox"])
    assert new.project_id != old.project_id
    settings = workspace.settings(new.project_id)
    assert settings.version_of == old.project_id
    assert settings.carried == {"carried": 2, "came_back": 1, "new": 1}
    assert sorted(workspace.desk(new).refresh().decisions) == ["L0", "L2"]
    assert set(settings.notes) == {"L1"}


def test_a_run_under_the_same_name_with_another_scorer_is_its_next_version(config):
    workspace = Workspace(config)
    first = open_names(workspace, ["Ann Lee", "Bob Ray", "Cy Kim"])
    desk = workspace.desk(first)
    view = desk.next_view("alice")
    assert desk.decide("alice", view, "accept", view["selected"]).ok
    other = Spec((Field("name", scorer="token_sort"),), left_id="id", right_id="id")
    second = workspace.open_project(
        *tables(["Ann Lee", "Bob Ray", "Cy Kim"]), other, name="people", keep=0.5, select=0.8
    )
    settings = workspace.settings(second.project_id)
    assert (settings.version, settings.version_of) == (2, first.project_id)
    assert workspace.settings(first.project_id).version == 1
    assert settings.carried == {"carried": 1, "came_back": 0, "new": 0}
    assert workspace.desk(second).refresh().decisions["L0"].reviewer == "alice"
    labels = [o["label"] for o in workspace.project_options()]
    assert labels[0] == "people" and labels[1].startswith("people · version 2 · ")
    assert labels[2].startswith("people · version 1 · ")


def test_a_project_of_another_name_is_no_version_of_another(config):
    workspace = Workspace(config)
    open_names(workspace, ["Ann Lee", "Bob Ray"])
    other = open_names(workspace, ["Ann Lee", "Bob Ray", "Cy Kim"], name="customers")
    assert workspace.settings(other.project_id).version_of is None
    assert workspace.settings(other.project_id).version == 1


def test_a_different_id_column_numbers_the_next_version_but_carries_nothing(config):
    workspace = Workspace(config)
    open_names(workspace, ["Ann Lee", "Bob Ray"])
    left = pd.DataFrame({"id": ["L0", "L1"], "key": ["a", "b"], "name": ["Ann Lee", "Bob Ray"]})
    spec = Spec((Field("name"),), left_id="key", right_id="key")
    made = workspace.open_project(left, left.copy(), spec, name="people", keep=0.5, select=0.8)
    settings = workspace.settings(made.project_id)
    assert (settings.version, settings.version_of) == (2, None)


def test_deleting_a_project_forgets_its_decisions_files_and_uploads(config):
    workspace = Workspace(config)
    token = "ab" * 16
    upload = workspace.upload_path(token)
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"table")
    upload.with_suffix(".json").write_text("{}")
    made = workspace.open_project(
        *tables(["Ann Lee", "Bob Ray"]),
        SPEC,
        name="people",
        keep=0.5,
        select=0.8,
        sources={"uploads": [token]},
    )
    folder = os.path.join(config.data_dir, made.project_id)
    assert os.path.isdir(folder)

    assert workspace.delete_project(made.project_id) is True
    assert not os.path.exists(folder) and not upload.exists()
    assert not upload.with_suffix(".json").exists()
    assert workspace.log.project(made.project_id) is None
    assert workspace.project(made.project_id) is None
    assert workspace.delete_project(made.project_id) is False


def test_an_upload_id_names_only_a_file_in_the_uploads_folder(config):
    workspace = Workspace(config)
    assert workspace.upload_path("../" + "a" * 29) is None
    assert workspace.upload_path("A" * 32) is None
    assert workspace.upload_path(7) is None
    assert workspace.upload_path("0" * 32).name == "0" * 32 + ".parquet"


def test_the_sweep_removes_only_old_uploads(config):
    workspace = Workspace(config)
    old, new = workspace.upload_path("1" * 32), workspace.upload_path("2" * 32)
    old.parent.mkdir(parents=True)
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    a_day_ago = time.time() - 90_000
    os.utime(old, (a_day_ago, a_day_ago))
    assert workspace.sweep_uploads() == 1
    assert not old.exists() and new.exists()


def test_warm_up_opens_the_projects_used_last_up_to_the_limit(config):
    first = Workspace(config)
    made = [open_names(first, [f"Ann {i}", "Bob Ray"], name=f"p{i}") for i in range(3)]
    config.max_projects = 2
    later = Workspace(config)
    assert later.warm_up() == [p.project_id for p in made[1:]]
    assert later.scorings == 0


def test_with_score_apart_a_project_is_scored_in_another_process_and_opens_the_same(
    config, tmp_path, monkeypatch
):
    import matching.workspace as workspace_module

    scored_in = tmp_path / "scored-in"
    real = workspace_module.build_project

    def noting_the_process(*args, **kwargs):
        scored_in.write_text(str(os.getpid()))
        return real(*args, **kwargs)

    monkeypatch.setattr(workspace_module, "build_project", noting_the_process)
    names = ["Ann Lee", "Bob Ray", "Cy Kim", "Ann Leigh"]
    here = open_names(Workspace(config), names)
    assert int(scored_in.read_text()) == os.getpid()

    apart_config = WorkspaceConfig(
        db_url=f"sqlite:///{tmp_path / 'other.db'}",
        data_dir=str(tmp_path / "other"),
        score_apart=True,
    )
    apart = Workspace(apart_config)
    made = open_names(apart, names)
    assert int(scored_in.read_text()) != os.getpid()
    assert apart.scorings == 1 and made.project_id == here.project_id
    pd.testing.assert_frame_equal(made.candidates, here.candidates)
    assert (tmp_path / "other" / made.project_id / "lookups.arrow").exists()

    apart.after_fork()  # a background run's process scores in itself
    open_names(apart, [*names, "Di Fox"])
    assert int(scored_in.read_text()) == os.getpid()


def test_a_bad_spec_scored_apart_is_reported_as_it_is_here(config):
    config.score_apart = True
    bad = Spec((Field("no_such_column"),), left_id="id", right_id="id")
    with pytest.raises(ValueError, match="no_such_column"):
        Workspace(config).open_project(
            *tables(["Ann Lee"]), bad, name="people", keep=0.5, select=0.8
        )


def steps(progress):
    for done in range(3):
        progress("scoring", done, 2)
    progress("saving", 0, 1)
    Path(os.environ["SAVED_MARK"]).write_text(str(os.getpid()))


def test_in_child_relays_progress_and_a_progress_that_raises_stops_it_before_saving(
    tmp_path, monkeypatch
):
    mark = tmp_path / "saved"
    monkeypatch.setenv("SAVED_MARK", str(mark))
    heard = []
    in_child(steps, lambda *step: heard.append(step))
    assert heard == [("scoring", 0, 2), ("scoring", 1, 2), ("scoring", 2, 2), ("saving", 0, 1)]
    assert int(mark.read_text()) != os.getpid()

    mark.unlink()

    def cancel_at_saving(step, done, total):
        if step == "saving":  # a cancel that takes its time: the child waits for it
            time.sleep(0.3)
            raise KeyboardInterrupt("cancelled")

    with pytest.raises(KeyboardInterrupt):
        in_child(steps, cancel_at_saving)
    assert not mark.exists()


def test_in_child_says_how_a_child_ended_that_sent_nothing():
    with pytest.raises(RuntimeError, match="ended with code 3"):
        in_child(lambda _progress: os._exit(3), None)


def test_before_fork_opens_the_recent_projects_closes_the_log_and_freezes_what_it_holds(config):
    import gc

    made = open_names(Workspace(config), ["Ann Lee", "Bob Ray"])
    workspace = Workspace(config)
    try:
        workspace.before_fork()
        assert list(workspace._projects) == [made.project_id]
        assert gc.get_freeze_count() > 0
        assert workspace.log.project(made.project_id) is not None  # connects again
    finally:
        gc.unfreeze()
