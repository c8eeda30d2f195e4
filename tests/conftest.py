"""Shared fixtures: a demo app on a fresh database, and Chromium's options for dash_duo."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_setup_options():
    """Chromium flags for dash_duo: headless, as root, on a closed network."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    chromium = shutil.which("chromium")
    if chromium:
        options.binary_location = chromium
    return options


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def _own_dash_port():
    """Each dash_duo server on a free port of its own, not dash's fixed 8050 onwards.

    Another test run on the same machine (a second checkout, a benchmark) may hold
    8050; a browser test must never talk to someone else's app.
    """
    from dash.testing.application_runners import BaseDashRunner

    BaseDashRunner._next_port = _free_port()
    yield


@pytest.fixture
def app_config(tmp_path):
    """The demo project's config on a database and data folder of its own."""
    from app import demo_config
    from server.services import AppConfig  # noqa: F401 - fail early if the app is broken

    return demo_config(
        db_url=f"sqlite:///{tmp_path / 'decisions.db'}", data_dir=str(tmp_path / "data")
    )


@pytest.fixture
def demo_app(app_config):
    from app import create_app

    return create_app(app_config)


@pytest.fixture
def services(demo_app):
    """The demo app's server-side services."""
    return demo_app.matchdesk


@pytest.fixture
def project(services):
    """The demo project (the tutorial's owners and cars)."""
    return services.project(services.project_options()[0]["value"])
