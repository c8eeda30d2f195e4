"""A project's candidates kept on disk, and a project built on a Dask cluster."""

from __future__ import annotations

import pandas as pd

from matching.engine.demo import generate_tables
from matching.engine.project import build_project, index_project, load_candidates, save_candidates
from matching.engine.spec import Field, Spec, parse_block


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


def test_a_restarted_app_reads_the_saved_candidates_instead_of_scoring_again(tmp_path, monkeypatch):
    import matching.engine.project as project_module
    from app import create_app, demo_config

    config = demo_config(db_url=f"sqlite:///{tmp_path / 'd.db'}", data_dir=str(tmp_path / "data"))
    first = create_app(config).matchdesk
    pid = first.project_options()[0]["value"]
    assert (tmp_path / "data" / pid / "candidates.arrow").exists()

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored again")

    monkeypatch.setattr(project_module, "generate_candidates", no_scoring)
    again = create_app(config).matchdesk  # another worker, or a restart
    pd.testing.assert_frame_equal(again.project(pid).candidates, first.project(pid).candidates)


def test_a_project_an_earlier_version_kept_as_parquet_opens_and_is_rewritten_as_arrow(tmp_path):
    from app import create_app, demo_config
    from server.services import AppConfig

    config = demo_config(db_url=f"sqlite:///{tmp_path / 'd.db'}", data_dir=str(tmp_path / "data"))
    first = create_app(config).matchdesk
    pid = first.project_options()[0]["value"]
    folder = tmp_path / "data" / pid
    project = first.project(pid)
    # The files as earlier versions wrote them, and no Arrow files.
    project.left.astype(object).to_parquet(folder / "left.parquet", index=False)
    project.right.astype(object).to_parquet(folder / "right.parquet", index=False)
    project.candidates.astype({"left_id": object, "right_id": object}).to_parquet(
        folder / "candidates.parquet", index=False
    )
    expected = project.candidates.copy()
    for name in ("left.arrow", "right.arrow", "candidates.arrow"):
        (folder / name).unlink()

    again = create_app(AppConfig(db_url=config.db_url, data_dir=config.data_dir)).matchdesk
    opened = again.project(pid)
    assert again.scorings == 0
    pd.testing.assert_frame_equal(opened.candidates, expected)
    assert opened.left["OwnerSurname"].tolist() == project.left["OwnerSurname"].tolist()
    assert {p.name for p in folder.glob("*.arrow")} == {
        "left.arrow",
        "right.arrow",
        "candidates.arrow",
        "lookups.arrow",
    }


def test_python_app_takes_a_dask_address():
    from app import config_from_args

    assert config_from_args(["--dask", "local:2"])[0].dask == "local:2"
