"""The projects' settings as one process holds them: the copy it last read of each, by
the version the decision log gave it, read and parsed again only when that changes.

The log keeps a project's :class:`~matching.decisions.settings.ProjectSettings` as JSON
in the project's row beside a version, a new random one with every write. A read of
the row (:meth:`HeldSettings.select`) asks for the JSON only where the version is not
the one held, so a process that has the settings reads a few bytes, and a review step
reads them in the statement that takes the project's lock.
"""

from __future__ import annotations

import json
import secrets

import sqlalchemy as sa

from matching.decisions.settings import ProjectSettings

__all__ = ["HeldSettings"]

# Versions are hex digits, or empty for a row an earlier version wrote: "-" is none.
_NO_VERSION = "-"


class HeldSettings:
    """One process's copies of the projects' settings, by project id.

    Parameters
    ----------
    version, text : sqlalchemy.Column
        The columns of the projects table holding the settings' version and JSON.

    Notes
    -----
    Safe to share between threads: each step is one dict operation, and a copy
    held by mistake (a write rolled back after it was held) only costs a read,
    as its version is not the one in the log.
    """

    def __init__(self, version: sa.Column, text: sa.Column) -> None:
        self._version = version
        self._text = text
        self._held: dict[str, tuple[str, ProjectSettings]] = {}

    def held(self, project_id: str) -> tuple[str, ProjectSettings] | None:
        """``(version, settings)`` held for the project, or None."""
        return self._held.get(project_id)

    def select(self, held: tuple[str, ProjectSettings] | None, *columns) -> sa.Select:
        """``SELECT version, text, *columns``, the text NULL where the version is the one
        ``held``; add the ``WHERE``."""
        known = held[0] if held is not None else _NO_VERSION
        text = sa.case((self._version == known, sa.null()), else_=self._text)
        return sa.select(self._version, text.label(self._text.name), *columns)

    def of(
        self,
        project_id: str,
        held: tuple[str, ProjectSettings] | None,
        version: str,
        text: str | None,
    ) -> ProjectSettings:
        """The settings of a row read with :meth:`select` (``text`` None: the ``held``
        ones), held for the next read."""
        if held is not None and held[0] == version:
            return held[1]
        settings = ProjectSettings.from_dict(json.loads(text))
        self.hold(project_id, version, settings)
        return settings

    def hold(self, project_id: str, version: str, settings: ProjectSettings) -> None:
        self._held[project_id] = (version, settings)

    def forget(self, project_id: str) -> None:
        self._held.pop(project_id, None)

    def row(self, settings: ProjectSettings) -> dict[str, str]:
        """The columns to write ``settings`` with: their JSON and a new version."""
        return {
            self._text.name: json.dumps(settings.to_dict(), sort_keys=True),
            self._version.name: secrets.token_hex(8),
        }
