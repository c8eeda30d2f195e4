"""A project's settings, typed: what it was scored with and what its leads chose since.

:class:`ProjectSettings` is what the decision log keeps beside a project's events:
the floor its candidates were scored from, the thresholds reviewers see pairs
with, how records may pair, the reasons reviewers pick from, notes on re-run
records and where its tables came from. The log stores it as JSON in the
project's row (:meth:`ProjectSettings.to_dict`, :meth:`ProjectSettings.from_dict`),
reads it once per change and writes every change inside the project's
transaction, the one decisions are written in, so two leads changing different
settings at once both keep their change.

Two thresholds that were once one ``keep``: the **floor** is fixed when the
project is scored (pairs scoring under it were never kept, and it is part of the
project's id); **show_from** is where reviewers start seeing pairs, moved on the
Tuning tab, never below the floor.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from matching.decisions.clusters import RepresentativeRules
from matching.decisions.events import DEFAULT_REASONS
from matching.engine.safety import threshold_problem
from matching.engine.spec import Spec

__all__ = [
    "ProjectSettings",
    "CARDINALITIES",
    "DEFAULT_CARDINALITY",
    "MAX_REASONS",
    "MAX_REASON_CHARS",
    "clean_reasons",
    "QUEUE_ORDERS",
    "MAX_LEARN_EVERY",
]

#: How records may pair: (each left matched to at most one right, each right at most once).
CARDINALITIES = {
    "one-to-one": (True, True),
    "many-to-one": (False, True),
    "one-to-many": (True, False),
    "many-to-many": (False, False),
}

#: Each right record at most once, a left record any number of times: the tutorial's
#: cars each have one owner, and an owner may have several cars.
DEFAULT_CARDINALITY = "many-to-one"

#: Reviewers pick a reason with the keys 1 to 9.
MAX_REASONS = 9

#: The longest reason a lead may give (a reason is a label, a comment says more).
MAX_REASON_CHARS = 60

#: The orders reviewers are served records in: the left table's, or the records whose
#: candidates the project's model is least sure of first (spread over kinds of pair).
QUEUE_ORDERS = ("table", "informative")

#: The most decisions a lead may let pass between two automatic re-learnings.
MAX_LEARN_EVERY = 1_000_000

# What a reason is kept as with a comment: "reason — comment" (see reason_text).
_SEPARATOR = "—"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _count(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 1 and number == int(number) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _known(cardinality: object) -> bool:
    return isinstance(cardinality, str) and cardinality in CARDINALITIES


def _spec(value: object) -> Spec | None:
    if not isinstance(value, Mapping) or "fields" not in value:
        return None
    try:
        return Spec.from_dict(dict(value))
    except (KeyError, TypeError, ValueError):
        return None


def _dict(value: object) -> dict:
    return dict(value) if isinstance(value, Mapping) else {}


def clean_reasons(reasons: Iterable[object]) -> tuple[str, ...]:
    """A lead's reason list, checked: stripped, blank lines dropped.

    Returns the reasons in order; ``ValueError`` names what is wrong (too many,
    too long, a repeat, the separator kept between a reason and a comment).
    An empty list is allowed: the project then offers the default reasons.

    >>> clean_reasons([" twins ", "", "moved"])
    ('twins', 'moved')
    >>> clean_reasons(["twins", "Twins"])
    Traceback (most recent call last):
    ...
    ValueError: "Twins" is in the list twice
    """
    out: list[str] = []
    seen: set[str] = set()
    for value in reasons:
        if not isinstance(value, str):
            raise ValueError(f"a reason is text, not {value!r}")
        reason = " ".join(value.split())
        if not reason:
            continue
        if len(reason) > MAX_REASON_CHARS:
            raise ValueError(
                f'"{reason[:20]}…" is longer than {MAX_REASON_CHARS} characters;'
                " a reason is a short label (a comment can say more)"
            )
        if _SEPARATOR in reason:
            raise ValueError(f'"{reason}" holds "{_SEPARATOR}", which starts a comment')
        if not reason.isprintable():
            shown = reason.encode("unicode_escape").decode("ascii")
            raise ValueError(f'"{shown}" holds a control character; a reason is plain text')
        if reason.casefold() in seen:
            raise ValueError(f'"{reason}" is in the list twice')
        seen.add(reason.casefold())
        out.append(reason)
    if len(out) > MAX_REASONS:
        raise ValueError(
            f"{len(out)} reasons is more than {MAX_REASONS}: reviewers pick them with the"
            f" keys 1 to {MAX_REASONS}"
        )
    return tuple(out)


@dataclass(frozen=True)
class ProjectSettings:
    """A project's settings as the decision log keeps them.

    Parameters
    ----------
    floor : float or None
        Pairs scoring under it were never kept: fixed when the project is scored
        and part of its id. None when the log does not know it (a project recorded
        by an earlier version, or without settings): ``show_from`` may then be
        anything in [0, 1].
    show_from : float or None
        Reviewers see pairs scoring at least this; at or above ``floor``. None:
        from the floor.
    select : float or None
        Pairs scoring at least this are pre-selected. None: the project's own.
    cardinality : str
        How records may pair, one of :data:`CARDINALITIES`.
    reasons : tuple of str
        The reasons reviewers pick from (keys 1 to 9).
    notes : mapping
        A note per left id, shown with its record (records changed since they
        were decided, after a re-run).
    spec : Spec or None
        What the project compares; None for a project recorded without one.
    tables : str or None
        The folder its tables and candidates are kept in.
    sources : mapping
        Where the tables came from (file names, upload ids), JSON-safe.
    left_rows, right_rows : int
        The tables' sizes.
    columns : tuple of two tuples of str, or None
        The tables' column names; None when not recorded.
    version : int or None
        Which version of its name this project is (1 for the first project of a
        name, 2 for the next run under that name...); None for a project recorded
        before projects had versions (see :mod:`matching.decisions.versions`).
    version_of : str or None
        The project this one is a re-run of.
    carried : mapping
        What a re-run took over from ``version_of``: counts by kind.
    representatives : RepresentativeRules
        For one table's clusters: how a lead builds each cluster's representative record.
    model_version : int
        How many times the project learned from its decisions (0: it is scored as
        it was made). Kept with each decision as its ``model`` threshold.
    model_file : str or None
        The candidates file in ``tables`` scored by that model (None: the first).
    model : mapping
        The weights of that model (a ``LearnedWeights`` dict), empty for none.
    learned : mapping
        What the latest learning said: ``decisions``, ``labels``, ``precision`` and
        ``recall`` (each ``[before, after]``), ``reviewer``, ``time``.
    learn_every : int
        Learn again after this many new decisions (0: only when a lead asks).
    queue_order : str
        One of :data:`QUEUE_ORDERS`.
    """

    floor: float | None = None
    show_from: float | None = None
    select: float | None = None
    cardinality: str = DEFAULT_CARDINALITY
    reasons: tuple[str, ...] = DEFAULT_REASONS
    notes: Mapping[str, str] = field(default_factory=dict, repr=False)
    spec: Spec | None = None
    tables: str | None = None
    sources: Mapping[str, Any] = field(default_factory=dict)
    left_rows: int = 0
    right_rows: int = 0
    columns: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    version: int | None = None
    version_of: str | None = None
    carried: Mapping[str, int] = field(default_factory=dict)
    representatives: RepresentativeRules = field(default_factory=RepresentativeRules)
    model_version: int = 0
    model_file: str | None = None
    model: Mapping[str, Any] = field(default_factory=dict, repr=False)
    learned: Mapping[str, Any] = field(default_factory=dict)
    learn_every: int = 0
    queue_order: str = "table"

    def to_dict(self) -> dict:
        """JSON-safe; :meth:`from_dict` reverses it. Unset values are left out, and so
        are the default reasons (a project keeps offering the defaults of its version)."""
        out: dict[str, Any] = {
            "floor": self.floor,
            "show_from": self.show_from,
            "select": self.select,
            "cardinality": self.cardinality,
            "reasons": list(self.reasons) if self.reasons != DEFAULT_REASONS else None,
            "notes": dict(self.notes),
            "spec": self.spec.to_dict() if self.spec is not None else None,
            "tables": self.tables,
            "sources": dict(self.sources),
            "left_rows": self.left_rows,
            "right_rows": self.right_rows,
            "columns": [list(c) for c in self.columns] if self.columns is not None else None,
            "version": self.version,
            "version_of": self.version_of,
            "carried": dict(self.carried),
            "representatives": self.representatives.to_dict(),
            "model_version": self.model_version or None,
            "model_file": self.model_file,
            "model": dict(self.model),
            "learned": dict(self.learned),
            "learn_every": self.learn_every or None,
            "queue_order": self.queue_order if self.queue_order != "table" else None,
        }
        return {k: v for k, v in out.items() if v is not None and v != {}}

    @classmethod
    def from_dict(cls, data: object) -> ProjectSettings:
        """Read :meth:`to_dict`'s layout, and the loose one of earlier versions.

        Earlier versions kept one ``keep`` for both thresholds, which the Tuning
        tab overwrote, and the re-run notes as ``changed``: their ``keep`` is read as
        ``show_from``, and the floor as unknown. A value of the wrong type is read as
        unset (the log is written by matchdesk alone; a project must still open).
        ``ValueError`` when ``data`` is not a dict.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a project's settings are a JSON object, not {type(data).__name__}")
        show_from = _number(data.get("show_from"))
        if "show_from" not in data:
            show_from = _number(data.get("keep"))
        cardinality = data.get("cardinality")
        reasons = data.get("reasons")
        try:
            reasons = clean_reasons(reasons) if isinstance(reasons, list) else ()
        except ValueError:
            reasons = ()
        notes = data.get("notes", data.get("changed"))
        order = data.get("queue_order")
        columns = data.get("columns")
        good_columns = (
            isinstance(columns, list)
            and len(columns) == 2
            and all(isinstance(c, list) for c in columns)
        )
        return cls(
            floor=_number(data.get("floor")),
            show_from=show_from,
            select=_number(data.get("select")),
            cardinality=cardinality if _known(cardinality) else DEFAULT_CARDINALITY,
            reasons=reasons or DEFAULT_REASONS,
            notes={str(k): str(v) for k, v in _dict(notes).items()},
            spec=_spec(data.get("spec")),
            tables=_text(data.get("tables")),
            sources=_dict(data.get("sources")),
            left_rows=int(_number(data.get("left_rows")) or 0),
            right_rows=int(_number(data.get("right_rows")) or 0),
            columns=tuple(tuple(map(str, c)) for c in columns) if good_columns else None,
            version=_count(data.get("version")),
            version_of=_text(data.get("version_of")),
            carried=_dict(data.get("carried")),
            representatives=RepresentativeRules.from_dict(data.get("representatives")),
            model_version=max(0, int(_number(data.get("model_version")) or 0)),
            model_file=_text(data.get("model_file")),
            model=_dict(data.get("model")),
            learned=_dict(data.get("learned")),
            learn_every=max(0, int(_number(data.get("learn_every")) or 0)),
            queue_order=order if order in QUEUE_ORDERS else "table",
        )

    def thresholds(self, *, floor: float, select: float) -> dict[str, float]:
        """``{"keep", "select"}`` reviewers see pairs with now; ``floor`` and ``select``
        stand in for values the settings do not hold (the project's own)."""
        return {
            "keep": self.show_from if self.show_from is not None else floor,
            "select": self.select if self.select is not None else select,
        }

    @property
    def keep_floor(self) -> float | None:
        """The lowest ``show_from`` has a pair to show from: the floor, until the project
        learned from its decisions (then every kept pair was scored again, some under
        the floor, so there is none)."""
        return None if self.model_version else self.floor

    def with_thresholds(self, *, show_from: object, select: object) -> ProjectSettings:
        """These settings with reviewers seeing pairs from ``show_from`` and pre-selecting
        from ``select``.

        ``ValueError`` says, in words for the page (where ``show_from`` is the
        *keep* slider), what is wrong: a value that is not a number in [0, 1],
        ``show_from`` above ``select``, or ``show_from`` below the floor (no pair
        under it was kept, so none could be shown).
        """
        problem = threshold_problem(keep=show_from, select=select)
        if problem:
            raise ValueError(problem)
        low, high = float(show_from), float(select)
        if self.keep_floor is not None and low < self.keep_floor - 1e-9:
            raise ValueError(
                f"keep cannot go below {self.floor:.2f}: this project was scored from"
                f" {self.floor:.2f}, so no pair scoring less was kept and reviewers could not"
                f" be shown one. Run the project again with a lower keep to see them"
            )
        return dataclasses.replace(self, show_from=low, select=high)

    def with_cardinality(self, cardinality: object) -> ProjectSettings:
        """These settings with records pairing as ``cardinality``; ``ValueError`` when
        it is not one of :data:`CARDINALITIES`."""
        if not _known(cardinality):
            raise ValueError(f"{cardinality!r} is not one of {', '.join(CARDINALITIES)}")
        return dataclasses.replace(self, cardinality=str(cardinality))

    def with_reasons(self, reasons: Iterable[object]) -> ProjectSettings:
        """These settings with reviewers picking from ``reasons`` (see
        :func:`clean_reasons`); an empty list brings back the default reasons."""
        return dataclasses.replace(self, reasons=clean_reasons(reasons) or DEFAULT_REASONS)

    def with_learning(self, *, every: object, order: object) -> ProjectSettings:
        """These settings learning again every ``every`` decisions (0: only when a lead
        asks) and serving records in ``order`` (one of :data:`QUEUE_ORDERS`).

        ``ValueError`` says what is wrong with either, in words for the page.
        """
        if isinstance(every, bool) or not isinstance(every, (int, float)):
            raise ValueError("'learn again every' is a whole number of decisions (0: never)")
        if not 0 <= every <= MAX_LEARN_EVERY or every != int(every):
            raise ValueError(
                f"'learn again every' is a whole number of decisions from 0 to {MAX_LEARN_EVERY:,}"
            )
        if order not in QUEUE_ORDERS:
            raise ValueError(f"the queue order is one of {', '.join(QUEUE_ORDERS)}, not {order!r}")
        return dataclasses.replace(self, learn_every=int(every), queue_order=str(order))

    def reason_text(self, reason: object, comment: object) -> str | None:
        """What is kept with a decision: ``"reason — comment"``, either part alone, or None.

        A reason the project does not offer is dropped (a page sent it); a comment
        is cut to 500 characters.

        >>> settings = ProjectSettings(reasons=("twins",))
        >>> settings.reason_text("twins", " born 1990 "), settings.reason_text("moved", "")
        ('twins — born 1990', None)
        """
        chosen = reason if isinstance(reason, str) and reason in self.reasons else ""
        note = comment.strip()[:500] if isinstance(comment, str) else ""
        if chosen and note:
            return f"{chosen} {_SEPARATOR} {note}"
        if note:
            return f"{_SEPARATOR} {note}"
        return chosen or None
