"""The review desk's learning part: the project learns match weights from its reviewers'
decisions, scores its kept pairs again, and may serve the records it is least sure of first.

``desk.learning`` of a :class:`~matching.desk.ReviewDesk`. The labels are the decisions
reviewers made by hand: an accepted candidate is a match, and the record's other
candidates shown at the project's *keep* are non-matches (all of them for a record
decided "no match"). The weights are corrected from the project's own
(:func:`~matching.engine.weights.fit_labels` over the weights it was scored with, or
weights learned by EM for a project scored by the weighted mean), every kept pair is
scored again (:func:`~matching.engine.rescore.rescore`) into a new candidates file in
the project's folder, and the project's settings name that file and the model's
version in the desk's transaction: every process serving the project maps the new
file when it next reads the settings. Decided records keep their decisions; each
decision keeps the version of the model that scored its record.
"""

from __future__ import annotations

import dataclasses
import fcntl
import secrets
import time as _time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from matching.decisions.events import Event
from matching.decisions.ledger import Ledger
from matching.decisions.log import ProjectTransaction
from matching.decisions.roles import PermissionDenied, require
from matching.decisions.settings import ProjectSettings
from matching.desk.terms import Outcome
from matching.engine.candidates import plan
from matching.engine.project import Project, load_candidates, save_candidates
from matching.engine.rescore import (
    ScoreParts,
    best_select,
    cross_validated,
    informative_order,
    label_quality,
    rescore,
    score_parts,
)
from matching.engine.training import scores_with_standing, standing_from_pairs, train
from matching.engine.weights import PENALTIES, LearnedWeights, fit_labels, levels_for

if TYPE_CHECKING:
    from matching.desk.desk import ReviewDesk

__all__ = [
    "Learning",
    "Labels",
    "decision_labels",
    "model_of",
    "learning_summary",
    "rescored_project",
]

#: The reviewer named on what the project learns by itself (every N decisions).
MACHINE = "matchdesk"


@dataclasses.dataclass(frozen=True)
class Labels:
    """Labelled pairs from decisions: ``rows`` (positions in the project's candidates),
    ``label`` (1 match, 0 non-match) and ``left_ids``, with the count of ``decisions``."""

    rows: np.ndarray
    label: np.ndarray
    left_ids: np.ndarray
    decisions: int


def decision_labels(
    project: Project,
    ledger: Ledger,
    *,
    keep: float,
    events: Mapping[str, Event] | None = None,
) -> Labels:
    """The labelled pairs of the decisions reviewers made by hand (not bulk or automatic).

    For each record accepted or rejected by a reviewer: each accepted candidate is a
    match; the record's other candidates shown with the decision are non-matches.
    Shown means scoring at least the decision's own *keep* by the scores it kept
    (``events``: the decisions' events by id), or, for a decision without them, at
    least ``keep`` now. Skipped and undecided records say nothing.
    """
    events = events or {}
    decided = np.flatnonzero((ledger.status > 0) & ~ledger.automatic)
    rows, labels, lefts = [], [], []
    scores = project.candidates["score"].to_numpy(np.float64)
    rights = project.candidates["right_id"]
    count = 0
    for pos in decided.tolist():
        left_id = project.queue[pos]
        standing = ledger.decisions.get(left_id)
        if standing is None or standing.automatic:
            continue
        a, b = project.slices.get(left_id, (0, 0))
        if b <= a:
            continue
        count += 1
        accepted = set(standing.right_ids) if standing.status == "accepted" else set()
        event = events.get(standing.event_id)
        shown = None
        if event is not None and event.scores:
            floor = float(event.thresholds.get("keep", keep))
            shown = {str(r) for r, s in event.scores.items() if s >= floor}
        ids = rights.iloc[a:b].astype(str).tolist()
        for i, rid in enumerate(ids):
            match = rid in accepted
            seen = rid in shown if shown is not None else scores[a + i] >= keep
            if match or seen:
                rows.append(a + i)
                labels.append(1 if match else 0)
                lefts.append(left_id)
    return Labels(
        rows=np.asarray(rows, np.int64),
        label=np.asarray(labels, np.int64),
        left_ids=np.asarray(lefts, dtype=object),
        decisions=count,
    )


