"""The review desk's clusters part: one table's accepted pairs joined into clusters, the
conflicts inside them (A = B, B = C, yet a reviewer said A ≠ C) and a lead's two ways
to settle one: remove an accepted pair of the chain, or keep the cluster.

Both are ordinary events in the project's transaction, so Undo reverts them as it
reverts any decision.
"""

from __future__ import annotations

import threading
import time as _time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from matching.decisions.clusters import (
    ClusterConflict,
    accepted_and_different,
    cluster_conflicts,
    cluster_table,
)
from matching.decisions.events import Decision, Event, ReviewState, event_id, make_event, replay
from matching.decisions.evidence import record_summary
from matching.decisions.ledger import Ledger
from matching.decisions.roles import PermissionDenied, require
from matching.desk.terms import Outcome

if TYPE_CHECKING:
    from matching.desk.desk import ReviewDesk

__all__ = ["Clusters", "ClustersPage", "MAX_LISTED", "CLUSTER_ACTIONS"]

#: Clusters the page lists at most, the largest first.
MAX_LISTED = 500

#: What a lead may do on the Clusters tab: remove the selected accepted pair of a
#: conflict's chain, keep the cluster (its two records are the same), or undo.
CLUSTER_ACTIONS = ("split", "keep", "undo")


@dataclass(frozen=True)
class ClustersPage:
    """What the Clusters tab shows, after the action asked for, if any.

    ``rows`` holds the records of the largest ``listed`` clusters of two or more
    records (of ``clusters`` such clusters holding ``clustered`` records), a
    cluster's records together in table order: ``cluster_id``, ``cluster_size``,
    ``band`` (0 or 1, alternating by cluster), ``record_id`` and the table's
    ``columns``' values as text (None for missing). ``conflicts`` holds a row per
    accepted pair in each conflict's chain (see :meth:`Clusters.conflict_rows`).
    ``undo_target`` and ``version`` are the reviewer's Undo and the log's last
    event, for the page to hand back.
    """

    message: str | None
    rows: list[dict]
    columns: list[str]
    clusters: int
    clustered: int
    listed: int
    conflicts: list[dict]
    undo_target: str | None
    version: int


