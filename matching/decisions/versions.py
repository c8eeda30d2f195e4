"""Named projects and their versions: a project's name, which version of it each run is,
and the navbar's menu of names with their versions under them.

A project is named when it is run (the Data panel proposes the file names); a
later run under the same name (a changed set-up, new versions of the tables) is
the next version of that project. Each project's version is kept in its
settings (:attr:`~matching.decisions.settings.ProjectSettings.version`); a
project recorded before versions were kept counts by its place among the
projects of its name.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

__all__ = [
    "MAX_NAME_CHARS",
    "clean_name",
    "default_name",
    "versions",
    "next_version",
    "previous_versions",
    "menu_options",
    "latest_project",
    "is_header",
]

#: The longest project name (it heads a group in the navbar's menu).
MAX_NAME_CHARS = 120

#: What the value of a name's heading in the menu starts with (never a project id).
_HEADER = "name:"


def clean_name(text: object) -> str:
    """A project name as typed, checked: spaces collapsed, 1 to 120 characters.

    ``ValueError`` says what is wrong, in words for the page.

    >>> clean_name("  people.csv ↔   customers.csv ")
    'people.csv ↔ customers.csv'
    >>> clean_name("  ")
    Traceback (most recent call last):
    ...
    ValueError: give the project a name
    """
    name = " ".join(text.split()) if isinstance(text, str) else ""
    if not name:
        raise ValueError("give the project a name")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"a project name is at most {MAX_NAME_CHARS} characters")
    if not name.isprintable():
        raise ValueError("a project name cannot hold control characters")
    return name


def default_name(left: str, right: str, one_table: bool = False) -> str:
    """The name proposed for a project of tables with these file names.

    >>> default_name("people.csv", "cars.xlsx"), default_name("people.csv", "", True)
    ('people.csv ↔ cars.xlsx', 'people.csv (duplicates)')
    """
    return f"{left} (duplicates)" if one_table else f"{left} ↔ {right}"


def versions(projects: Sequence[dict]) -> dict[str, int]:
    """Each project's version (project id -> number), from the log's records oldest first
    (``project_id``, ``name``, ``settings``): the one kept in its settings, else its
    place among the projects of its name that kept none, after the ones that did.

    >>> from matching.decisions.settings import ProjectSettings as S
    >>> versions([{"project_id": "a", "name": "x", "settings": S()},
    ...           {"project_id": "b", "name": "x", "settings": S(version=2)},
    ...           {"project_id": "c", "name": "y", "settings": S(version=1)}])
    {'a': 1, 'b': 2, 'c': 1}
    """
    out: dict[str, int] = {}
    taken: dict[str, set[int]] = {}
    for p in projects:
        number = p["settings"].version
        if number is not None:
            out[p["project_id"]] = number
            taken.setdefault(p["name"], set()).add(number)
    for p in projects:
        if p["project_id"] in out:
            continue
        used = taken.setdefault(p["name"], set())
        number = 1
        while number in used:
            number += 1
        used.add(number)
        out[p["project_id"]] = number
    return {p["project_id"]: out[p["project_id"]] for p in projects}


def next_version(projects: Sequence[dict], name: str) -> int:
    """The version a new project named ``name`` gets: one more than the highest so far."""
    numbers = versions(projects)
    return 1 + max((numbers[p["project_id"]] for p in projects if p["name"] == name), default=0)


def previous_versions(projects: Sequence[dict], name: str, *, before: str) -> list[dict]:
    """The other projects named ``name``, latest version first (``before``: the one to
    leave out, the new version itself)."""
    numbers = versions(projects)
    same = [p for p in projects if p["name"] == name and p["project_id"] != before]
    return sorted(same, key=lambda p: numbers[p["project_id"]], reverse=True)


def _when(created: object) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(created or 0)))


def is_header(value: object) -> bool:
    """True for the value of a name's heading in the menu (not a project)."""
    return isinstance(value, str) and value.startswith(_HEADER)


def menu_options(projects: Sequence[dict]) -> list[dict]:
    """The navbar's project menu: each name once, in the order names first appeared,
    with its versions under it, newest first, each with the time it was made.

    A name with one version is one option. A name with several is a heading (an
    option that cannot be picked) and an option per version, labelled with the
    name too, as the menu shows the picked option's label alone.

    >>> from matching.decisions.settings import ProjectSettings as S
    >>> for o in menu_options([
    ...     {"project_id": "a", "name": "x", "created": 0, "settings": S(version=1)},
    ...     {"project_id": "c", "name": "y", "created": 60, "settings": S(version=1)},
    ...     {"project_id": "b", "name": "x", "created": 86400, "settings": S(version=2)}]):
    ...     print(o["value"], "|", o["label"], "|", o.get("disabled", False))
    name:x | x | True
    b | x · version 2 · 1970-01-02 00:00 UTC | False
    a | x · version 1 · 1970-01-01 00:00 UTC | False
    c | y | False
    """
    numbers = versions(projects)
    groups: dict[str, list[dict]] = {}
    for p in projects:
        groups.setdefault(p["name"], []).append(p)
    options: list[dict] = []
    for name, group in groups.items():
        if len(group) == 1:
            options.append({"label": name, "value": group[0]["project_id"]})
            continue
        options.append({"label": name, "value": _HEADER + name, "disabled": True})
        for p in sorted(group, key=lambda p: numbers[p["project_id"]], reverse=True):
            label = f"{name} · version {numbers[p['project_id']]} · {_when(p['created'])}"
            options.append({"label": label, "value": p["project_id"]})
    return options


def latest_project(projects: Sequence[dict]) -> str | None:
    """The id of the project made last, or None when there is none."""
    if not projects:
        return None
    return max(projects, key=lambda p: (p["created"], p["project_id"]))["project_id"]