def model_of(project: Project, settings: ProjectSettings) -> LearnedWeights | None:
    """The weights that scored the project's candidates now: the latest learned from its
    decisions, else those it was made with (None: scored by the weighted mean)."""
    if settings.model:
        try:
            return LearnedWeights.from_dict(dict(settings.model))
        except (KeyError, TypeError, ValueError):
            return project.spec.learned
    return project.spec.learned


def _share(value: object) -> str:
    return "unknown" if value is None else f"{100 * float(value):.0f}%"


def learning_summary(settings: ProjectSettings) -> str | None:
    """What the latest learning said, for the Tuning tab; None when it never learned."""
    learned = settings.learned
    if not settings.model_version or not learned:
        return None
    precision = learned.get("precision") or [None, None]
    recall = learned.get("recall") or [None, None]
    when = _time.strftime("%Y-%m-%d %H:%M UTC", _time.gmtime(float(learned.get("time", 0))))
    return (
        f"Learned from {int(learned.get('decisions', 0)):,} decisions"
        f" ({int(learned.get('labels', 0)):,} labelled pairs; model {settings.model_version},"
        f" by {learned.get('reviewer', MACHINE)} on {when}). Estimated on the decided"
        f" records, each measured by a model that did not learn from it: precision"
        f" {_share(precision[0])} → {_share(precision[1])}, recall {_share(recall[0])} →"
        f" {_share(recall[1])} at the pre-selection threshold."
        + _suggestion(learned.get("suggested"))
    )


def _suggestion(suggested: object) -> str:
    """What pre-selecting from another threshold would give, when learning found one better."""
    if not isinstance(suggested, list) or len(suggested) != 3:
        return ""
    at, precision, recall = suggested
    return (
        f" Pre-selecting from {float(at):.2f} would give precision {_share(precision)} and"
        f" recall {_share(recall)} (set it on the sliders above)."
    )


