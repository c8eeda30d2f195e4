"""Server-side services the callbacks share: configuration, the decision log, projects.

One :class:`Services` object belongs to one app (``app.matchdesk``). Projects
(tables plus candidates) are cached with flask-caching, keyed by project id;
on a miss, a project is rebuilt from the tables saved under the data folder,
so any worker process, and a restarted server, can serve any project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from flask_caching import Cache
from sqlalchemy.exc import SQLAlchemyError

from matching.desk import DEFAULT_CARDINALITY, ReviewDesk
from matching.project import Project, build_project, load_tables, save_tables
from matching.spec import Spec
from matching.store import DecisionLog
from matching.tuning import ScoreIndex

__all__ = ["AppConfig", "Services", "services_of"]


@dataclass
class AppConfig:
    """How the app starts.

    ``left``/``right`` with ``spec`` open (or reopen) a project at start; with
    none of them the app opens the tutorial demo.
    """

    left: pd.DataFrame | None = None
    right: pd.DataFrame | None = None
    spec: Spec | None = None
    keep: float = 0.5
    select: float = 0.8
    name: str = "project"
    db_url: str = "sqlite:///matchdesk.db"
    data_dir: str = "matchdesk-data"
    cache_dir: str | None = None
    lease_seconds: int = 300
    sources: dict = field(default_factory=dict)


class Services:
    """The app's server side: decision log, project cache, configuration."""

    def __init__(self, config: AppConfig, server) -> None:
        self.config = config
        self.log = DecisionLog(config.db_url)
        cache_config = {
            "CACHE_TYPE": "SimpleCache",
            "CACHE_DEFAULT_TIMEOUT": 0,
            "CACHE_THRESHOLD": 64,
        }
        if config.cache_dir:
            cache_config = {
                "CACHE_TYPE": "FileSystemCache",
                "CACHE_DIR": config.cache_dir,
                "CACHE_DEFAULT_TIMEOUT": 0,
                "CACHE_THRESHOLD": 64,
            }
        self.cache = Cache(server, config=cache_config)
        # Unpickling a project on every request costs more than the review step
        # itself, so each process also keeps the projects it has used.
        self._projects: dict[str, Project] = {}
        self._score_indexes: dict[str, ScoreIndex] = {}
        self._desks: dict[str, ReviewDesk] = {}

    def actor(self, typed_name: str | None) -> tuple[str, str]:
        """Who acts, and their role: ``(name, role)``.

        With nobody signed in (the app runs open, on the loopback address only,
        for one person) the name typed in the navbar, with every right.
        """
        name = typed_name.strip() if isinstance(typed_name, str) else ""
        return name or "anonymous", "admin"

    def desk(self, project: Project) -> ReviewDesk:
        """The project's :class:`~matching.desk.ReviewDesk` in this process."""
        desk = self._desks.get(project.project_id)
        if desk is None or desk.project is not project:
            desk = ReviewDesk(
                self.log,
                project,
                lease_seconds=self.config.lease_seconds,
                thresholds=lambda: self.thresholds(project),
                cardinality=lambda: self.cardinality(project),
            )
            self._desks[project.project_id] = desk
        return desk

    def open_project(
        self,
        left: pd.DataFrame,
        right: pd.DataFrame,
        spec: Spec,
        *,
        name: str,
        keep: float,
        select: float,
        sources: dict | None = None,
    ) -> Project:
        """Build (or reopen) the project of these inputs and record it in the log."""
        project = build_project(left, right, spec, name=name, keep=keep, select=select)
        folder = Path(self.config.data_dir) / project.project_id
        if not (folder / "left.parquet").exists():
            save_tables(left, right, folder)
        meta = {
            "spec": spec.to_dict(),
            "keep": keep,
            "select": select,
            "tables": str(folder),
            "sources": sources or {},
            "left_rows": len(left),
            "right_rows": len(right),
        }
        self.log.ensure_project(project.project_id, name=name, meta=meta)
        self._remember(project)
        return project

    def _remember(self, project: Project) -> None:
        self._projects[project.project_id] = project
        self.cache.set(f"project:{project.project_id}", project)

    def project(self, project_id: str | None) -> Project | None:
        """The project with this id, or None when there is none."""
        if not project_id:
            return None
        if project_id in self._projects:
            return self._projects[project_id]
        project = self.cache.get(f"project:{project_id}")
        if project is None:
            record = self.log.project(project_id)
            if record is None:
                return None
            meta = record["meta"]
            left, right = load_tables(meta["tables"])
            project = build_project(
                left,
                right,
                Spec.from_dict(meta["spec"]),
                name=record["name"],
                keep=meta["keep"],
                select=meta["select"],
            )
            project.project_id = project_id
        self._remember(project)
        return project

    def score_index(self, project: Project) -> ScoreIndex:
        """The project's :class:`~matching.tuning.ScoreIndex`, built once per process.

        A project id names its candidates (a content hash), so the index never
        goes stale. Like the projects, each process keeps the indexes it built.
        """
        index = self._score_indexes.get(project.project_id)
        if index is None:
            index = ScoreIndex.from_candidates(project.candidates)
            self._score_indexes[project.project_id] = index
        return index

    def thresholds(self, project: Project) -> dict:
        """Keep and select in force for a project (the Tuning tab may change them)."""
        record = self.log.project(project.project_id) or {"meta": {}}
        meta = record["meta"]
        return {
            "keep": float(meta.get("keep", project.keep)),
            "select": float(meta.get("select", project.select)),
        }

    def cardinality(self, project: Project) -> str:
        """How records may pair in a project (see ``matching.desk.CARDINALITIES``)."""
        record = self.log.project(project.project_id) or {"meta": {}}
        return str(record["meta"].get("cardinality", DEFAULT_CARDINALITY))

    def project_options(self) -> list[dict]:
        """The projects for the navbar; none while the database cannot be read."""
        try:
            projects = self.log.projects()
        except SQLAlchemyError:
            return []
        return [{"label": p["name"], "value": p["project_id"]} for p in projects]


def services_of(app) -> Services:
    """The :class:`Services` of an app made by ``create_app``."""
    return app.matchdesk
