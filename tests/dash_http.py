"""Raw HTTP requests to Dash callbacks, the way a script (or an attacker) sends them.

The payload is built from ``/_dash-dependencies``, so a test names only the
callback (by one of its outputs) and the values it wants to send; everything
else goes as null, as from a fresh page.
"""

from __future__ import annotations

import json

__all__ = ["callback_payload", "response_values", "ORIGIN"]

#: The origin of the app under Flask's test client.
ORIGIN = "http://localhost"


def _find(deps: list[dict], output: str) -> dict:
    for dep in deps:
        if f".{output}." in f".{dep['output']}.":
            return dep
    raise AssertionError(f"no callback writes {output}")


def _outputs(dep: dict):
    parts = [p for p in dep["output"].strip(".").split("...") if p]
    outs = []
    for part in parts:
        ident, prop = part.rsplit(".", 1)
        outs.append({"id": ident, "property": prop})
    return outs if dep["output"].startswith("..") else outs[0]


def _value(item: dict, values: dict):
    key = f"{item['id']}.{item['property']}"
    if item["id"].startswith("{"):  # a pattern-matching input: a list of matches
        return [
            {"id": json.loads(item["id"]), "property": item["property"], "value": v}
            for v in values.get(key, [])
        ]
    return {"id": item["id"], "property": item["property"], "value": values.get(key)}


def callback_payload(deps: list[dict], output: str, values: dict, changed: list[str]) -> dict:
    """The JSON body of ``POST /_dash-update-component`` for the callback writing ``output``.

    ``output`` and the keys of ``values`` are ``"id.property"``; ``changed``
    lists the ``"id.property"`` that triggered the call.
    """
    dep = _find(deps, output)
    return {
        "output": dep["output"],
        "outputs": _outputs(dep),
        "inputs": [_value(i, values) for i in dep["inputs"]],
        "state": [_value(s, values) for s in dep["state"]],
        "changedPropIds": changed,
    }


def response_values(body: dict) -> dict:
    """``{"id.property": value}`` of a callback response."""
    return {
        f"{ident}.{prop}": value
        for ident, props in body.get("response", {}).items()
        for prop, value in props.items()
    }
