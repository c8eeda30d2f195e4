"""The engine imports no web package, so the CLI and tests run without Dash."""

from __future__ import annotations

import json
import subprocess
import sys

WEB = ("dash", "flask", "dash_ag_grid", "dash_bootstrap_components", "plotly")

SCRIPT = """
import importlib, json, pkgutil, sys
import matching
names = [m.name for m in pkgutil.walk_packages(matching.__path__, "matching.")]
for name in names:
    importlib.import_module(name)
web = [m for m in sys.modules if m.split(".")[0] in {web!r}]
print(json.dumps({{"modules": names, "web": web}}))
"""


def test_matching_and_every_submodule_import_no_web_package():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(web=set(WEB))],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(out.stdout)
    assert {"matching.engine.candidates", "matching.engine.io", "matching.cli"} <= set(
        found["modules"]
    )
    assert found["web"] == []