class Clusters:
    """One table's clusters of one :class:`~matching.desk.ReviewDesk` (``desk.clusters``)."""

    def __init__(self, desk: ReviewDesk) -> None:
        self.desk = desk
        # The log's events as read so far, and the last one's sequence number: each
        # change reads only the events after it.
        self._events: list[Event] = []
        self._seen = 0
        self._lock = threading.Lock()

    def _read(self) -> list[Event]:
        with self._lock:
            rows = self.desk.log.event_rows(self.desk.project_id, after_seq=self._seen)
            self._events += [event for _, event in rows]
            self._seen = max([self._seen, *(seq for seq, _ in rows)])
            return list(self._events)

    def _state(self) -> ReviewState:
        """The replayed log (kept until it changes): the candidates each decision was
        shown, which say which records a reviewer found different."""
        return self.desk.memo("cluster-state", lambda _ledger: replay(self._read()))

    def table(self) -> pd.DataFrame:
        """``record_id, cluster_id, cluster_size`` of every record, in table order (see
        :func:`~matching.decisions.clusters.cluster_table`); kept until the log changes."""
        ids = list(self.desk.project.queue)
        return self.desk.memo("cluster-table", lambda _ledger: cluster_table(ids, self._state()))

    def records(self) -> pd.DataFrame:
        """Every record of the table with its cluster: ``cluster_id``, ``cluster_size``,
        then the table's columns (``record_id`` first when the table has no ID column,
        its row number), in table order; what the clusters export writes."""
        table = self.table()
        project = self.desk.project
        head = table[["cluster_id", "cluster_size"]]
        if project.spec.left_id is None:
            head = table[["cluster_id", "cluster_size", "record_id"]]
        return pd.concat([head, project.left.reset_index(drop=True)], axis=1)

    def representative_records(self) -> pd.DataFrame:
        """One record per cluster (a record alone is a cluster of one), built by the rules
        a lead saved (see :class:`~matching.decisions.clusters.RepresentativeRules`):
        ``cluster_id``, ``records`` and the table's columns."""
        rules = self.desk.settings().representatives
        return rules.apply(self.desk.project.left, self.table()["cluster_id"])

    def with_cluster_ids(self, chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """Chunks of the matched table (``left_id``, ``right_id``, …), each with the
        pair's ``cluster_id`` after ``right_id``."""
        table = self.table()
        of = pd.Series(table["cluster_id"].to_numpy(), index=table["record_id"].to_numpy())
        for chunk in chunks:
            found = of.reindex(chunk["left_id"].astype(str).to_numpy()).to_numpy()
            yield chunk.assign(cluster_id=found)[
                [*chunk.columns[:2], "cluster_id", *chunk.columns[2:]]
            ]

    def conflicts(self) -> list[ClusterConflict]:
        """Every pair of records said to be different that accepted pairs join."""
        ids = list(self.desk.project.queue)
        return self.desk.memo(
            "cluster-conflicts", lambda _ledger: cluster_conflicts(ids, self._state())
        )

    def conflict_rows(self) -> list[dict]:
        """A row per accepted pair in each conflict's chain, for a lead to pick one.

        Each row: ``key`` (unique), ``cluster_id``, ``conflict`` ("A ≠ C"), ``first``,
        ``second``, ``path`` ("A = B = C"), the accepted pair as recorded
        (``left_id`` accepted ``right_id``), ``left``, ``right`` (their values), ``by``
        (who accepted it) and ``different_by`` (who said the two are different).
        """
        state = self._state()
        same, _ = accepted_and_different(state)
        recorded = set(same)
        project = self.desk.project
        rows = []
        for c in self.conflicts():
            said = _saying_different(state, c.first, c.second)
            for x, y in zip(c.path, c.path[1:]):
                a, b = (x, y) if (x, y) in recorded else (y, x)
                d = state.decisions.get(a)
                rows.append(
                    {
                        "key": f"{c.first}\u241f{c.second}\u241f{a}\u241f{b}",
                        "cluster_id": f"C{c.cluster}",
                        "conflict": f"{c.first} ≠ {c.second}",
                        "first": c.first,
                        "second": c.second,
                        "path": " = ".join(c.path),
                        "left_id": a,
                        "right_id": b,
                        "left": record_summary(project, "left", a),
                        "right": record_summary(project, "left", b),
                        "by": d.reviewer if d is not None else "",
                        "different_by": ", ".join(sorted({s.reviewer for s in said})),
                    }
                )
        return rows

    def split(self, reviewer: str, left_id: object, right_id: object, *, role: str) -> Outcome:
        """A lead removes one accepted pair (``left_id`` accepted ``right_id``), which
        splits its cluster where the pair joined it (see
        :meth:`~matching.desk.Matches.unmatch`; Undo puts it back)."""
        try:
            require(role, "change_others")
        except PermissionDenied as exc:
            return Outcome.refused(str(exc).capitalize())
        return self.desk.matches.unmatch(reviewer, [(str(left_id), str(right_id))], role=role)

    def keep(
        self,
        reviewer: str,
        first: object,
        second: object,
        *,
        role: str,
        now: float | None = None,
    ) -> Outcome:
        """A lead keeps the cluster: ``first`` and ``second`` are the same after all.

        Each decision that said they differ (one showed the other as a candidate and
        did not take it) is replaced by one that accepts it too, in one batch that
        one Undo reverts. Refused when no decision says so any more, or when such a
        decision has changed since it was read.
        """
        try:
            require(role, "change_others")
        except PermissionDenied as exc:
            return Outcome.refused(str(exc).capitalize())
        now = _time.time() if now is None else now
        first, second = str(first), str(second)
        said = _saying_different(self._state(), first, second)
        if not said:
            return Outcome.refused(
                f"No decision says {first} and {second} differ any more (settled already?)"
            )
        project_id = self.desk.project_id

        def work(ledger: Ledger) -> str | list[Event]:
            batch = event_id(project_id, "same", first, second, ledger.last_seq)
            events = []
            for d in said:
                standing = ledger.decisions.get(d.left_id)
                if standing is None or standing.event_id != d.event_id:
                    return f"Record {d.left_id!r} was decided again meanwhile; look again"
                other = second if d.left_id == first else first
                events.append(
                    make_event(
                        "accept",
                        event_id=event_id(project_id, "same", d.left_id, other, d.event_id, batch),
                        reviewer=reviewer,
                        now=now,
                        left_id=d.left_id,
                        right_ids=[*d.right_ids, other],
                        scores=dict(d.scores),
                        edits=dict(d.edits),
                        thresholds=dict(d.thresholds),
                        replaces=d.event_id,
                        batch=batch,
                        reason=f"the same as {other}: cluster kept by a lead",
                    )
                )
            return events

        return self.desk.write_checked(work)

    def page(
        self,
        reviewer: str,
        *,
        role: str,
        action: str | None = None,
        link: Mapping | None = None,
        target: str | None = None,
        limit: int = MAX_LISTED,
    ) -> ClustersPage:
        """Do ``action`` (one of :data:`CLUSTER_ACTIONS`, or None) and describe the tab.

        ``link`` is the conflict row the lead selected (see :meth:`conflict_rows`):
        ``split`` removes its accepted pair, ``keep`` keeps its conflict's cluster.
        ``undo`` reverts the reviewer's latest event, ``target`` being what the page's
        Undo named (see :meth:`~matching.desk.ReviewDesk.undo`).
        """
        message = None
        if action in ("split", "keep") and not isinstance(link, Mapping):
            message = "Select an accepted pair of a conflict first."
        elif action == "split":
            outcome = self.split(reviewer, link.get("left_id"), link.get("right_id"), role=role)
            message = outcome.message or (
                f"Removed {link.get('left_id')} = {link.get('right_id')}; Undo puts it back."
            )
        elif action == "keep":
            outcome = self.keep(reviewer, link.get("first"), link.get("second"), role=role)
            message = outcome.message or (
                f"Kept: {link.get('first')} and {link.get('second')} are the same; Undo reverts it."
            )
        elif action == "undo":
            try:
                message = self.desk.undo(reviewer, role=role, target=target).message or "Undone."
            except PermissionDenied as exc:
                message = f"{str(exc).capitalize()}; nothing was recorded."
        table = self.table()
        rows, listed, clusters, clustered = self._rows(table, limit)
        ledger = self.desk.refresh()
        return ClustersPage(
            message=message,
            rows=rows,
            columns=[str(c) for c in self.desk.project.left.columns],
            clusters=clusters,
            clustered=clustered,
            listed=listed,
            conflicts=self.conflict_rows(),
            undo_target=ledger.undo_target(reviewer),
            version=ledger.last_seq,
        )

    def _rows(self, table: pd.DataFrame, limit: int) -> tuple[list[dict], int, int, int]:
        """The records of the largest ``limit`` clusters of two or more, and counts."""
        several = table[table["cluster_size"] > 1]
        number = several["cluster_id"].str[1:].astype(np.int64)
        order = np.lexsort((number.to_numpy(), -several["cluster_size"].to_numpy()))
        ranked = several.iloc[order]
        keys = list(dict.fromkeys(ranked["cluster_id"]))
        shown = set(keys[: max(0, limit)])
        ranked = ranked[ranked["cluster_id"].isin(shown)]
        band = {k: i % 2 for i, k in enumerate(keys[:limit])}
        frame = self.desk.project.left.iloc[ranked.index.to_numpy()].astype(object)
        values = frame.where(pd.notna(frame), None).to_dict("records")
        rows = [
            {
                "cluster_id": key,
                "cluster_size": int(size),
                "band": band[key],
                "record_id": record,
                **{str(c): None if v is None else str(v) for c, v in value.items()},
            }
            for key, size, record, value in zip(
                ranked["cluster_id"], ranked["cluster_size"], ranked["record_id"], values
            )
        ]
        return rows, len(shown), len(keys), len(several)


def _saying_different(state: ReviewState, first: str, second: str) -> list[Decision]:
    """The decisions in force that showed one of the two records the other and did not
    take it."""
    out = []
    for a, b in ((first, second), (second, first)):
        d = state.decisions.get(a)
        if d is not None and b in d.scores and b not in d.right_ids:
            out.append(d)
    return out
