"""The review desk: every review rule in one place, atomic over the decision log.

A :class:`ReviewDesk` serves one project to many reviewers at once. The command
line, the tests and every callback go through it, so the rules hold whatever
the client:

- **First decision wins.** A decision is written only if, inside the same
  database transaction, the record is still undecided and no other reviewer
  holds its lease. A reviewer changes a standing decision only by saying so
  (``change=True``, or Undo), and only their own unless their role allows more;
  the event names the decision it replaces.
- **One record, one reviewer.** :meth:`ReviewDesk.next_view` leases the record
  it shows in the same transaction that checks the record is undecided.
- **A click is recorded once.** Event ids are made here, from the view the page
  showed (a random ``view_id`` per view), so a double click sends the same id
  twice and records one event, while another tab has its own view and is told
  the record was decided.
- **Undo reverts what it says**: the reviewer's latest decision in force, only
  while nobody changed its record since, and exactly back to the state before.

Each process keeps a :class:`~matching.decisions.ledger.Ledger` of the project's
events and reads only the new ones inside each transaction, so a review step costs
the same at any queue size.

The desk is one face over parts, each a file of this folder and an attribute of the
desk: ``desk.matches`` (unmatch, conflicts), ``desk.batches`` (bulk and pattern
batches), ``desk.audits`` (audits, double review, adjudication) and ``desk.page``
(the review page's requests, checked against what the page showed). This file holds
what they share: the ledger, the transaction, the record view, and the review steps
(next view, decide, undo, release).
"""

from __future__ import annotations

import gc
import secrets
import threading
import time as _time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from matching.decisions.events import Event, event_id, make_event
from matching.decisions.ledger import DECISION_KINDS, Ledger
from matching.decisions.ledger_views import Act, Standing
from matching.decisions.log import DecisionLog, ProjectTransaction
from matching.decisions.roles import PermissionDenied, allowed, require
from matching.decisions.settings import CARDINALITIES, ProjectSettings
from matching.desk.audits import Audits
from matching.desk.batches import Batches
from matching.desk.choices import Choices
from matching.desk.clusters import Clusters
from matching.desk.learning import Learning, rescored_project
from matching.desk.matches import Matches
from matching.desk.page import Page
from matching.desk.terms import (
    MAX_EDIT_CHARS,
    MAX_EDITS_CHARS,
    NOTHING_RECORDED,
    Outcome,
    pairing_problem,
)
from matching.desk.views import Views
from matching.engine.project import Project, record_view

__all__ = ["ReviewDesk", "edits_problem"]

_T = TypeVar("_T")


def _ago(when: float, now: float) -> str:
    seconds = max(0.0, now - when)
    if seconds < 90:
        return "a moment ago"
    if seconds < 3600:
        return f"{round(seconds / 60)} minutes ago"
    return _time.strftime("on %Y-%m-%d at %H:%M UTC", _time.gmtime(when))


def edits_problem(edits: object, *, id_column: str | None = None) -> str | None:
    """What is wrong with the corrections sent with a decision, or None.

    ``edits`` is ``{right_id: {column: value}}`` as the page sent it. A value longer
    than :data:`~matching.desk.terms.MAX_EDIT_CHARS` characters, or more than
    :data:`~matching.desk.terms.MAX_EDITS_CHARS` in all (ids, columns and values), is
    refused, and so is a correction of ``id_column`` (the right table's ID, which names
    the record and is not a value to correct): the decision is not recorded, and the
    message says why.

    >>> edits_problem({"R1": {"name": "Ann"}}) is None
    True
    >>> edits_problem({"R1": {"name": "x" * 2_001}})
    'The corrected name of R1 has 2,001 characters, more than the 2,000 a value may have'
    >>> edits_problem({"R1": {"id": "R2"}}, id_column="id")
    "id is the right table's ID: it names R1 and cannot be corrected"
    """
    if not isinstance(edits, Mapping):
        return None
    total = 0
    for rid, cells in edits.items():
        total += len(str(rid))
        if not isinstance(cells, Mapping):
            continue
        if id_column is not None and id_column in cells:
            return (
                f"{id_column[:40]} is the right table's ID: it names {str(rid)[:40]} and"
                " cannot be corrected"
            )
        for column, value in cells.items():
            size = len(str(value))
            if size > MAX_EDIT_CHARS:
                return (
                    f"The corrected {str(column)[:40]} of {str(rid)[:40]} has {size:,} characters,"
                    f" more than the {MAX_EDIT_CHARS:,} a value may have"
                )
            total += len(str(column)) + size
            if total > MAX_EDITS_CHARS:
                return (
                    f"The corrections sent with this decision have more than {MAX_EDITS_CHARS:,}"
                    " characters in all"
                )
    return None


