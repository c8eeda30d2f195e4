"""A project's candidates kept on disk, and a project built on a Dask cluster."""

from __future__ import annotations

import pandas as pd

from matching.demo import generate_tables
from matching.project import build_project, index_project, load_candidates, save_candidates
from matching.spec import Field, Spec, parse_block


def _tables():
    t = generate_tables(300, seed=4)
    spec = Spec(
        (Field("surname"), Field("given_name")),
        left_id="owner_id",
        right_id="car_id",
        block=(parse_block("exact:postcode"), parse_block("exact:birth_date")),
    )
    return t.owners, t.cars, spec


def test_saved_candidates_read_back_as_the_same_project(tmp_path):
    left, right, spec = _tables()
    built = build_project(left, right, spec, name="p", keep=0.5, select=0.8)
    assert load_candidates(tmp_path) is None
    save_candidates(built.candidates, tmp_path)
    again = index_project(
        left, right, spec, load_candidates(tmp_path), name="p", keep=0.5, select=0.8, top_k=10
    )
    pd.testing.assert_frame_equal(again.candidates, built.candidates)
    assert again.project_id == built.project_id and again.slices == built.slices


def test_a_project_built_on_a_local_dask_cluster_equals_the_local_one():
    left, right, spec = _tables()
    local = build_project(left, right, spec, name="p", keep=0.5, select=0.8)
    remote = build_project(left, right, spec, name="p", keep=0.5, select=0.8, dask="local:1")
    pd.testing.assert_frame_equal(remote.candidates, local.candidates)
