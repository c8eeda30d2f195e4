"""A project's lookups kept in its folder: equal to the ones worked out, used when they fit,
worked out again when they are missing or stale; workers open projects ahead of use."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pandas as pd
import pytest
from flask import Flask

import matching.workspace as workspace_module
from matching.engine.lookups import (
    LOOKUPS_FILE,
    load_lookups,
    lookups_of,
    open_indexed,
    save_lookups,
)
from matching.engine.project import build_project, record_view
from matching.engine.score_index import ScoreIndex
from matching.engine.spec import Field, Spec
from server.services import AppConfig, Services

SPEC = Spec((Field("name"),), left_id="id", right_id="rid")


def _tables(n: int = 40) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = ["Ann", "Anne", "Bob", "Böb", "Zoë", "Łukasz", "李雷", "Chris"]
    # Ids of several lengths and scripts, in no sorted order.
    left_ids = [f"L{(i * 7919) % 1000}-{'é' * (i % 3)}" for i in range(n)]
    right_ids = [f"r{(i * 104729) % 5000}✓" for i in range(n + 5)]
    left = pd.DataFrame({"id": left_ids, "name": [names[i % len(names)] for i in range(n)]})
    right = pd.DataFrame(
        {"rid": right_ids, "name": [names[(i * 3) % len(names)] for i in range(n + 5)]}
    )
    return left, right


def _built(left, right, spec=SPEC):
    return build_project(left, right, spec, name="p", keep=0.3, select=0.8, workers=1)


def _load(folder, project):
    return load_lookups(
        folder,
        project_id=project.project_id,
        left=project.left,
        right=project.right,
        left_id=project.spec.left_id,
        right_id=project.spec.right_id,
        candidates=project.candidates,
    )


def _assert_same_index(stored: ScoreIndex, computed: ScoreIndex) -> None:
    for f in dataclasses.fields(ScoreIndex):
        np.testing.assert_array_equal(getattr(stored, f.name), getattr(computed, f.name))


@pytest.mark.parametrize("hashed", [False, True])
def test_stored_lookups_equal_the_ones_worked_out(tmp_path, hashed):
    left, right = _tables()
    if hashed:  # an id holding NUL makes the index keep digests of the ids
        left.loc[3, "id"] = "with\x00nul"
    project = _built(left, right)
    assert project.left_pos.hashed is hashed
    save_lookups(lookups_of(project), project, tmp_path)

    queue, stored = _load(tmp_path, project)

    assert list(queue) == list(project.queue)
    for mine, theirs in (
        (stored.left_pos, project.left_pos),
        (stored.right_pos, project.right_pos),
    ):
        np.testing.assert_array_equal(mine.keys, theirs.keys)
        np.testing.assert_array_equal(mine.order, theirs.order)
        assert mine.hashed == theirs.hashed
    probe = [*left["id"], *right["rid"], "missing", "L1", ""]
    np.testing.assert_array_equal(
        stored.left_pos.positions(probe), project.left_pos.positions(probe)
    )
    np.testing.assert_array_equal(
        stored.right_pos.positions(probe), project.right_pos.positions(probe)
    )
    assert stored.left_pos.get(left["id"][3]) == 3
    np.testing.assert_array_equal(stored.slices.starts, project.slices.starts)
    np.testing.assert_array_equal(stored.slices.stops, project.slices.stops)
    # Each candidate row's left record, as looking every left id up gives it.
    expected = project.left_pos.positions(project.candidates["left_id"].tolist())
    np.testing.assert_array_equal(stored.pair_left, expected)
    _assert_same_index(stored.score_index, ScoreIndex.from_candidates(project.candidates))


def test_a_project_without_candidates_keeps_empty_lookups(tmp_path):
    left, right = _tables(4)
    right["name"] = [f"Zz{i:03d}qq" for i in range(len(right))]
    project = _built(left, right)
    assert len(project.candidates) == 0
    save_lookups(lookups_of(project), project, tmp_path)
    _, stored = _load(tmp_path, project)
    assert len(stored.pair_left) == 0
    assert stored.score_index.counts(
        keep=0.3, select=0.8, auto_accept=0.9, margin=0.1, auto_reject=0.3
    ) == ScoreIndex.from_candidates(project.candidates).counts(
        keep=0.3, select=0.8, auto_accept=0.9, margin=0.1, auto_reject=0.3
    )


def test_lookups_of_other_tables_or_another_version_are_not_used(tmp_path):
    left, right = _tables()
    project = _built(left, right)
    save_lookups(lookups_of(project), project, tmp_path)
    other = _built(left.iloc[:-1], right)
    assert _load(tmp_path, other) is None  # fewer left records
    fewer = dataclasses.replace(project, candidates=project.candidates.iloc[:-1])
    assert _load(tmp_path, fewer) is None
    assert _load(tmp_path, dataclasses.replace(project, project_id="another")) is None
    (tmp_path / LOOKUPS_FILE).write_bytes(b"not an arrow file")
    with pytest.raises(Exception):  # noqa: B017 - a damaged file is pyarrow's error
        _load(tmp_path, project)


def test_open_indexed_works_out_missing_lookups_once_then_maps_them(tmp_path):
    left, right = _tables()
    project = _built(left, right)

    def opened():
        return open_indexed(
            project.left, project.right, SPEC, project.candidates, tmp_path, name="p",
            keep=0.3, select=0.8, top_k=10, project_id=project.project_id,
        )  # fmt: skip

    first, _ = opened()
    assert (tmp_path / LOOKUPS_FILE).exists()
    stamp = (tmp_path / LOOKUPS_FILE).stat().st_mtime_ns
    again, index_again = opened()
    assert (tmp_path / LOOKUPS_FILE).stat().st_mtime_ns == stamp  # read, not rewritten
    assert not again.slices.starts.flags.writeable  # mapped from the file
    for p in (first, again):
        for left_id in project.queue:
            assert record_view(p, left_id, keep=0.3, select=0.8) == record_view(
                project, left_id, keep=0.3, select=0.8
            )
    _assert_same_index(index_again, ScoreIndex.from_candidates(project.candidates))


def _services(tmp_path) -> Services:
    config = AppConfig(db_url=f"sqlite:///{tmp_path / 'd.db'}", data_dir=str(tmp_path / "data"))
    return Services(config, Flask(__name__))


def test_a_project_made_before_lookups_were_kept_opens_works_and_gains_them(tmp_path):
    left, right = _tables()
    first = _services(tmp_path)
    made = first.open_project(left, right, SPEC, name="p", keep=0.3, select=0.8)
    folder = tmp_path / "data" / made.project_id
    desk = first.desk(made)
    view = desk.next_view("ann")
    assert desk.decide("ann", view, "accept", view["selected"][:1] or None).ok
    before = first.desk(made).views.pair_status()
    (folder / LOOKUPS_FILE).unlink()  # as an earlier version left the folder

    later = _services(tmp_path)
    opened = later.project(made.project_id)

    assert later.scorings == 0
    assert (folder / LOOKUPS_FILE).exists()
    assert record_view(opened, view["left_id"], keep=0.3, select=0.8) == record_view(
        made, view["left_id"], keep=0.3, select=0.8
    )
    after = later.desk(opened).views.pair_status()
    np.testing.assert_array_equal(after.status, before.status)
    np.testing.assert_array_equal(after.automatic, before.automatic)
    _assert_same_index(later.score_index(opened), ScoreIndex.from_candidates(made.candidates))


def test_the_desk_reads_each_pairs_record_from_the_lookups_as_it_would_look_it_up(tmp_path):
    left, right = _tables()
    services = _services(tmp_path)
    made = services.open_project(left, right, SPEC, name="p", keep=0.3, select=0.8)
    desk = services.desk(made)
    for reviewer in ("ann", "bob", "cy"):
        view = desk.next_view(reviewer)
        kind = "accept" if view["selected"] else "reject"
        assert desk.decide(reviewer, view, kind, view["selected"] or None).ok
    looked_up = dataclasses.replace(services.project(made.project_id), pair_left=None)
    plain = workspace_module.ReviewDesk(services.log, looked_up)
    np.testing.assert_array_equal(desk.views.pair_status().status, plain.views.pair_status().status)
    assert (desk.views.pair_status().status > 0).sum() > 0


def test_a_picked_project_is_opened_once_however_many_requests_ask_at_once(tmp_path, monkeypatch):
    left, right = _tables()
    made = _services(tmp_path).open_project(left, right, SPEC, name="p", keep=0.3, select=0.8)
    calls = []
    real = workspace_module.open_indexed

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(workspace_module, "open_indexed", counting)
    services = _services(tmp_path)
    start = threading.Barrier(6)
    seen = []

    def ask():
        start.wait()
        seen.append(services.project(made.project_id))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len({id(p) for p in seen}) == 1
    assert services.project("no-such-project") is None
    assert services._open_locks == {}


def test_warm_up_opens_the_latest_projects_and_one_desk_and_passes_over_a_broken_one(tmp_path):
    left, right = _tables()
    first = _services(tmp_path)
    a = first.open_project(left, right, SPEC, name="a", keep=0.3, select=0.8)
    b = first.open_project(left.iloc[:-2], right, SPEC, name="b", keep=0.3, select=0.8)
    broken = first.open_project(left.iloc[:-4], right, SPEC, name="c", keep=0.3, select=0.8)
    for name in ("left.arrow", "right.arrow"):
        (tmp_path / "data" / broken.project_id / name).unlink()

    services = _services(tmp_path)
    opened = services.warm_up()

    assert set(opened) == {a.project_id, b.project_id}
    assert set(services._projects) == {a.project_id, b.project_id}
    assert set(services._score_indexes) == {a.project_id, b.project_id}
    assert set(services._desks) == {b.project_id}  # the latest that opens, only


def test_warm_up_keeps_to_as_many_projects_as_a_process_keeps(tmp_path):
    left, right = _tables()
    first = _services(tmp_path)
    made = [
        first.open_project(left.iloc[: len(left) - i], right, SPEC, name=f"p{i}", keep=0.3,
                           select=0.8)
        for i in range(3)
    ]  # fmt: skip
    services = _services(tmp_path)
    services.config.max_projects = 2
    assert services.warm_up() == [made[1].project_id, made[2].project_id]


def test_a_server_built_from_options_opens_projects_ahead_and_follows_other_workers(tmp_path):
    from app import create_app, warm_up_in_background

    left, right = _tables()
    other = _services(tmp_path)  # another worker
    made = other.open_project(left, right, SPEC, name="p", keep=0.3, select=0.8)
    # As a gunicorn worker builds it: the data folder and the log, no tables.
    app = create_app(
        AppConfig(db_url=f"sqlite:///{tmp_path / 'd.db'}", data_dir=str(tmp_path / "data"))
    )
    services = app.matchdesk
    assert made.project_id not in services._projects
    stop = warm_up_in_background(app, every=0.05)
    try:
        # Opened, and its ledger read, by the worker's own thread.
        _wait(lambda: getattr(services._desks.get(made.project_id), "_ledger", None))
        desk = services._desks[made.project_id]
        seen = desk._ledger.last_seq
        for reviewer in ("ann", "bob"):
            view = other.desk(made).next_view(reviewer)
            assert other.desk(made).decide(reviewer, view, "reject").ok
        latest = other.desk(made).refresh().last_seq
        assert latest > seen
        # Folded in by the worker's own thread, with no request asking for it.
        _wait(lambda: desk._ledger.last_seq == latest)
        assert desk._ledger.counts() == other.desk(made).refresh().counts()
    finally:
        stop.set()


def _wait(condition, seconds: float = 30) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_mapped_projects_lookups_do_not_count_against_a_workers_memory_budget(tmp_path):
    left, right = _tables()
    built = _built(left, right)
    assert built.index_bytes > 0
    services = _services(tmp_path)
    made = services.open_project(left, right, SPEC, name="p", keep=0.3, select=0.8)
    assert made.index_bytes == 0  # every lookup is a view of lookups.arrow
