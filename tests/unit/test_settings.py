"""A project's typed settings, and the decision log that keeps them (SQLite and PostgreSQL).

The PostgreSQL cases run when ``MATCHDESK_TEST_POSTGRES_URL`` is set (``bash scripts/test``
sets it) and say they were skipped otherwise.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from callbacks.errors import error_message
from callbacks.review import show_reasons
from callbacks.tuning import load_settings, save_reasons, save_thresholds
from components.ids import ids
from matching.decisions.events import DEFAULT_REASONS
from matching.decisions.log import DecisionLog
from matching.decisions.settings import (
    CARDINALITIES,
    DEFAULT_CARDINALITY,
    MAX_REASONS,
    ProjectSettings,
    clean_reasons,
)
from matching.engine.project import CANDIDATES_FILE
from matching.engine.spec import Field, Spec
from matching.workspace import ProjectUnavailable, Workspace, WorkspaceConfig
from tests.helpers import StatementCount, review_step

POSTGRES = os.environ.get("MATCHDESK_TEST_POSTGRES_URL")

SPEC = Spec(fields=(Field("name"), Field("town", "city", "jaro_winkler", 2.0)), left_id="id")

FULL = ProjectSettings(
    floor=0.3,
    show_from=0.45,
    select=0.8,
    cardinality="one-to-one",
    reasons=("twins", "moved"),
    notes={"7": "changed since decided by ann"},
    spec=SPEC,
    tables="/data/p1",
    sources={"left": "owners.csv", "right": "cars.csv", "uploads": ["ab" * 16]},
    left_rows=10,
    right_rows=12,
    columns=(("id", "name", "town"), ("id", "name", "city")),
    version_of="p0",
    carried={"carried": 3, "came_back": 1, "new": 2},
)


# -- the settings themselves -----------------------------------------------------------


def test_settings_round_trip_through_their_dict():
    assert ProjectSettings.from_dict(FULL.to_dict()) == FULL
    assert ProjectSettings.from_dict(ProjectSettings().to_dict()) == ProjectSettings()


@given(
    floor=st.floats(0, 1),
    above=st.floats(0, 1),
    cardinality=st.sampled_from(list(CARDINALITIES)),
    reasons=st.lists(
        st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=20),
        max_size=MAX_REASONS,
        unique_by=str.casefold,
    ),
)
def test_any_settings_a_lead_can_make_survive_the_round_trip(floor, above, cardinality, reasons):
    show_from = floor + (1 - floor) * above
    settings = (
        ProjectSettings(floor=floor)
        .with_thresholds(show_from=show_from, select=1.0)
        .with_cardinality(cardinality)
        .with_reasons(reasons)
    )
    assert ProjectSettings.from_dict(settings.to_dict()) == settings
    assert settings.show_from >= settings.floor


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
_KEYS = st.sampled_from(
    [*ProjectSettings().to_dict(), *FULL.to_dict(), "keep", "changed", "fields", "block"]
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KEYS, _JSON | st.dictionaries(_KEYS, _JSON, max_size=3), max_size=6))
def test_settings_read_from_any_json_object_open_and_round_trip(data):
    """Whatever an earlier or damaged log holds, a project's settings are read (what
    cannot be read is unset) and write back as they were read."""
    read = ProjectSettings.from_dict(data)
    assert ProjectSettings.from_dict(read.to_dict()) == read


def test_settings_of_earlier_versions_are_read():
    old = {
        "keep": 0.6,
        "select": 0.9,
        "cardinality": "no-such-way",
        "reasons": "not a list",
        "changed": {"7": "changed since decided"},
        "spec": SPEC.to_dict(),
        "columns": [["id"], ["id"]],
    }
    settings = ProjectSettings.from_dict(old)
    assert (settings.floor, settings.show_from, settings.select) == (None, 0.6, 0.9)
    assert settings.cardinality == DEFAULT_CARDINALITY
    assert settings.reasons == DEFAULT_REASONS
    assert settings.notes == {"7": "changed since decided"}
    assert settings.spec == SPEC and settings.columns == (("id",), ("id",))
    assert ProjectSettings.from_dict({}) == ProjectSettings()
    with pytest.raises(ValueError, match="JSON object"):
        ProjectSettings.from_dict([1, 2])


def test_show_from_never_goes_below_the_floor():
    settings = ProjectSettings(floor=0.5, show_from=0.5, select=0.8)
    assert settings.with_thresholds(show_from=0.6, select=0.7).show_from == 0.6
    assert settings.with_thresholds(show_from=0.5, select=0.5).show_from == 0.5
    with pytest.raises(ValueError, match=r"keep cannot go below 0\.50: this project was scored"):
        settings.with_thresholds(show_from=0.3, select=0.8)
    with pytest.raises(ValueError, match=r"keep \(0.90\) must not be above select"):
        settings.with_thresholds(show_from=0.9, select=0.8)
    with pytest.raises(ValueError, match="between 0 and 1, not 'x'"):
        settings.with_thresholds(show_from="x", select=0.8)
    with pytest.raises(ValueError, match="between 0 and 1"):
        settings.with_thresholds(show_from=0.6, select=float("nan"))
    # A project recorded without a floor: any threshold in [0, 1].
    assert ProjectSettings().with_thresholds(show_from=0.0, select=0.1).show_from == 0.0


def test_thresholds_fall_back_to_the_projects_own():
    assert ProjectSettings().thresholds(floor=0.4, select=0.7) == {"keep": 0.4, "select": 0.7}
    assert FULL.thresholds(floor=0.3, select=0.5) == {"keep": 0.45, "select": 0.8}


def test_a_leads_reason_list_is_checked():
    assert clean_reasons(["  same   family ", "", "twins"]) == ("same family", "twins")
    assert clean_reasons([]) == ()
    with pytest.raises(ValueError, match="more than 9: reviewers pick them with the keys"):
        clean_reasons([f"r{i}" for i in range(10)])
    with pytest.raises(ValueError, match="twice"):
        clean_reasons(["twins", "TWINS"])
    with pytest.raises(ValueError, match="longer than 60 characters"):
        clean_reasons(["x" * 61])
    with pytest.raises(ValueError, match="starts a comment"):
        clean_reasons(["twins — born 1990"])
    assert ProjectSettings().with_reasons(["twins"]).reasons == ("twins",)
    assert FULL.with_reasons([]).reasons == DEFAULT_REASONS


def test_cardinality_is_one_of_the_listed_ways():
    assert FULL.with_cardinality("many-to-many").cardinality == "many-to-many"
    with pytest.raises(ValueError, match="is not one of"):
        FULL.with_cardinality("some")


def test_reason_text_keeps_only_reasons_the_project_offers():
    assert FULL.reason_text("twins", "born 1990") == "twins — born 1990"
    assert FULL.reason_text("different person", "") is None
    assert FULL.reason_text(None, "  see file  ") == "— see file"
    assert FULL.reason_text("moved", "x" * 600) == "moved — " + "x" * 500


# -- in the decision log ---------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'decisions.db'}"
    if not POSTGRES:
        pytest.skip("MATCHDESK_TEST_POSTGRES_URL is not set (bash scripts/test sets it)")
    engine = sa.create_engine(POSTGRES)
    with engine.begin() as conn:
        for table in ("batch_data", "events", "leases", "projects", "heartbeat"):
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    engine.dispose()
    return POSTGRES


@pytest.fixture
def log(url):
    log = DecisionLog(url)
    log.ensure_project("p", name="Project", settings=FULL)
    yield log
    log.close()


def test_the_log_keeps_the_settings_it_was_given(log):
    assert log.settings("p") == FULL
    assert log.project("p")["settings"] == FULL
    assert [p["settings"] for p in log.projects()] == [FULL]
    with pytest.raises(ValueError, match="no project 'q'"):
        log.settings("q")
    with pytest.raises(ValueError, match="no project 'q'"):
        log.change_settings("q", lambda s: s)


def test_settings_are_read_again_only_after_a_change(log, url):
    first = log.settings("p")
    assert log.settings("p") is first  # not parsed again
    other = DecisionLog(url)  # another process
    other.change_settings("p", lambda s: s.with_cardinality("many-to-many"))
    again = log.settings("p")
    assert again is not first and again.cardinality == "many-to-many"
    with log.transaction("p") as tx:
        assert tx.settings is again
    other.close()


def _plain_read(url: str, project_id: str) -> ProjectSettings:
    """The settings read straight from the project's row, parsed every time."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        text = conn.execute(
            sa.text("SELECT meta FROM projects WHERE project_id = :p"), {"p": project_id}
        ).scalar_one()
    engine.dispose()
    return ProjectSettings.from_dict(json.loads(text))


