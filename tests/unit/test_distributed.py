"""Scoring on a Dask cluster gives the local result, row for row, even if a worker dies."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from matching.engine.candidates import generate_candidates, plan
from matching.engine.demo import generate_tables
from matching.engine.spec import Field, Spec, parse_block

distributed = pytest.importorskip("distributed")

from matching.engine.distributed import connect, run_plan_dask  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIELDS = (Field("given_name"), Field("surname", scorer="jaro_winkler", weight=2), Field("street"))
RULES = ("exact:postcode", "exact:surname+birth_date", "sorted:street:2")


@pytest.fixture(scope="module")
def people():
    tables = generate_tables(400, seed=3)
    return tables.owners, tables.cars


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def blocked(ids: bool = True) -> Spec:
    return Spec(
        FIELDS,
        left_id="owner_id" if ids else None,
        right_id="car_id" if ids else None,
        block=tuple(parse_block(r) for r in RULES),
    )


@pytest.mark.parametrize("ids", [True, False])
def test_cluster_run_equals_the_local_run(people, client, ids):
    left, right = people
    local = generate_candidates(left, right, blocked(ids), keep=0.2, top_k=3)
    job, ranges = plan(left, right, blocked(ids), keep=0.2, top_k=3, chunk_elements=300)
    assert len(ranges) > 4
    seen = []
    frames = list(run_plan_dask(job, ranges, client, progress=lambda d, t: seen.append((d, t))))
    assert len(frames) == len(ranges)
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), local, check_exact=True)
    assert seen[-1] == (len(left), len(left))


def test_full_comparison_on_the_cluster_equals_the_local_run(people, client):
    left, right = people[0].iloc[:60], people[1].iloc[:80]
    spec = Spec(FIELDS)
    local = generate_candidates(left, right, spec, keep=0.3, top_k=4)
    job, ranges = plan(left, right, spec, keep=0.3, top_k=4, slices=5)
    frames = list(run_plan_dask(job, ranges, client))
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), local, check_exact=True)


class SlowJob:
    """A job whose ranges take a while, so that a worker can be killed while it works."""

    def __init__(self, job) -> None:
        self.job = job

    def run(self, start: int, stop: int, *, workers: int = -1) -> pd.DataFrame:
        time.sleep(0.15)
        return self.job.run(start, stop, workers=workers)


def test_a_worker_killed_mid_run_does_not_change_the_result(people, client):
    left, right = people
    local = generate_candidates(left, right, blocked(), keep=0.2, top_k=3)
    job, ranges = plan(left, right, blocked(), keep=0.2, top_k=3, chunk_elements=50)
    assert len(ranges) > 20
    before = set(client.scheduler_info()["workers"])
    frames = []
    victim = None
    for frame in run_plan_dask(SlowJob(job), ranges, client):
        frames.append(frame)
        if victim is None:
            victim = next(w for w, tasks in client.processing().items() if tasks)
            pid = client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), local, check_exact=True)
    client.wait_for_workers(2, timeout=60)
    # The killed worker left while it had work: its nanny started a new one.
    assert victim in before
    assert victim not in client.scheduler_info()["workers"]


def test_bad_local_address_is_a_value_error():
    with pytest.raises(ValueError, match="expected local:N"):
        connect("local:zero")


def test_unreachable_scheduler_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match=r"'tcp://127\.0\.0\.1:9': cannot reach the scheduler"):
        connect("tcp://127.0.0.1:9", timeout=1)


def test_command_line_with_a_local_cluster_writes_the_local_result(people, tmp_path):
    left, right = people
    paths = tmp_path / "owners.parquet", tmp_path / "cars.parquet"
    left.to_parquet(paths[0], index=False)
    right.to_parquet(paths[1], index=False)
    common = [
        "-m", "matching", "--left", str(paths[0]), "--right", str(paths[1]),
        "--left-id", "owner_id", "--right-id", "car_id",
        "--field", "given_name", "--field", "surname:jaro_winkler@2", "--field", "street",
        *(a for r in RULES for a in ("--block", r)), "--keep", "0.2", "--top-k", "3",
    ]  # fmt: skip
    for name, extra in (("local", []), ("dask", ["--dask", "local:2"])):
        done = subprocess.run(
            [sys.executable, *common, *extra, "--out", str(tmp_path / f"{name}.parquet")],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "dask.parquet"),
        pd.read_parquet(tmp_path / "local.parquet"),
        check_exact=True,
    )


def test_a_project_scored_on_the_cluster_reports_records_scored(people, client):
    from matching.engine.project import build_project

    left, right = people
    steps = []
    project = build_project(
        left,
        right,
        blocked(),
        name="p",
        keep=0.2,
        dask=client.scheduler.address,
        progress=lambda *s: steps.append(s),
    )
    local = build_project(left, right, blocked(), name="p", keep=0.2)
    pd.testing.assert_frame_equal(project.candidates, local.candidates, check_exact=True)
    assert {s[0] for s in steps} == {"scoring records"}
    assert steps[-1] == ("scoring records", len(left), len(left))


def test_learned_weights_give_the_same_output_on_the_cluster_past_half_a_million_pairs(client):
    # One rule over 640,000 pairs: the run is cut into many more ranges on the cluster than
    # locally, and the weights (learned from samples that do not depend on the cut) and so
    # the output are the same, byte for byte, with each field's weight in bits.
    from matching.engine.candidates import run_plan
    from matching.engine.distributed import task_ranges
    from matching.engine.training import train

    tables = generate_tables(800, seed=4)
    left = tables.owners.assign(all="x")
    right = tables.cars.assign(all="x")
    spec = Spec(
        (Field("given_name", scorer="jaro_winkler"), Field("surname", scorer="jaro_winkler")),
        left_id="owner_id",
        right_id="car_id",
        block=(parse_block("exact:all"),),
    )
    job, ranges = plan(left, right, spec, keep=0.5, top_k=3, explain=True)
    assert sum(c.added for c in job.blocking.count()) > 500_000
    job.spec = Spec(spec.fields, spec.left_id, spec.right_id, spec.block, train(job))
    local = pd.concat(run_plan(job, ranges), ignore_index=True)
    other, _ = plan(left, right, spec, keep=0.5, top_k=3, explain=True)
    cut = task_ranges(other, ranges, client)
    assert len(cut) > len(ranges)
    other.spec = Spec(spec.fields, spec.left_id, spec.right_id, spec.block, train(other))
    assert other.spec.learned == job.spec.learned
    remote = pd.concat(run_plan_dask(other, cut, client), ignore_index=True)
    pd.testing.assert_frame_equal(remote, local, check_exact=True)
    assert "weight_surname" in remote.columns


@pytest.mark.parametrize("rules", [(), ("exact:dob[year]",)])
def test_a_date_made_of_its_parts_scores_on_the_cluster_as_here(client, rules):
    left = pd.DataFrame(
        {
            "id": ["a1", "a2"],
            "dob_year": ["1990.0", "1985"],
            "dob_month": [5, 12],
            "dob_day": [6, 1],
        }
    )
    right = pd.DataFrame(
        {"id": ["b1", "b2"], "dob_year": [1990, 1985], "dob_month": [5, 12], "dob_day": [6, 2]}
    )
    block = tuple(parse_block(r) for r in rules)
    spec = Spec((Field("dob", scorer="date"),), "id", "id", block=block)
    job, ranges = plan(left, right, spec, keep=0.0, top_k=None)
    found = pd.concat(run_plan_dask(job, ranges, client), ignore_index=True)
    pd.testing.assert_frame_equal(
        found, generate_candidates(left, right, spec, keep=0.0, top_k=None)
    )
    assert found.set_index(["left_id", "right_id"]).loc[("a1", "b1"), "score_dob"] == 1.0


def test_a_titles_codes_score_on_the_cluster_as_here(client):
    left = pd.DataFrame({"id": ["a1", "a2"], "name": ["Sony KDL-40V2500 TV", "Canon SD1000 cam"]})
    right = pd.DataFrame({"id": ["b1", "b2"], "name": ["sony kdl40v2500", "canon sd-1000 elph"]})
    spec = Spec((Field("name_codes", scorer="token_set"),), "id", "id")
    job, ranges = plan(left, right, spec, keep=0.0, top_k=None)
    found = pd.concat(run_plan_dask(job, ranges, client), ignore_index=True)
    pd.testing.assert_frame_equal(
        found, generate_candidates(left, right, spec, keep=0.0, top_k=None)
    )
    assert found.set_index(["left_id", "right_id"]).loc[("a2", "b2"), "score_name_codes"] == 1.0


@pytest.mark.parametrize("rules", [RULES, ()])
def test_a_standing_learned_from_labels_scores_on_the_cluster_as_here(people, client, rules):
    # A standing lowers each record's runners-up against its best, and one match per
    # record shares its odds among the record's pairs: the cluster's cut of the left rows
    # keeps every record whole, so its scores are the local ones.
    import dataclasses

    from matching.engine.training import train

    left, right = people[0].iloc[:120], people[1].iloc[:160]
    spec = Spec(FIELDS, "owner_id", "car_id", block=tuple(parse_block(r) for r in rules))
    job, _ = plan(left, right, spec, keep=0.0, top_k=4)
    learned = dataclasses.replace(train(job), standing=0.8, exclusive=True)
    stood = dataclasses.replace(spec, learned=learned)
    local = generate_candidates(left, right, stood, keep=0.3, top_k=4, explain=True)
    job, ranges = plan(left, right, stood, keep=0.3, top_k=4, slices=5, explain=True)
    frames = list(run_plan_dask(job, ranges, client))
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), local, check_exact=True)
    neither = dataclasses.replace(learned, standing=0.0, exclusive=False)
    plain = generate_candidates(
        left, right, dataclasses.replace(stood, learned=neither), keep=0.0, top_k=4, explain=True,
    )  # fmt: skip
    assert len(local) < len(plain)  # runners-up fell below keep
    bits = local[[c for c in local.columns if c.startswith("weight_")]].sum(axis=1)
    behind = bits - bits.groupby(local["left_id"]).transform("max")
    assert (behind < 0).any()
    groups = local["left_id"].to_numpy()
    shared = learned.exclusive_bits(bits.to_numpy(), groups)
    assert (shared < 0).any()
    assert learned.unscale(local["score"].to_numpy()) == pytest.approx(
        (bits + 0.8 * behind).to_numpy() + shared, abs=1e-6
    )