class Learning:
    """Learning from decisions for one :class:`~matching.desk.ReviewDesk` (``desk.learning``)."""

    def __init__(self, desk: ReviewDesk) -> None:
        self.desk = desk
        self._order: tuple[object, np.ndarray] | None = None
        #: Decisions counted when learning by itself was last refused (too few labels).
        self._refused: int | None = None

    def summary(self) -> str:
        """What the project learned last, or how it scores while it has not learned."""
        settings = self.desk.settings()
        said = learning_summary(settings)
        if said is not None:
            return said
        how = (
            "weights learned from the tables"
            if self.desk.project.spec.learned is not None
            else "the weighted mean of the fields' similarities"
        )
        return f"Not learned from decisions yet: pairs are scored by {how}."

    # -- why this score ------------------------------------------------------

    def why(self, left_id: object, right_id: object) -> ScoreParts | None:
        """Why the candidate ``right_id`` of record ``left_id`` scored as it did; None
        when it is not one of the record's candidates, or while the record waits for an
        auditor's blind answer (whatever the page says of its own mode)."""
        project = self.desk.project
        if not isinstance(left_id, str) or not isinstance(right_id, str):
            return None
        if self.awaits_blind_answer(left_id):
            return None
        rows = project.candidate_rows(left_id)
        at = np.flatnonzero(rows["right_id"].astype(str).to_numpy() == right_id)
        if not len(at):
            return None
        weights = model_of(project, self.desk.settings())
        # All of the record's pairs: a learned standing is against its best.
        return score_parts(rows, project.spec, weights)[int(at[0])]

    def awaits_blind_answer(self, left_id: str) -> bool:
        """True while ``left_id`` is drawn in an audit or for double review and has no
        answer there yet: nothing of the machine's opinion is shown for it."""
        ledger = self.desk.refresh()
        return any(
            left_id in audit.sample and left_id not in ledger.verdicts.get(audit_id, {})
            for audit_id, audit in ledger.audits.items()
        )

    def annotate(self, left_id: str, rows: list[dict], settings: ProjectSettings) -> None:
        """Add to each of a record view's candidate rows ``_why``: why it scored as it did,
        in one line (shown on hovering its score)."""
        project = self.desk.project
        cands = project.candidate_rows(left_id)
        if not rows or not len(cands):
            return
        parts = score_parts(cands, project.spec, model_of(project, settings))
        by_right = dict(zip(cands["right_id"].astype(str), parts))
        for row in rows:
            found = by_right.get(str(row.get("_right_id")))
            if found is not None:
                row["_why"] = found.text()

    def with_weights(self, chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """Chunks of the matched table with ``weight_<field>`` after ``score``: each
        accepted pair's match weight per field in bits, by the model that scores the
        project now; the chunks unchanged when the project has no learned weights."""
        project = self.desk.project
        weights = model_of(project, self.desk.settings())
        if weights is None:
            yield from chunks
            return
        names = [f"weight_{n}" for n in weights.fields]
        for chunk in chunks:
            spans = [project.slices.get(str(left), (0, 0)) for left in chunk["left_id"].unique()]
            rows = np.concatenate([np.arange(a, b) for a, b in spans] or [np.empty(0, np.int64)])
            found = project.candidates.iloc[rows]
            if all(n in found.columns for n in names):
                bits = found[names].reset_index(drop=True)
            else:
                fields = [found[f"score_{n}"].to_numpy(np.float64) for n in weights.fields]
                bits = pd.DataFrame(dict(zip(names, weights.contributions(fields))))
            bits.insert(0, "left_id", found["left_id"].astype(str).to_numpy())
            bits.insert(1, "right_id", found["right_id"].astype(str).to_numpy())
            keys = chunk[["left_id", "right_id"]].astype(str)
            joined = keys.merge(bits, on=["left_id", "right_id"], how="left")
            out = chunk.copy()
            at = list(out.columns).index("score") + 1
            for k, name in enumerate(names):
                out.insert(at + k, name, joined[name].to_numpy(np.float64))
            yield out

    # -- the queue -----------------------------------------------------------

    def order(self, settings: ProjectSettings) -> np.ndarray:
        """Queue positions, most informative first (see
        :func:`~matching.engine.rescore.informative_order`), kept per candidates."""
        project = self.desk.project
        key = (id(project.candidates), project.model_version)
        held = self._order
        if held is not None and held[0] == key:
            return held[1]
        record_of = project.pair_left
        if record_of is None:
            record_of = project.left_pos.positions(pa.array(project.candidates["left_id"]))
        order = informative_order(
            project.candidates,
            np.asarray(record_of, np.int64),
            len(project.queue),
            weights=model_of(project, settings),
            select=self.desk.thresholds(settings)["select"],
        )
        self._order = (key, order)
        return order

    def next_open(
        self, ledger: Ledger, held: set[int], settings: ProjectSettings, *, restart: bool
    ) -> int | None:
        """The most informative open record (undecided and, unless ``restart``, not
        skipped) that no other reviewer holds; None when there is none."""
        order = self.order(settings)
        mask = ledger.undecided if restart else ledger.waiting
        asks = self.desk.asks()
        if asks is not None:
            mask = mask & asks
        for pos in order[mask[order]].tolist():
            if pos not in held:
                return int(pos)
        return None

    # -- learning ------------------------------------------------------------

    def set_learning(self, every: object, order: object, *, role: str) -> Outcome:
        """Learn again every ``every`` decisions (0: only when a lead asks) and serve
        records in ``order`` ("table" or "informative")."""
        return self.desk.choices.set_learning(every, order, role=role)

    def relearn(self, reviewer: str, *, role: str, now: float | None = None) -> Outcome:
        """Learn from the decisions now, as a lead asked; the message says what changed."""
        try:
            require(role, "change_settings")
        except PermissionDenied as exc:
            return Outcome(False, f"Not learned: {exc}.")
        return self._learn(reviewer, now=now)

    def relearn_if_due(self, *, now: float | None = None) -> Outcome | None:
        """Learn again when the project asks for it every N decisions and N decisions
        were made since it last learned; None when it is not due. One process learns
        at a time (a lock file in the project's folder); the others find it done."""
        settings = self.desk.settings()
        if not settings.learn_every or settings.tables is None:
            return None
        if not self._due(settings):
            return None
        folder = Path(settings.tables)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".learning.lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None  # another process is learning
            try:
                if not self._due(self.desk.settings()):
                    return None
                outcome = self._learn(MACHINE, now=now)
                if not outcome.ok:
                    self._refused = self.desk.refresh().counts()["decided"]
                return outcome
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _due(self, settings: ProjectSettings) -> bool:
        decided = self.desk.refresh().counts()["decided"]
        since = int(settings.learned.get("decided", 0))
        if self._refused is not None and decided - self._refused < settings.learn_every:
            since = max(since, self._refused)  # refused: not again before N more decisions
        return decided - since >= settings.learn_every

    def _learn(self, reviewer: str, *, now: float | None) -> Outcome:
        desk = self.desk
        now = _time.time() if now is None else now
        ledger = desk.refresh()
        settings = desk.settings()
        project = desk.project
        th = desk.thresholds(settings)
        manual = np.flatnonzero((ledger.status > 0) & ~ledger.automatic)
        made = [ledger.decisions.get(project.queue[p]) for p in manual.tolist()]
        events = desk.log.events_by_id(desk.project_id, [d.event_id for d in made if d])
        labels = decision_labels(project, ledger, keep=th["keep"], events=events)
        if not labels.label.any() or labels.label.all():
            return Outcome(
                False,
                "Not learned: the decisions made by hand so far give"
                f" {int(labels.label.sum()):,} matching and"
                f" {int((labels.label == 0).sum()):,} non-matching pairs; learning needs"
                " at least one of each. Decide a few more records and ask again.",
            )
        if settings.tables is None:
            return Outcome(False, "Not learned: the project does not say where its tables are.")
        fields, shares, base = self._compared(project, settings)
        y = labels.label
        lf = [f[labels.rows] for f in fields]
        ls = [s[labels.rows] for s in shares]
        # Every pair of the labelled records: a standing is learned against their best.
        mine = _record_pairs(project, labels)
        mf, ms = [f[mine] for f in fields], [s[mine] for s in shares]
        groups = _groups_of(project.candidates["left_id"].iloc[mine])
        at = np.searchsorted(mine, labels.rows)
        stands = not project.spec.one_table

        def fitted(train: np.ndarray, penalty: float | None = None) -> LearnedWeights:
            return fit_labels(
                base,
                [f[train] for f in lf],
                y[train],
                shares=[s[train] for s in ls],
                penalty=penalty,
            )

        # The penalty is chosen on all the labels (by fit_labels' own cross-validation),
        # and the estimate refits with it on each fold: one fit a fold, not a search.
        model = fitted(np.ones(len(y), bool))
        if model is base and not any(base.bits(f).any() for f in range(len(base.fields))):
            return Outcome(
                False,
                f"Not learned: {len(y):,} labelled pairs from {labels.decisions:,} decisions"
                " are too few to learn weights from, and the tables too few or too unlike"
                " to learn them from alone. Decide more records and ask again.",
            )
        penalty = _penalty_of(model, lambda p: fitted(np.ones(len(y), bool), p))

        def fit_and_score(train: np.ndarray, test: np.ndarray) -> np.ndarray:
            chosen = base if penalty is None else fitted(train, penalty)
            if stands:
                chosen = standing_from_pairs(chosen, mf, ms, groups, at[train], y[train])
            return scores_with_standing(chosen, mf, ms, groups, at[test])

        held_out = cross_validated(labels.left_ids, y, fit_and_score)
        if stands:
            model = standing_from_pairs(model, mf, ms, groups, at, y)
        scores = project.candidates["score"].to_numpy(np.float64)[labels.rows]
        before = label_quality(scores, y, th["select"])
        after = label_quality(held_out, y, th["select"])
        suggested = best_select(held_out, y)
        frame = rescore(project.candidates, model, fields, shares)
        name = f"candidates-{secrets.token_hex(8)}.arrow"
        folder = Path(settings.tables)
        save_candidates(frame, folder, name=name)
        report = {
            "decisions": labels.decisions,
            "labels": len(y),
            "decided": ledger.counts()["decided"],
            "precision": [before.precision, after.precision],
            "recall": [before.recall, after.recall],
            "reviewer": reviewer,
            "time": now,
        }
        if suggested is not None and suggested[0] != th["select"]:
            at, quality = suggested
            report["suggested"] = [at, quality.precision, quality.recall]

        def work(tx: ProjectTransaction, _ledger: Ledger) -> ProjectSettings:
            old = tx.settings
            new = dataclasses.replace(
                old,
                model_version=old.model_version + 1,
                model_file=name,
                model=model.to_dict(),
                learned=report,
            )
            tx.save_settings(new)
            return new

        saved = desk.transaction(work)
        previous = settings.model_file
        if previous and previous != name:
            (folder / previous).unlink(missing_ok=True)  # mapped files stay readable
        desk.use(rescored_project(project, saved))
        return Outcome(
            True,
            f"Learned from {labels.decisions:,} decisions: the undecided records are ranked"
            f" and pre-selected by model {saved.model_version} now.",
        )

    def _compared(self, project: Project, settings: ProjectSettings):
        """Per field the similarities and value shares of every kept pair, and the
        weights to correct with labels (the project's own, without earlier corrections;
        learned by EM for a project scored by the weighted mean)."""
        spec = project.spec
        job, _ = plan(project.left, project.right, dataclasses.replace(spec, block=()))
        li = project.pair_left
        if li is None:
            li = project.left_pos.positions(pa.array(project.candidates["left_id"]))
        ri = project.right_pos.positions(pa.array(project.candidates["right_id"].astype(str)))
        fields, shares = job.compare(np.asarray(li, np.int64), np.asarray(ri, np.int64))
        shares = [np.full(len(ri), np.nan) if s is None else s for s in shares]
        if spec.learned is not None:
            base = spec.learned
        elif settings.model:
            base = dataclasses.replace(model_of(project, settings), adjust=())
        else:
            trained_on, _ = plan(project.left, project.right, spec)
            try:
                base = train(trained_on)
            except ValueError:  # tables too small or too unlike for EM: labels alone
                base = _neutral(spec)
        return fields, shares, base


def _record_pairs(project: Project, labels: Labels) -> np.ndarray:
    """Positions (ascending) of every candidate pair of the labelled records."""
    spans = [project.slices.get(i, (0, 0)) for i in dict.fromkeys(labels.left_ids.tolist())]
    if not spans:
        return np.empty(0, np.int64)
    return np.unique(np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in spans]))