_CHANGES = st.lists(
    st.tuples(
        st.integers(0, 1),
        st.one_of(
            st.tuples(st.just("thresholds"), st.floats(0.3, 1.0)),
            st.tuples(st.just("cardinality"), st.sampled_from(list(CARDINALITIES))),
            st.tuples(st.just("reasons"), st.lists(st.sampled_from(["a", "b", "c"]), unique=True)),
            st.tuples(st.just("refused"), st.floats(0.0, 0.29)),
        ),
    ),
    max_size=8,
)


@settings(max_examples=25, deadline=None)
@given(changes=_CHANGES)
def test_the_settings_a_process_holds_are_the_settings_in_the_log(tmp_path_factory, changes):
    """Two processes change and read one project's settings in turn: what each returns,
    from its held copy or not, is what the row says, parsed afresh."""
    url = f"sqlite:///{tmp_path_factory.mktemp('held') / 'd.db'}"
    logs = [DecisionLog(url), DecisionLog(url)]
    logs[0].ensure_project("p", name="P", settings=FULL)
    for who, (kind, value) in changes:
        change = {
            "thresholds": lambda s, v=value: s.with_thresholds(show_from=v, select=1.0),
            "cardinality": lambda s, v=value: s.with_cardinality(v),
            "reasons": lambda s, v=value: s.with_reasons(v),
            "refused": lambda s, v=value: s.with_thresholds(show_from=v, select=1.0),
        }[kind]
        try:
            logs[who].change_settings("p", change)
        except ValueError:
            assert kind == "refused"
        plain = _plain_read(url, "p")
        assert [log.settings("p") for log in logs] == [plain, plain]
        with logs[1 - who].transaction("p") as tx:
            assert tx.settings == plain
    for log in logs:
        log.close()


