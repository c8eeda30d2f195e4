"""Projects on disk and in the decision log: open, re-run inheritance, delete, warm-up, caches.

A :class:`Workspace` is one process's view of the projects kept under a data
folder and recorded in one decision log. A project's tables and scored
candidates are kept as Arrow files in its folder and read through memory maps,
so any process, and a restarted one, opens any project without scoring it
again, and the processes of one machine share one copy of its data in the page
cache. Each process keeps the lookups it built for the projects it used last
(an LRU bounded by count and by size). The web server and the command line use
it alike; it knows nothing of requests or of who sends them.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import multiprocessing
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from sqlalchemy.exc import SQLAlchemyError

from matching.decisions.log import DecisionLog
from matching.decisions.rerun import carry_over
from matching.decisions.settings import DEFAULT_CARDINALITY, ProjectSettings
from matching.decisions.versions import menu_options, next_version, previous_versions
from matching.desk import ReviewDesk
from matching.desk.learning import rescored_project
from matching.engine.candidates import StepProgress
from matching.engine.derive import made_names
from matching.engine.io import read_table
from matching.engine.lookups import open_indexed
from matching.engine.project import (
    Project,
    build_project,
    has_tables,
    load_candidates,
    load_tables,
    project_id_for,
    save_candidates,
    save_tables,
)
from matching.engine.score_index import ScoreIndex
from matching.engine.spec import Spec
from matching.engine.training import ProposedWeights, learn_for_tables
from matching.engine.uploads import UPLOAD_ID
from matching.memory import release_memory

__all__ = ["Workspace", "WorkspaceConfig", "ProjectUnavailable", "in_child"]

_log = logging.getLogger(__name__)

#: A project's two tables, as :meth:`Workspace.uploaded` names them.
SIDE_INDEX = {"left": 0, "right": 1}


class ProjectUnavailable(Exception):
    """A project in the log that cannot be opened as it was scored; the message says why
    in words for the page (nothing in it comes from the data)."""


@dataclass
class WorkspaceConfig:
    """Where projects live and how many each process keeps open."""

    db_url: str = "sqlite:///matchdesk.db"
    data_dir: str = "matchdesk-data"
    #: A Dask scheduler address (or ``local:N``) that scores new projects; None scores here.
    dask: str | None = None
    lease_seconds: int = 300
    #: Projects each process keeps open; the least recently used leave first.
    max_projects: int = 8
    #: Memory each process may spend on the lookups of the projects it keeps open (MB),
    #: besides the mapped files the processes share; at least one project stays open.
    max_project_mb: float = 1024
    #: Score new projects in a process forked for the job, so that this process never
    #: holds the scoring's peak: for a server that forks its workers from this process.
    score_apart: bool = False


class Workspace:
    """The projects of one data folder and decision log, as this process holds them.

    ``config`` is read when it is needed, so a change to it (fewer projects kept,
    say) holds from the next project opened.
    """

    def __init__(self, config: WorkspaceConfig) -> None:
        self.config = config
        self.log = DecisionLog(config.db_url)
        # Opening a project builds its lookups (ids, slices): each process keeps the
        # projects it used last (an LRU); their tables and candidates are mapped files.
        self._projects: OrderedDict[str, Project] = OrderedDict()
        self._score_indexes: OrderedDict[str, ScoreIndex] = OrderedDict()
        self._desks: OrderedDict[str, ReviewDesk] = OrderedDict()
        self._lru_lock = threading.Lock()
        self._open_locks: dict[str, threading.Lock] = {}
        #: How many times this process scored a project (tests check reopening does not).
        self.scorings = 0
        #: True in a process forked for a job (a background run): it scores in itself.
        self._forked = False

    def after_fork(self) -> None:
        """In a process forked from another (a background run): connections and locks
        of its own, leaving the parent's pooled connections to the parent; a project
        it makes is scored in it, not in a process forked again (``score_apart``)."""
        self.log.forget_connections()
        self._lru_lock = threading.Lock()
        self._open_locks = {}
        self._forked = True

    def before_fork(self) -> None:
        """Ready this process to fork processes that serve (gunicorn's workers).

        It lets go of the memory it freed (a scoring's, the tables read at start), opens
        the projects used last (:meth:`warm_up`) so that the processes forked share
        their lookups and nobody waits for one to open, closes its database
        connections (each process opens its own), and freezes what it holds out of the
        garbage collector's reach, so that the collector in each forked process does
        not touch, and so copy, the pages it shares with this one.
        """
        gc.collect()
        release_memory()
        self.warm_up()
        self.log.close()
        gc.freeze()

    def desk(self, project: Project) -> ReviewDesk:
        """The project's :class:`~matching.desk.ReviewDesk` in this process."""
        desk = self._recall(self._desks, project.project_id)
        if desk is not None and desk.project is not project and desk.project.queue is project.queue:
            # The same records scored by another model (learned from the decisions):
            # whichever of the two is the later one is kept by both.
            if desk.project.model_version > project.model_version:
                self._adopt(desk.project)
            else:
                desk.use(project)
            return desk
        if desk is None or desk.project is not project:
            desk = ReviewDesk(self.log, project, lease_seconds=self.config.lease_seconds)
            self._keep(self._desks, project.project_id, desk)
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
        progress: StepProgress | None = None,
        project_id: str | None = None,
    ) -> Project:
        """Build (or reopen) the project of these inputs and record it in the log.

        The tables are saved as Arrow files and the project works on their
        memory maps. The candidates are scored once (on the Dask cluster when
        one is configured) and kept beside the tables, so reopening the
        project, in this process or another, maps them instead of scoring again.
        ``project_id`` is :func:`~matching.engine.project.project_id_for` these inputs when
        the caller has worked it out already. ``progress(step, done, total)`` hears
        the scoring steps (see :func:`matching.engine.project.build_project`), then
        ``("saving", 0, 1)`` before the candidates are written and the project is
        recorded; raising there leaves no candidates and no project in the log.
        ``keep`` is the project's floor: pairs scoring under it are not kept, and
        reopening the project never scores it at another.
        """
        project_id = project_id or project_id_for(left, right, spec, keep=keep, top_k=10)
        folder = Path(self.config.data_dir) / project_id
        if not has_tables(folder):
            save_tables(left, right, folder)
        left, right = load_tables(folder)
        project = self._scored(
            left,
            right,
            spec,
            folder,
            name=name,
            keep=keep,
            select=select,
            project_id=project_id,
            progress=progress,
        )
        settings = ProjectSettings(
            # One table's accepted pairs join into clusters: a record may be the same as
            # several others, so no pairing rule turns a second match into a conflict.
            cardinality="many-to-many" if spec.one_table else DEFAULT_CARDINALITY,
            floor=keep,
            show_from=keep,
            select=select,
            spec=spec,
            tables=str(folder),
            sources=sources or {},
            left_rows=len(left),
            right_rows=len(right),
            columns=(tuple(map(str, left.columns)), tuple(map(str, right.columns))),
        )
        created = self.log.ensure_project(
            project.project_id,
            name=name,
            settings=settings,
            number=lambda same: next_version(same, name),
        )
        if not created:  # the same inputs made a project already: it keeps its name
            record = self.log.project(project.project_id)
            if record is not None and record.get("name"):
                project = replace(project, name=record["name"])
        self._remember(project)
        if created:
            self._inherit(project, name=name, spec=spec)
        return project

    def _previous_version(self, project: Project, *, name: str, spec: Spec) -> str | None:
        """The latest earlier version of the project named ``name`` when its records
        are those of this one (the same ID columns, both of one table or both of two),
        so that its decisions can be carried over; None otherwise."""
        earlier = previous_versions(self.log.projects(), name, before=project.project_id)
        if not earlier:
            return None
        old = earlier[0]["settings"].spec
        if old is None or (old.left_id, old.right_id, old.one_table) != (
            spec.left_id,
            spec.right_id,
            spec.one_table,
        ):
            return None
        return earlier[0]["project_id"]

    def _inherit(self, project: Project, *, name: str, spec: Spec) -> None:
        """Carry the decisions that still hold over from the previous version, if any."""
        previous = self._previous_version(project, name=name, spec=spec)
        old = self.project(previous) if previous else None
        if old is None:
            return
        decisions = self.desk(old).refresh().decisions
        inherited = carry_over(old, decisions, project, reviewer="matchdesk")
        desk = self.desk(project)
        desk.log.append_many(project.project_id, inherited.events)
        self.log.change_settings(
            project.project_id,
            lambda settings: replace(
                settings,
                version_of=previous,
                carried=inherited.counts,
                notes=inherited.changed,
            ),
        )
        self._remember(project)  # the new version, not the old, is the one in use

    def name_for_columns(self, left: list, right: list) -> str | None:
        """The name of the latest project whose tables had these columns (new versions of
        its tables are likely its next version), or None."""
        columns = (tuple(map(str, left)), tuple(map(str, right)))
        same = [p for p in self.log.projects() if p["settings"].columns == columns]
        return max(same, key=lambda p: p["created"])["name"] if same else None

    def settings(self, project_id: str) -> ProjectSettings | None:
        """The project's settings, or None when there is no such project."""
        record = self.log.project(project_id)
        return None if record is None else record["settings"]

    def _scored(
        self,
        left,
        right,
        spec: Spec,
        folder: Path,
        *,
        name: str,
        keep: float,
        select: float,
        project_id: str,
        progress: StepProgress | None = None,
    ) -> Project:
        """The project of these inputs: its saved candidates mapped, or scored, saved and
        mapped (so the process that scores shares them like any other)."""
        saved = load_candidates(folder)
        if saved is None:
            self.scorings += 1
            score = functools.partial(
                _score_and_save, left, right, spec, folder, name=name, keep=keep,
                select=select, project_id=project_id, dask=self.config.dask,
            )  # fmt: skip
            if self.config.score_apart and not self._forked:
                in_child(score, progress)
            else:
                score(progress)
            saved = load_candidates(folder)
        elif progress is not None:
            progress("saving", 0, 1)
        project, index = open_indexed(
            left, right, spec, saved, folder, name=name, keep=keep, select=select, top_k=10,
            project_id=project_id,
        )  # fmt: skip
        self._keep(self._score_indexes, project_id, index)
        return project

    def _remember(self, project: Project) -> None:
        self._keep(self._projects, project.project_id, project)

    def _keep(self, lru: OrderedDict, key: str, value) -> None:
        with self._lru_lock:
            lru[key] = value
            lru.move_to_end(key)
            budget = self.config.max_project_mb * 1024 * 1024
            while len(lru) > 1 and (
                len(lru) > max(1, self.config.max_projects)
                or sum(_size(v) for v in lru.values()) > budget
            ):
                lru.popitem(last=False)

    def _recall(self, lru: OrderedDict, key: str):
        with self._lru_lock:
            value = lru.get(key)
            if value is not None:
                lru.move_to_end(key)
            return value

    def delete_project(self, project_id: str) -> bool:
        """Forget a project: its decisions, saved tables, uploads and cached candidates.

        Returns False when there was no such project. Role checks are the caller's.
        """
        record = self.log.project(project_id)
        if record is None:
            return False
        with self._lru_lock:
            self._projects.pop(project_id, None)
            self._score_indexes.pop(project_id, None)
            self._desks.pop(project_id, None)
        data = Path(self.config.data_dir).resolve()
        for token in record["settings"].sources.get("uploads", []):
            upload = self.upload_path(token, ".parquet")
            if upload is not None:
                upload.unlink(missing_ok=True)
                upload.with_suffix(".json").unlink(missing_ok=True)
        folder = (data / project_id).resolve()
        if folder.parent == data and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        self.log.delete_project(project_id)
        return True

    def sweep_uploads(self, *, max_age: float = 86400.0) -> int:
        """Delete uploads older than ``max_age`` seconds; returns how many files went.

        An upload is only needed until Run: a project keeps its own copy of
        its tables, so an upload left for a day is an abandoned one.
        """
        folder = Path(self.config.data_dir) / "uploads"
        cutoff = time.time() - max_age
        gone = 0
        for path in folder.glob("*") if folder.is_dir() else []:
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    gone += 1
            except OSError:
                pass  # another process removed it first
        return gone

    def upload_path(self, token: object, suffix: str = ".parquet") -> Path | None:
        """Where the upload ``token`` is kept, or None when ``token`` is not an upload id.

        An upload id is 32 lowercase hex digits, made by the server; anything
        else (a path, ``..``, a longer string) names nothing.
        """
        if not isinstance(token, str) or not UPLOAD_ID.fullmatch(token):
            return None
        folder = (Path(self.config.data_dir) / "uploads").resolve()
        path = (folder / f"{token}{suffix}").resolve()
        return path if path.parent == folder else None

    def uploaded(self, info: object) -> tuple[dict, pd.DataFrame]:
        """The workspace's record of a table and the table, from ``{"token": id}`` (an
        upload) or ``{"project": id, "side": "left" | "right"}`` (a project's stored
        table, for a re-run without uploading it again).

        Whatever else ``info`` holds (a page's copy of the name, columns and row count)
        is not trusted: the record is read again from what was kept. Raises
        ``ValueError`` when ``info`` names no kept upload or project table.
        """
        source = self.table_source(info)
        if "project" in source:
            settings = self.settings(source["project"])
            side = source["side"]
            frame = load_tables(Path(settings.tables))[SIDE_INDEX[side]]
            name = str(settings.sources.get(side) or f"{side} table")
            record = {
                "name": name,
                "columns": list(map(str, frame.columns)),
                "made": made_names(frame),
                "rows": len(frame),
            }
            return record, frame
        path = self.upload_path(source["token"])
        record = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        return record, read_table(path)

    def learn_for_uploads(self, left: object, right: object, spec: Spec) -> ProposedWeights:
        """Weights learned for ``spec`` on the tables the page names (as :meth:`uploaded`
        reads them; ``right`` None for one table), with the thresholds they mean.
        ``ValueError`` (or ``OSError``) in words for the page when they cannot be."""
        left_frame = self.uploaded(left)[1]
        right_frame = left_frame if right is None else self.uploaded(right)[1]
        return learn_for_tables(left_frame, right_frame, spec)

    def table_source(self, info: object) -> dict:
        """The server's own name of a table the page names: ``{"token": id}`` of a kept
        upload, or ``{"project": id, "side": side}`` of a project's stored table.
        ``ValueError`` in words for the page when ``info`` names neither."""
        info = info if isinstance(info, dict) else {}
        if "project" in info:
            side, project_id = info.get("side"), info.get("project")
            settings = self.settings(project_id) if isinstance(project_id, str) else None
            if side not in SIDE_INDEX or settings is None or settings.tables is None:
                raise ValueError("that project's tables are not on the server")
            if not has_tables(Path(settings.tables)):
                raise ValueError("that project's tables are no longer on the server")
            return {"project": project_id, "side": side}
        path = self.upload_path(info.get("token"))
        if path is None or not path.exists():
            raise ValueError("that upload is not on the server; upload the table again")
        return {"token": info["token"]}

    def project(self, project_id: str | None) -> Project | None:
        """The project with this id, or None when there is none (or ``project_id``,
        as a page may send it, is not an id at all: a number, a list)."""
        if not project_id or not isinstance(project_id, str):
            return None
        project = self._recall(self._projects, project_id)
        if project is not None:
            return self._latest(project)
        # The page asks for a newly picked project in several requests at once: one
        # thread opens it while the others wait for it, instead of each opening it.
        with self._lru_lock:
            opening = self._open_locks.setdefault(project_id, threading.Lock())
        try:
            with opening:
                project = self._recall(self._projects, project_id)
                return project if project is not None else self._open(project_id)
        finally:
            with self._lru_lock:  # kept only while in use: ids come from the page
                if self._open_locks.get(project_id) is opening:
                    del self._open_locks[project_id]

    def _latest(self, project: Project) -> Project:
        """``project``, or the same records scored by a later model that its desk in this
        process serves already (learned here, or seen in the settings it read)."""
        desk = self._recall(self._desks, project.project_id)
        if desk is not None and desk.project.model_version > project.model_version:
            self._adopt(desk.project)
            return desk.project
        return project

    def _adopt(self, project: Project) -> None:
        """Hold ``project``, the records of one held before scored by a later model."""
        with self._lru_lock:
            self._score_indexes.pop(project.project_id, None)
        self._remember(project)

    def _open(self, project_id: str) -> Project | None:
        """The project as it was scored: its saved candidates, or, when they are gone,
        candidates scored again at its own floor; :class:`ProjectUnavailable` when the
        log does not say enough to do that."""
        record = self.log.project(project_id)
        if record is None:
            return None
        settings = record["settings"]
        if settings.spec is None or settings.tables is None:
            raise ProjectUnavailable(
                "This project's record in the decision log lacks its set-up or tables, so"
                " it cannot be opened; run it again from the Data panel."
            )
        folder = Path(settings.tables)
        left, right = load_tables(folder)
        floor = settings.floor
        if floor is None:
            # Recorded by an earlier version, which kept one ``keep`` that the Tuning tab
            # moved: it is the floor only if the project's id was made with it.
            floor = settings.show_from
            if load_candidates(folder) is None and (
                floor is None
                or project_id_for(left, right, settings.spec, keep=floor, top_k=10) != project_id
            ):
                raise ProjectUnavailable(
                    "This project's scored pairs are missing and the decision log does not"
                    " hold the floor it was scored from (an earlier version recorded it),"
                    " so it cannot be scored again as it was; run it again from the Data"
                    " panel with the same keep."
                )
        project = self._scored(
            left,
            right,
            settings.spec,
            folder,
            name=record["name"],
            keep=floor,
            select=settings.select if settings.select is not None else floor,
            project_id=project_id,
        )
        try:
            project = rescored_project(project, settings)
        except ValueError as exc:
            raise ProjectUnavailable(f"This project cannot be opened: {exc}.") from None
        self._remember(project)
        return project

    def warm_up(self) -> list[str]:
        """Open the projects used last (as many as a process keeps) with their lookups,
        and the review desk of the latest, so that the first person to pick one does not
        wait for it. The others' desks (each a ledger of the project's decisions in
        this process's memory) are read when someone uses them.

        Returns the ids opened. A project that cannot be opened (its folder gone, the
        database busy) is passed over; the page reports it when someone picks it.
        """
        try:
            records = self.log.projects()
        except SQLAlchemyError:
            return []
        recent = sorted(records, key=lambda p: max(p["created"], p["last_event"] or 0))
        opened: list[Project] = []
        for record in recent[-max(1, self.config.max_projects) :]:
            try:
                project = self.project(record["project_id"])
                if project is not None:
                    self.score_index(project)
                    opened.append(project)
            except Exception:  # a start must not fail on one project
                _log.exception("could not open project %s ahead of use", record["project_id"])
        if opened:
            try:
                self.desk(opened[-1]).refresh()
            except Exception:  # the page reports it when someone uses the project
                _log.exception("could not read the decisions of %s", opened[-1].project_id)
        return [p.project_id for p in opened]

    def follow(self, stop: threading.Event, *, every: float = 2.0) -> None:
        """Until ``stop`` is set, read the log's new events into the desks this process
        holds every ``every`` seconds, so that a bulk decision another process wrote
        is folded in here before the next request needs it, not during it."""
        while not stop.wait(every):
            with self._lru_lock:
                desks = list(self._desks.values())
            for desk in desks:
                try:
                    desk.refresh()
                    desk.learning.relearn_if_due()
                    desk.settings()  # a model another process learned is mapped here
                    held = self._recall(self._projects, desk.project_id)
                    if held is not None and desk.project.model_version > held.model_version:
                        self._adopt(desk.project)
                except Exception:  # the next request reads the log again and reports it
                    _log.exception("could not read the decisions of %s", desk.project_id)

    def score_index(self, project: Project) -> ScoreIndex:
        """The project's :class:`~matching.engine.score_index.ScoreIndex`: mapped from the project's
        lookups file when the project was opened, built here if it has left the cache.

        A project id names its candidates (a content hash), so the index never
        goes stale. Like the projects, each process keeps the indexes it holds.
        """
        index = self._recall(self._score_indexes, project.project_id)
        if index is None:
            index = ScoreIndex.from_candidates(project.candidates)
            self._keep(self._score_indexes, project.project_id, index)
        return index

    def project_options(self) -> list[dict]:
        """The projects for the navbar; none while the database cannot be read."""
        try:
            projects = self.log.projects()
        except SQLAlchemyError:
            return []
        return menu_options(projects)


def _score_and_save(
    left, right, spec: Spec, folder: Path, progress: StepProgress | None, *, name: str,
    keep: float, select: float, project_id: str, dask: str | None,
) -> None:  # fmt: skip
    """Score the candidates of a project and save them, with the lookups every process
    that opens the project maps, in its folder."""
    scored = build_project(
        left, right, spec, name=name, keep=keep, select=select, dask=dask, progress=progress
    )
    if progress is not None:
        progress("saving", 0, 1)
    save_candidates(scored.candidates, folder)
    del scored
    open_indexed(
        left, right, spec, load_candidates(folder), folder, name=name, keep=keep,
        select=select, top_k=10, project_id=project_id,
    )  # fmt: skip


def in_child(job: Callable[[StepProgress | None], None], progress: StepProgress | None) -> None:
    """Run ``job(progress)`` in a process forked for it, and wait for it to end.

    The child's memory goes with it: the caller never holds the job's peak. Each
    ``progress(step, done, total)`` of the job is heard here, in the caller's
    thread, and the job goes on past ``"saving"`` only once ``progress`` has
    returned from it; when ``progress`` raises, the child is stopped and the error
    raised here, so a run cancelled at ``"saving"`` saves nothing. An error in the
    job is raised here too (as a ``RuntimeError`` naming it when it cannot be sent
    back), and a child that dies says how.
    """
    context = multiprocessing.get_context("fork")
    here, there = context.Pipe()

    def run() -> None:
        def report(step: str, done: int, total: int) -> None:
            there.send(("progress", (step, done, total)))
            if step == "saving":
                there.recv()  # the caller's go-ahead: it may still cancel

        try:
            job(report if progress is not None else None)
        except BaseException as exc:  # sent to the caller, which raises it
            try:
                there.send(("error", exc))
            except Exception:  # the error cannot be pickled: its words can
                there.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
            os._exit(1)
        there.send(("done", None))
        os._exit(0)

    child = context.Process(target=run, name="matchdesk-scoring", daemon=True)
    child.start()
    there.close()
    outcome = None
    try:
        while outcome is None:
            try:
                kind, value = here.recv()
            except EOFError:
                break
            if kind == "progress":
                progress(*value)
                if value[0] == "saving":
                    here.send("go")
            else:
                outcome = (kind, value)
    except BaseException:
        child.kill()
        raise
    finally:
        child.join()
        here.close()
    if outcome is None:
        raise RuntimeError(f"the process scoring the project ended with code {child.exitcode}")
    if outcome[0] == "error":
        raise outcome[1]


def _size(value) -> int:
    """Bytes a cached value holds in this process: a project's lookups, an index's arrays."""
    if isinstance(value, Project):
        return value.index_bytes
    return int(getattr(value, "nbytes", 0))