def _groups_of(left_ids: pd.Series) -> np.ndarray:
    """Each pair's left record as a number."""
    return pd.factorize(left_ids.astype(str))[0]


def _neutral(spec) -> LearnedWeights:
    """Weights that say nothing (every level 0 bits): the start when EM cannot learn."""
    bounds = [levels_for(f.scorer) for f in spec.fields]
    flat = tuple(tuple(1.0 / (len(b) + 2) for _ in range(len(b) + 2)) for b in bounds)
    return LearnedWeights(
        tuple(f.name for f in spec.fields), m=flat, u=flat, prior=0.5, bounds=tuple(bounds)
    )


def _corrections(model: LearnedWeights) -> tuple:
    """What labels changed in ``model``: its level corrections and similarity slopes."""
    return model.adjust, model.slope


def _penalty_of(model: LearnedWeights, fit: Callable[[float], LearnedWeights]) -> float | None:
    """The penalty among :data:`~matching.engine.weights.PENALTIES` that gave ``model``
    (None: the labels left the weights as they were)."""
    for penalty in PENALTIES:
        if penalty is not None and _corrections(fit(penalty)) == _corrections(model):
            return penalty
    return None


def rescored_project(project: Project, settings: ProjectSettings) -> Project:
    """``project`` with the candidates its settings' latest model scored (the same when
    they are already those); ``ValueError`` when their file is gone."""
    if settings.model_version == project.model_version:
        return project
    if not settings.model_file or settings.tables is None:
        return project
    frame = load_candidates(Path(settings.tables), name=settings.model_file)
    if frame is None:
        raise ValueError(
            f"the candidates of the project's model {settings.model_version} are missing"
            " from its folder; learn from the decisions again"
        )
    for column in ("left_id", "right_id"):
        if not isinstance(frame[column].dtype, pd.StringDtype):
            frame[column] = frame[column].astype(str)
    return dataclasses.replace(project, candidates=frame, model_version=settings.model_version)
