"""The Data panel's set-up form read as a Spec, and the learned weights it holds between
Learn weights and Run, with the fields they were learned for.

:func:`spec_from_rows` reads the form's field rows; :class:`LearnedForFields` keeps
weights with each field's columns, scorer and cleaning (:func:`field_signature`), so
weights learned before a field's scorer or cleaning changed are not used for the new
field: its levels and values would mean something else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matching.engine.spec import Field, Spec, cleaning_text, parse_cleaning, parse_rules
from matching.engine.weights import LearnedWeights

__all__ = ["field_signature", "LearnedForFields", "spec_from_rows"]


def field_signature(field: Field) -> str:
    """What learned weights depend on in a field: its columns, scorer and cleaning (not its
    weight in the mean).

    >>> field_signature(Field("year", scorer="exact"))
    'year=year:exact|text'
    """
    return f"{field.left}={field.right}:{field.scorer}|{cleaning_text(field.normalization)}"


@dataclass(frozen=True)
class LearnedForFields:
    """Learned weights and the fields they were learned for (:func:`field_signature`)."""

    weights: LearnedWeights
    fields: tuple[str, ...]

    @classmethod
    def of(cls, weights: LearnedWeights, fields: Sequence[Field]) -> LearnedForFields:
        return cls(weights, tuple(field_signature(f) for f in fields))

    def fits(self, fields: Sequence[Field]) -> bool:
        """Whether these are the fields the weights were learned for."""
        return self.fields == tuple(field_signature(f) for f in fields)

    def to_dict(self) -> dict:
        return {"weights": self.weights.to_dict(), "fields": list(self.fields)}

    @classmethod
    def from_dict(cls, data: object) -> LearnedForFields:
        """Read :meth:`to_dict`'s dict back; ``ValueError`` when it is not one (a forged
        or stale page)."""
        unreadable = ValueError("the learned weights cannot be read: use Learn weights again")
        if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
            raise unreadable
        try:
            weights = LearnedWeights.from_dict(data["weights"])
        except (KeyError, TypeError, ValueError):
            raise unreadable from None
        return cls(weights, tuple(map(str, data["fields"])))


def spec_from_rows(
    lefts,
    rights,
    scorers,
    weights,
    cleanings,
    left_id,
    right_id,
    rules_text=None,
    learned=None,
    *,
    one_table: bool = False,
) -> Spec:
    """The Spec of a set-up form's field rows (the Data panel's); rows without a left
    column are ignored. ``rules_text`` holds blocking rules, one per line.

    ``lefts``, ``rights``, ``scorers``, ``weights`` and ``cleanings`` are lists of the
    same length, one item a row; a cleaning is a name in :data:`CLEANINGS` or a
    :func:`cleaning_text` (None: ``text``). ``ValueError`` says what is wrong.
    ``learned`` (a :class:`LearnedForFields` dict) is used when it was learned for the
    same fields: the same columns, scorers and cleanings (the weights may differ).
    ``one_table``: one table compared with itself (see :class:`Spec`): each field and
    the ID compare a column with itself, whatever ``rights`` and ``right_id`` say.
    """
    rows = (lefts, rights, scorers, weights, cleanings)
    if not all(isinstance(r, (list, tuple)) for r in rows) or len({len(r) for r in rows}) > 1:
        raise ValueError(
            "the field rows do not line up: each row has a left column, a right column,"
            " a scorer, a weight and a cleaning"
        )
    fields = []
    for left, right, scorer, weight, cleaning in zip(*rows):
        if not left:
            continue
        if weight is None or float(weight) <= 0:
            raise ValueError(f"field {left!r}: the weight must be a number above 0")
        try:
            normalization = parse_cleaning("text" if cleaning is None else cleaning)
        except ValueError as exc:
            raise ValueError(f"field {left!r}: {exc}") from None
        right = left if one_table else right
        fields.append(
            Field(
                left=left,
                right=right or left,
                scorer=scorer or "qratio",
                weight=float(weight),
                normalization=normalization,
            )
        )
    rules = parse_rules(rules_text)
    weights_for = None
    if learned:
        held = LearnedForFields.from_dict(learned)
        weights_for = held.weights if held.fits(fields) else None
    return Spec(
        fields=tuple(fields),
        left_id=left_id or None,
        right_id=(left_id if one_table else right_id) or None,
        block=rules,
        learned=weights_for,
        one_table=one_table,
    )
