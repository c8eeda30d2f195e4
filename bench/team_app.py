"""The WSGI app ``bench_team.py`` serves with gunicorn: a generated 5,000-record project.

Configured by environment variables, so every gunicorn worker builds the same
project (the same inputs give the same project id) on the same decision log:
``MATCHDESK_BENCH_DB`` (SQLAlchemy URL), ``MATCHDESK_BENCH_DIR`` (data folder)
and ``MATCHDESK_BENCH_RECORDS`` (default 5000).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app
from matching.engine.demo import generate_tables
from matching.engine.spec import Field, Spec
from server.services import AppConfig


def bench_config() -> AppConfig:
    tables = generate_tables(int(os.environ.get("MATCHDESK_BENCH_RECORDS", "5000")), seed=3)
    spec = Spec(
        fields=(Field("surname"), Field("given_name")), left_id="owner_id", right_id="car_id"
    )
    return AppConfig(
        left=tables.owners,
        right=tables.cars,
        spec=spec,
        keep=0.6,
        select=0.9,
        name="Team benchmark",
        db_url=os.environ["MATCHDESK_BENCH_DB"],
        data_dir=os.environ["MATCHDESK_BENCH_DIR"],
    )


server = create_app(bench_config()).server