class ReviewDesk:
    """The review rules of one project, over a :class:`~matching.decisions.log.DecisionLog`.

    Parameters
    ----------
    log : DecisionLog
        Where decisions and leases live; the project must exist in it.
    project : Project
        Tables, queue and candidates.
    lease_seconds : float
        How long a shown record stays reserved for its reviewer.

    Notes
    -----
    The project's settings (:class:`~matching.decisions.settings.ProjectSettings`:
    the thresholds reviewers see pairs with, how records may pair, the reasons,
    notes on records) are the log's: read in each transaction with the project's
    lock, so a review step reads them at most once, and changed by a lead through
    :attr:`choices`.

    One desk per project and process; it is safe to share between threads.
    Every method takes the acting ``reviewer`` and ``role`` (see
    :mod:`matching.decisions.roles`) from the server's own knowledge of who is signed in,
    never from the page.

    Examples
    --------
    >>> import pandas as pd
    >>> from matching.engine.project import build_project
    >>> from matching.engine.spec import Field, Spec
    >>> left = pd.DataFrame({"id": ["1", "2"], "name": ["Ann", "Bob"]})
    >>> right = pd.DataFrame({"id": ["a", "b"], "name": ["Anne", "Bob"]})
    >>> project = build_project(left, right, Spec((Field("name"),), "id", "id"),
    ...                         name="demo", keep=0.5, select=0.8)
    >>> log = DecisionLog("sqlite://")
    >>> _ = log.ensure_project(project.project_id, name="demo")
    >>> desk = ReviewDesk(log, project)
    >>> view = desk.next_view("ann")
    >>> view["left_id"], view["selected"]
    ('1', ['a'])
    >>> desk.next_view("bob")["left_id"]   # ann holds record 1
    '2'
    >>> done = desk.decide("ann", view, "accept", ["a"])
    >>> done.ok, done.view["left_id"]      # bob holds 2, so ann is told she is done
    (True, None)
    >>> late = desk.decide("bob", view, "reject")
    >>> late.ok, late.message
    (False, "Record '1' was decided by ann a moment ago; nothing was recorded.")
    """

    def __init__(
        self,
        log: DecisionLog,
        project: Project,
        *,
        lease_seconds: float = 300,
    ) -> None:
        self.log = log
        self.project = project
        self.lease_seconds = lease_seconds
        self._asks: np.ndarray | None = None
        # The settings as of the latest transaction or read.
        self._settings: ProjectSettings | None = None
        self.lock = threading.RLock()
        self._ledger: Ledger | None = None
        self._memo: dict[str, tuple[int, object]] = {}
        #: The parts: unmatch and conflicts, bulk and pattern batches, audits, the review
        #: page's requests, a lead's choices of settings, one table's clusters.
        self.matches = Matches(self)
        self.batches = Batches(self)
        self.audits = Audits(self)
        self.page = Page(self)
        self.choices = Choices(self)
        self.clusters = Clusters(self)
        self.learning = Learning(self)
        self.views = Views(self)

    @property
    def project_id(self) -> str:
        return self.project.project_id

    def use(self, project: Project) -> None:
        """Serve ``project``: the same records scored again (a model learned from the
        decisions), so the ledger still holds; ``ValueError`` for other records."""
        with self.lock:
            if project is self.project:
                return
            if project.project_id != self.project_id or project.queue is not self.project.queue:
                raise ValueError("a desk serves the records of one project")
            self.project = project
            self.views.forget()
            self._memo = {}
            self._asks = None  # worked out of the candidates the desk served before

    # -- the ledger ----------------------------------------------------------

    def _fresh_ledger(self) -> Ledger:
        ledger = Ledger(self.project.queue, self.project.left_pos, self.project.right_pos)
        for seq, *facts in self.log.event_facts(self.project_id):
            ledger.apply(facts[0] if len(facts) == 1 else Act(*facts))
            ledger.last_seq = seq
        return ledger

    def ledger(self) -> Ledger:
        """The ledger as of the last transaction (read the log once on first use)."""
        with self.lock:
            if self._ledger is None:
                self._ledger = self._fresh_ledger()
                # A large log leaves millions of long-lived objects; Python's full
                # collections would walk them all, pausing a review step for tens of
                # milliseconds. Frozen objects are left out of those walks.
                gc.freeze()
            return self._ledger

    def _catch_up(self, tx: ProjectTransaction) -> Ledger:
        ledger = self.ledger()
        for seq, event in tx.events_after(ledger.last_seq, compact=True):
            ledger.apply(event)
            ledger.last_seq = seq
        return ledger

    def refresh(self) -> Ledger:
        """The ledger with every committed event applied (a read; no lock taken).

        Within a project, event sequence numbers grow in commit order (see
        :meth:`~matching.decisions.log.DecisionLog.transaction`), so reading the events
        after the last one seen misses none.
        """
        with self.lock:
            ledger = self.ledger()
            rows = self.log.event_rows(self.project_id, after_seq=ledger.last_seq, compact=True)
            for seq, event in rows:
                ledger.apply(event)
                ledger.last_seq = seq
            return ledger

    def memo(self, name: str, build: Callable[[Ledger], _T]) -> _T:
        """``build(ledger)``, kept until the log changes: one value per ``name``."""
        with self.lock:
            ledger = self.refresh()
            hit = self._memo.get(name)
            if hit is not None and hit[0] == ledger.last_seq:
                return hit[1]
            value = build(ledger)
            self._memo[name] = (ledger.last_seq, value)
            return value

    def still_showing(self, reviewer: str, view: Mapping | None) -> bool:
        """True when ``view`` is still what ``reviewer`` should see: its record is
        open, nothing was decided since it was drawn (another tab may decide) and its
        candidates were scored by the model that scores them now."""
        if not isinstance(view, Mapping) or view.get("reviewer") != reviewer:
            return False
        ledger = self.refresh()
        pos = self.project.left_pos.get(view.get("left_id"))
        if pos is None or not ledger.waiting[pos]:
            return False
        same_model = view.get("model", 0) == self.project.model_version
        return same_model and view.get("decided") == ledger.counts()["decided"]

    def transaction(self, work: Callable[[ProjectTransaction, Ledger], _T]) -> _T:
        """Run ``work`` inside the project's lock with the ledger caught up.

        ``work`` may apply what it writes to the ledger before the commit; if
        the transaction fails, the ledger is dropped and read again next time.
        """
        with self.lock:
            self.ledger()  # read the whole log, if need be, before taking the lock
            try:
                with self.log.transaction(self.project_id) as tx:
                    self._settings = tx.settings
                    result = work(tx, self._catch_up(tx))
                    new_seq = tx.last_seq()
                self._settings = tx.settings  # as ``work`` left them
                self._ledger.last_seq = max(self._ledger.last_seq, new_seq)
                self._follow_model(tx.settings)
                return result
            except BaseException:
                self._ledger = None
                raise

    # -- views ---------------------------------------------------------------

    def _take_next(
        self,
        tx: ProjectTransaction,
        ledger: Ledger,
        reviewer: str,
        *,
        restart: bool,
        prefer: int | None,
        now: float,
    ) -> int | None:
        busy = tx.busy(reviewer, now)
        held = {self.project.left_pos[b] for b in busy if b in self.project.left_pos}
        if prefer is not None and ledger.waiting[prefer] and prefer not in held:
            pos = prefer
        elif tx.settings.queue_order == "informative":
            pos = self.learning.next_open(ledger, held, tx.settings, restart=restart)
        else:
            start = 0 if restart else ledger.resume_after(reviewer)
            pos = ledger.find_open(start, restart=restart, exclude=held, among=self.asks())
        if pos is None:
            tx.release(reviewer)
        else:
            tx.lease(self.project.queue[pos], reviewer, now + self.lease_seconds)
        return pos

    def asks(self) -> np.ndarray | None:
        """Which queue positions a reviewer is asked about, or None for all of them.

        One table compared with itself shows each pair once, under its earlier record,
        so a record with no later candidate asks nothing: its pairs were shown under
        earlier records. Two tables ask about every left record (no candidate is a
        question too: is there really no match?).
        """
        if not self.project.spec.one_table:
            return None
        if self._asks is None:
            slices = self.project.slices
            self._asks = np.asarray(slices.stops) > np.asarray(slices.starts)
        return self._asks

    def view_at(self, reviewer: str, pos: int | None) -> dict:
        """What :meth:`next_view` returns for the record at queue position ``pos`` (None:
        no record), as of the latest transaction: its ledger and settings."""
        ledger = self.ledger()
        settings = self._settings if self._settings is not None else self.settings()
        counts = ledger.counts()
        asks = self.asks()
        view = {
            "project_id": self.project_id,
            "view_id": secrets.token_hex(8),
            "reviewer": reviewer,
            "total": len(self.project.queue) if asks is None else int(asks.sum()),
            "decided": counts["decided"],
            "skipped": counts["skipped"],
            "open": counts["open"] if asks is None else int((ledger.waiting & asks).sum()),
            "undo_target": ledger.undo_target(reviewer),
            "left_id": None,
            "model": self.project.model_version,
        }
        if pos is not None:
            th = self.thresholds(settings)
            left_id = self.project.queue[pos]
            view.update(record_view(self.project, left_id, keep=th["keep"], select=th["select"]))
            view["position"] = pos
            # Its place among the records asked about, counted from 1.
            view["number"] = pos + 1 if asks is None else int(np.count_nonzero(asks[:pos])) + 1
            self.learning.annotate(left_id, view["rows"], settings)
            note = settings.notes.get(left_id)
            if note:
                view["note"] = note
            rights = [r["_right_id"] for r in view["rows"]]
            taken = self._taken(ledger, left_id, rights, settings.cardinality)
            view["taken"] = taken
            # A candidate matched elsewhere is never ticked for the reviewer: accepting it
            # would make a conflict, which should be a choice, not a default.
            view["selected"] = [r for r in view["selected"] if r not in taken]
            for row in view["rows"]:
                hit = taken.get(row["_right_id"])
                if hit is not None:
                    how = " automatically" if hit["automatic"] else ""
                    row["_taken"] = f"matched to {hit['left_id']}{how} by {hit['reviewer']}"
        return view

    def _taken(
        self, ledger: Ledger, left_id: str, rights: list[str], cardinality: str
    ) -> dict[str, dict]:
        """The candidates already matched to other records, where that makes a conflict."""
        if not CARDINALITIES[cardinality][1]:
            return {}
        out = {}
        for r in rights:
            others = [x for x in ledger.right_owners.get(r, ()) if x != left_id]
            if others:
                d = ledger.decisions[others[0]]
                out[r] = {"left_id": others[0], "reviewer": d.reviewer, "automatic": d.automatic}
        return out

    def settings(self) -> ProjectSettings:
        """The project's settings now (one short read; parsed again only after a change)."""
        self._settings = self.log.settings(self.project_id)
        self._follow_model(self._settings)
        return self._settings

    def _follow_model(self, settings: ProjectSettings) -> None:
        """Serve the candidates of the model the settings name, when another process
        learned a new one (its file is mapped once; nothing is read when unchanged)."""
        if settings.model_version <= self.project.model_version:
            return
        try:
            self.use(rescored_project(self.project, settings))
        except ValueError:  # learned again meanwhile, and that file replaced: read anew
            latest = self.log.settings(self.project_id)
            self.use(rescored_project(self.project, latest))

    def thresholds(self, settings: ProjectSettings | None = None) -> dict[str, float]:
        """``{"keep", "select"}``: reviewers see pairs scoring at least ``keep`` (the
        settings' ``show_from``) and find those from ``select`` ticked; of ``settings``,
        or of the settings now. The project's own where the settings hold none."""
        settings = self.settings() if settings is None else settings
        return settings.thresholds(floor=self.project.keep, select=self.project.select)

    def cardinality(self) -> str:
        """How records may pair in this project now (see :data:`CARDINALITIES`)."""
        return self.settings().cardinality

    def next_view(
        self,
        reviewer: str,
        *,
        restart: bool = False,
        role: str = "reviewer",
        now: float | None = None,
    ) -> dict:
        """The record ``reviewer`` should see now, leased to them, as JSON-safe data.

        The reviewer resumes after their latest decision in force, passing over
        decided records, records other reviewers hold and (unless ``restart``)
        skipped ones, and wraps round to the top. The lease is taken in the
        transaction that finds the record open, so two reviewers are never
        shown the same record.

        Returns
        -------
        dict
            ``project_id, view_id, reviewer, total, decided, skipped, open,
            undo_target`` and ``left_id`` (None when no record is open to this
            reviewer; ``open`` then says how many other reviewers hold), plus,
            for a record, what :func:`matching.engine.project.record_view` returns and
            ``position``. A role that may not decide (a manager) is shown no record
            and leases none: ``left_id`` is None and ``read_only`` True.
        """
        if not allowed(role, "decide"):
            return {**self.view_at(reviewer, None), "read_only": True}
        now = _time.time() if now is None else now
        pos = self.transaction(
            lambda tx, ledger: self._take_next(
                tx, ledger, reviewer, restart=restart, prefer=None, now=now
            )
        )
        return self.view_at(reviewer, pos)

    # -- decisions -----------------------------------------------------------

    def decide(
        self,
        reviewer: str,
        view: Mapping,
        kind: str,
        right_ids: Sequence[str] = (),
        edits: Mapping | None = None,
        reason: str | None = None,
        *,
        comment: str | None = None,
        role: str = "reviewer",
        change: bool = False,
        now: float | None = None,
    ) -> Outcome:
        """Decide the record ``view`` showed, and lease the next one, atomically.

        Parameters
        ----------
        view : mapping
            What the page showed: its ``left_id`` and ``view_id`` are read
            (and checked); nothing else in it is trusted.
        kind : {"accept", "reject", "skip"}
        right_ids : sequence of str
            The candidates accepted; each must have been proposed for the record.
        edits : mapping, optional
            ``{right_id: {column: value}}`` corrections; only accepted
            candidates' columns of the right table are kept.
        reason : str, optional
            One of the project's reasons (see
            :attr:`~matching.decisions.settings.ProjectSettings.reasons`); another is
            dropped, as a page sent it.
        comment : str, optional
            Kept with the decision after the reason (its first 500 characters).
        change : bool
            Replace a standing decision (the reviewer's own, or anyone's for a
            role allowed to ``change_others``) instead of being refused.

        Returns
        -------
        Outcome
            Refused, with a message and nothing written, when the record is
            decided already (by anyone, in any tab), another reviewer holds it,
            the role does not allow it, or the view names what the project does
            not have. A repeated click is ``ok`` with ``written=0``. ``view`` is
            the next record in both cases.
        """
        now = _time.time() if now is None else now
        left_id = view.get("left_id") if isinstance(view, Mapping) else None
        view_id = str(view.get("view_id") or "") if isinstance(view, Mapping) else ""
        problem = self.decision_problem(left_id, kind, right_ids, role) or edits_problem(
            edits, id_column=self.project.spec.right_id
        )
        if problem:
            return Outcome.refused(problem, view=self.next_view(reviewer, now=now))
        left_id = str(left_id)
        rights = list(dict.fromkeys(str(r) for r in right_ids)) if kind == "accept" else []
        eid = event_id(self.project_id, reviewer, kind, left_id, view_id)

        def judge(tx: ProjectTransaction, ledger: Ledger) -> tuple[bool, str | None, int]:
            settings = tx.settings
            if tx.has_event(eid):  # the same click again
                return True, None, 0
            problem = pairing_problem(settings.cardinality, rights)
            if problem:
                return False, problem, 0
            standing = ledger.decisions.get(left_id)
            replaces = None
            if standing is not None:
                if not change:
                    return False, self._decided_message(left_id, standing, reviewer, now), 0
                if standing.reviewer != reviewer:
                    require(role, "change_others")
                replaces = standing.event_id
            elif change and kind == "skip":
                return False, f"Record {left_id!r} has no decision to change", 0
            holder = tx.lease_holder(left_id)
            if holder and holder[0] != reviewer and holder[1] > now:
                return False, f"Record {left_id!r} is open with {holder[0]}", 0
            text = settings.reason_text(reason, comment)
            thresholds = self.thresholds(settings)
            if self.project.model_version:  # which model scored the record
                thresholds["model"] = float(self.project.model_version)
            event = self._decision_event(
                eid, kind, left_id, rights, edits, text, reviewer, replaces, now, thresholds
            )
            tx.insert([event])
            ledger.apply(event)
            return True, self._conflict_note(ledger, left_id, rights, settings.cardinality), 1

        def work(tx: ProjectTransaction, ledger: Ledger):
            try:
                result = judge(tx, ledger)
            except PermissionDenied as exc:
                result = False, str(exc).capitalize(), 0
            # The next record is leased in the same transaction: one commit a step.
            return result, self._take_next(
                tx, ledger, reviewer, restart=False, prefer=None, now=now
            )

        (ok, message, written), pos = self.transaction(work)
        if not ok:
            message += NOTHING_RECORDED
        return Outcome(ok, message, written, self.view_at(reviewer, pos))

    def decision_problem(self, left_id, kind: str, right_ids, role: str) -> str | None:
        try:
            require(role, "decide")
        except PermissionDenied as exc:
            return str(exc).capitalize()
        if kind not in DECISION_KINDS:
            return f"{kind!r} is not a decision"
        if not isinstance(left_id, str) or left_id not in self.project.left_pos:
            return "The page named a record this project does not have"
        if kind != "accept":
            return None
        if not right_ids:
            return "Select at least one candidate to accept, or choose No match"
        proposed = set(self.project.candidate_rows(left_id)["right_id"])
        foreign = [str(r) for r in right_ids if str(r) not in proposed]
        if foreign:
            return f"{', '.join(foreign[:3])} was never proposed for record {left_id!r}"
        return None

    def _conflict_note(
        self, ledger: Ledger, left_id: str, rights: list[str], cardinality: str
    ) -> str | None:
        """What to tell a reviewer whose accept made a conflict (None when it made none)."""
        if not CARDINALITIES[cardinality][1]:
            return None
        clashes = ledger.conflicts_of(rights)
        hits = [(r, [x for x in clashes[r] if x != left_id]) for r in rights if r in clashes]
        if not hits:
            return None
        r, others = hits[0]
        d = ledger.decisions[others[0]]
        more = f" (and {len(hits) - 1} more)" if len(hits) > 1 else ""
        return (
            f"Recorded as a conflict: {r} is already matched to record {others[0]!r} by "
            f"{d.reviewer}{more}. A lead will choose which match stands."
        )

    def _decided_message(self, left_id: str, standing: Standing, reviewer: str, now: float):
        when = _ago(standing.time, now)
        if standing.reviewer == reviewer:
            return f"Record {left_id!r} was already decided by you {when} (in another tab?)"
        how = " automatically" if standing.automatic else ""
        return f"Record {left_id!r} was decided{how} by {standing.reviewer} {when}"

    def _decision_event(
        self, eid, kind, left_id, rights, edits, reason, reviewer, replaces, now, thresholds
    ) -> Event:
        cands = self.project.candidate_rows(left_id)
        scores = dict(zip(cands["right_id"], cands["score"].astype(float)))
        columns = set(map(str, self.project.right.columns))
        kept: dict[str, dict[str, str]] = {}
        for rid, cells in (edits or {}).items() if isinstance(edits, Mapping) else ():
            if str(rid) in rights and isinstance(cells, Mapping):
                clean = {str(c): str(v) for c, v in cells.items() if str(c) in columns}
                if clean:
                    kept[str(rid)] = clean
        return make_event(
            kind,
            event_id=eid,
            reviewer=reviewer,
            now=now,
            left_id=left_id,
            right_ids=rights,
            edits=kept,
            scores=scores,
            thresholds=thresholds,
            replaces=replaces,
            reason=reason,
        )

    # -- undo and changes ----------------------------------------------------

    def undo(
        self,
        reviewer: str,
        *,
        role: str = "reviewer",
        target: str | None = None,
        now: float | None = None,
    ) -> Outcome:
        """Revert the reviewer's latest event in force (a whole batch for a bulk action).

        ``target`` is the id the page's Undo named (``view["undo_target"]``):
        when given and already undone, nothing more is undone (a double press).
        The reviewer is shown the record the undo reopened.
        """
        require(role, "undo_own")
        if target is not None and not isinstance(target, str):  # a page sends an id or none
            return Outcome.refused("That Undo names no decision of yours")
        now = _time.time() if now is None else now

        def judge(tx: ProjectTransaction, ledger: Ledger):
            """``(ok, message, written, record to show next)`` of the undo asked for."""
            latest = ledger.undo_target(reviewer)
            if target and target != latest:
                if target not in ledger.active:
                    return True, "That was undone already.", 0, None
                return False, "You decided again in another tab; press Undo again for that", 0, None
            if latest is None:
                return False, "There is nothing of yours to undo", 0, None
            problem = ledger.undo_problem(latest)
            if problem:
                return False, problem[0].upper() + problem[1:], 0, None
            hit = ledger.active[latest]
            event = make_event(
                "undo",
                event_id=event_id(self.project_id, "undo", latest),
                reviewer=reviewer,
                now=now,
                target=latest,
            )
            tx.insert([event])
            ledger.apply(event)
            return True, None, 1, None if hit.batch else self.project.left_pos.get(hit.left_id)

        def work(tx: ProjectTransaction, ledger: Ledger):
            ok, message, written, prefer = judge(tx, ledger)
            # The record to show next is leased in the same transaction: one commit a key.
            pos = self._take_next(tx, ledger, reviewer, restart=False, prefer=prefer, now=now)
            return ok, message, written, pos

        ok, message, written, pos = self.transaction(work)
        if not ok:
            message += NOTHING_RECORDED
        return Outcome(ok, message, written, self.view_at(reviewer, pos))

    def write_new(self, events: list[Event]) -> int:
        """Write events the caller made (none that a rule must check), and fold them in."""

        def work(tx: ProjectTransaction, ledger: Ledger):
            written = tx.insert(events)
            if written:
                for e in events:
                    ledger.apply(e)
            return written

        return self.transaction(work)

    def write_checked(self, check: Callable[[Ledger], str | list[Event]]) -> Outcome:
        """In the desk's transaction, ``check`` the ledger: a problem (text) refuses the
        action, a list of events is written and folded in, all of them or none."""

        def work(tx: ProjectTransaction, ledger: Ledger) -> tuple[str | None, int]:
            found = check(ledger)
            if isinstance(found, str):
                return found, 0
            written = tx.insert(found)
            for e in found:
                ledger.apply(e)
            return None, written

        problem, written = self.transaction(work)
        return Outcome.refused(problem) if problem else Outcome(True, None, written)

    def release(self, reviewer: str) -> None:
        """Free the record the reviewer holds, for whoever comes next."""
        self.transaction(lambda tx, ledger: tx.release(reviewer))