def test_a_refused_change_writes_nothing(log):
    def below_floor(settings):
        return settings.with_thresholds(show_from=0.1, select=0.8)

    with pytest.raises(ValueError, match=r"scored from 0\.30"):
        log.change_settings("p", below_floor)
    assert DecisionLog(log.url.render_as_string(hide_password=False)).settings("p") == FULL


def test_two_leads_saving_different_settings_at_once_both_keep_their_change(log, url):
    """Each change reads the settings, thinks a moment and writes: were the two not one
    after the other, the later write would carry the settings from before the other's."""
    leads = {
        "thresholds": lambda s: s.with_thresholds(show_from=0.5, select=0.9),
        "cardinality": lambda s: s.with_cardinality("many-to-many"),
        "reasons": lambda s: s.with_reasons(["twins", "moved", "typo"]),
    }
    together = threading.Barrier(len(leads))
    errors: list = []

    def save(change) -> None:
        def slowly(settings):
            time.sleep(0.2)
            return change(settings)

        try:
            own = DecisionLog(url)  # a process of its own
            together.wait()
            own.change_settings("p", slowly)
            own.close()
        except Exception as error:  # collected so the test names it
            errors.append(error)

    threads = [threading.Thread(target=save, args=(c,)) for c in leads.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    settings = log.settings("p")
    assert (settings.show_from, settings.select) == (0.5, 0.9)
    assert settings.cardinality == "many-to-many"
    assert settings.reasons == ("twins", "moved", "typo")
    assert settings.notes == FULL.notes and settings.floor == FULL.floor


def test_a_log_of_an_earlier_version_gains_its_settings_version(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE projects (project_id VARCHAR(200) PRIMARY KEY, name TEXT NOT NULL,"
            " created FLOAT NOT NULL, meta TEXT NOT NULL)"
        )
        conn.exec_driver_sql(
            "INSERT INTO projects VALUES ('p', 'old', 1.0, '{\"keep\": 0.4, \"select\": 0.7}')"
        )
    engine.dispose()
    log = DecisionLog(url)
    settings = log.settings("p")
    assert (settings.floor, settings.show_from, settings.select) == (None, 0.4, 0.7)
    assert log.settings("p") is settings
    log.change_settings("p", lambda s: s.with_cardinality("one-to-one"))
    assert DecisionLog(url).settings("p").cardinality == "one-to-one"


# -- the cost of a key press -----------------------------------------------------------


@pytest.fixture
def statements():
    count = StatementCount()
    yield count
    count.close()


@pytest.mark.parametrize("key", [ids.ACCEPT, ids.REJECT, ids.SKIP])
def test_a_key_press_is_one_write_transaction_and_at_most_one_read_of_the_settings(
    services, project, statements, key
):
    view = review_step(services, project)["view"]
    for _ in range(3):
        with statements:
            view = review_step(services, project, key, view, view["selected"])["view"]
        assert statements.writes == 1
        assert statements.settings <= 1
        assert view["left_id"] is not None


def test_undo_is_one_write_transaction_also_when_there_is_nothing_to_undo(
    services, project, statements
):
    first = review_step(services, project)["view"]
    view = review_step(services, project, ids.REJECT, first)["view"]
    with statements:
        undone = review_step(services, project, ids.UNDO, view)
    assert (statements.writes, statements.settings) == (1, 1)
    assert undone["view"]["left_id"] == first["left_id"]
    with statements:
        refused = review_step(services, project, ids.UNDO, undone["view"])
    assert (statements.writes, statements.settings) == (1, 1)
    assert "nothing of yours to undo" in str(refused["message"])
    assert refused["view"]["left_id"] == first["left_id"]


def test_an_audit_verdict_is_one_write_transaction_with_the_next_drawn_record(
    services, project, statements
):
    desk = services.desk(project)
    assert desk.batches.apply_bulk("lee", "accept", threshold=0.3, role="lead").written == 5
    (batch,) = desk.batches.automatic_batches()
    assert desk.audits.draw_audit("lee", batch["batch"], margin=0.03, role="lead").ok
    view = review_step(services, project, audit=True)["view"]
    for _ in range(3):
        with statements:
            out = review_step(services, project, ids.REJECT, view, audit=True)
        assert (statements.writes, statements.settings) == (1, 1)
        assert out["view"]["audit"] and out["view"]["left_id"] != view["left_id"]
        view = out["view"]


def test_a_key_press_after_a_lead_changed_the_settings_sees_the_change(
    services, project, statements
):
    view = review_step(services, project)["view"]
    lead = DecisionLog(str(services.log.url))  # a lead's request in another process
    lead.change_settings(project.project_id, lambda s: s.with_reasons(["twins"]))
    with statements:
        review_step(services, project, ids.REJECT, view, reason="twins")
    assert (statements.writes, statements.settings) == (1, 1)
    assert services.log.events(project.project_id)[-1].reason == "twins"
    lead.close()


# -- floor and show_from ---------------------------------------------------------------

NAMES = ["Ann Lee", "Anne Lea", "Bob Ray", "Rob Ray", "Cy Kim", "Kim Cy"]


def _workspace(tmp_path) -> Workspace:
    folder = tmp_path / "ws"
    return Workspace(WorkspaceConfig(db_url=f"sqlite:///{folder}.db", data_dir=str(folder)))


def _people(workspace: Workspace, keep: float):
    left = pd.DataFrame({"id": [f"L{i}" for i in range(len(NAMES))], "name": NAMES})
    spec = Spec((Field("name"),), left_id="id", right_id="id")
    return workspace.open_project(left, left.copy(), spec, name="people", keep=keep, select=0.9)


def test_a_reopened_project_with_its_candidates_deleted_is_scored_again_at_its_floor(tmp_path):
    workspace = _workspace(tmp_path)
    made = _people(workspace, keep=0.3)
    scored = made.candidates.copy()
    assert (scored["score"] < 0.7).any()  # a re-score at show_from would lose pairs
    assert workspace.desk(made).choices.set_thresholds(0.7, 0.9, role="lead").ok
    folder = Path(workspace.settings(made.project_id).tables)
    (folder / CANDIDATES_FILE).unlink()

    again = _workspace(tmp_path)  # another process, or a restart
    opened = again.project(made.project_id)
    assert again.scorings == 1 and opened.keep == 0.3
    pd.testing.assert_frame_equal(opened.candidates, scored)
    assert again.desk(opened).thresholds() == {"keep": 0.7, "select": 0.9}
    assert (folder / CANDIDATES_FILE).exists()


def test_a_project_an_earlier_version_recorded_is_scored_again_only_at_the_floor_of_its_id(
    tmp_path,
):
    workspace = _workspace(tmp_path)
    made = _people(workspace, keep=0.3)
    pid = made.project_id
    folder = Path(workspace.settings(pid).tables)
    # An earlier version kept one ``keep``, which the Tuning tab moved.
    workspace.log.change_settings(pid, lambda s: replace(s, floor=None, show_from=0.7))
    (folder / CANDIDATES_FILE).unlink()
    with pytest.raises(ProjectUnavailable, match="does not hold the floor it was scored from"):
        _workspace(tmp_path).project(pid)
    assert not (folder / CANDIDATES_FILE).exists()
    assert "does not hold the floor" in error_message(ProjectUnavailable("does not hold the floor"))

    # Its keep was never moved: that is the floor its id was made with.
    workspace.log.change_settings(pid, lambda s: replace(s, show_from=0.3))
    again = _workspace(tmp_path)
    assert again.project(pid).keep == 0.3 and again.scorings == 1


def test_tuning_refuses_keep_below_the_floor_and_the_page_says_why(services, project):
    pid = project.project_id
    floor = services.desk(project).settings().floor
    assert floor == 0.26
    assert "scored from 0.26: no pair under it was kept" in load_settings(services, pid)["floor"]
    text = save_thresholds(services, pid, 0.1, 0.5)
    assert text.startswith("Not saved: keep cannot go below 0.26: this project was scored from")
    assert services.desk(project).thresholds() == {"keep": 0.26, "select": 0.33}
    assert save_thresholds(services, pid, 0.26, 0.5).startswith("Saved:")
    assert services.desk(project).thresholds() == {"keep": 0.26, "select": 0.5}


# -- reasons ---------------------------------------------------------------------------


def test_a_lead_edits_the_reasons_reviewers_pick_from(services, project):
    pid = project.project_id
    assert load_settings(services, pid)["reasons"] == "\n".join(DEFAULT_REASONS)
    text = save_reasons(services, pid, "twins\n\n  moved away \n")
    assert text == "Saved: reviewers now pick from twins, moved away."
    assert load_settings(services, pid)["reasons"] == "twins\nmoved away"
    assert show_reasons(services, pid) == [
        {"label": "1 twins", "value": "twins"},
        {"label": "2 moved away", "value": "moved away"},
    ]
    view = review_step(services, project)["view"]
    view = review_step(services, project, ids.REJECT, view, reason="twins", comment="born 1990")
    review_step(services, project, ids.REJECT, view["view"], reason="same family")
    reasons = [e.reason for e in services.log.events(pid)]
    assert reasons == ["twins — born 1990", None]  # a reason no longer offered is dropped

    refused = save_reasons(services, pid, "\n".join(f"reason {i}" for i in range(10)))
    assert refused.startswith("Not saved: 10 reasons is more than 9")
    assert save_reasons(services, pid, "").endswith(
        f"the default reasons {', '.join(DEFAULT_REASONS)}."
    )
    assert [o["value"] for o in show_reasons(services, pid)] == list(DEFAULT_REASONS)


def test_only_a_lead_changes_the_reasons(services, project):
    pid = project.project_id
    services.actor = lambda typed: ("cy", "reviewer")
    text = save_reasons(services, pid, "twins")
    assert (
        text
        == "Not saved: only a lead or above may change the project's settings; you are a reviewer."
    )
    assert services.desk(project).settings().reasons == DEFAULT_REASONS


def test_projects_made_at_once_under_one_name_get_different_versions(url):
    """The version is numbered inside the transaction that records the project."""
    from matching.decisions.versions import next_version, versions

    logs = [DecisionLog(url) for _ in range(6)]
    start = threading.Barrier(len(logs))

    def make(k: int) -> None:
        start.wait()
        logs[k].ensure_project(
            f"p{k}", name="people", number=lambda same: next_version(same, "people")
        )

    threads = [threading.Thread(target=make, args=(k,)) for k in range(len(logs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    projects = logs[0].projects()
    numbers = versions(projects)
    assert sorted(numbers[p["project_id"]] for p in projects) == [1, 2, 3, 4, 5, 6]
    assert sorted(p["settings"].version for p in projects) == [1, 2, 3, 4, 5, 6]
    for log in logs:
        log.close()
