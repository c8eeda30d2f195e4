"""Column names typed by a person, found among a table's columns after trimming and case folding.

The command line takes ``--field surname`` for a column headed ``" Surname "``, as
the proposal pairs columns whatever their case and padding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from matching.engine.spec import Block, Key, Spec

__all__ = ["find_column", "spec_for_columns"]


def _folded(name: object) -> str:
    return str(name).strip().casefold()


def find_column(name: str | None, columns: Sequence[object], *, side: str = "") -> str | None:
    """The column of ``columns`` that ``name`` means: the same name, else the one
    column equal to it after trimming and case folding; ``name`` itself when none is.

    Raises ``ValueError`` when several columns are equal to it that way.

    >>> find_column("surname", [" Surname ", "given"])
    ' Surname '
    >>> find_column("id", ["ID", "Id"], side="left")
    Traceback (most recent call last):
    ...
    ValueError: the left table has several columns named 'id' apart from case and spaces: 'ID', 'Id'
    """
    if name is None:
        return None
    names = [str(c) for c in columns]
    if name in names:
        return name
    same = [c for c in names if _folded(c) == _folded(name)]
    if len(same) > 1:
        where = f"the {side} table" if side else "the table"
        raise ValueError(
            f"{where} has several columns named {name!r} apart from case and spaces: "
            + ", ".join(map(repr, same))
        )
    return same[0] if same else name


def spec_for_columns(spec: Spec, left: Sequence[object], right: Sequence[object]) -> Spec:
    """``spec`` with each column it names replaced by the table's own spelling of it
    (:func:`find_column`); names no column matches are left for the usual check."""

    def pick(name: str | None, side: str) -> str | None:
        return find_column(name, left if side == "left" else right, side=side)

    fields = tuple(
        dataclasses.replace(f, left=pick(f.left, "left"), right=pick(f.right, "right"))
        for f in spec.fields
    )
    rules = tuple(
        Block(
            kind=rule.kind,
            size=rule.size,
            keys=tuple(
                Key(pick(k.left, "left"), pick(k.right, "right"), k.transform) for k in rule.keys
            ),
        )
        for rule in spec.block
    )
    learned = spec.learned
    if learned is not None:
        learned = dataclasses.replace(learned, fields=tuple(f.name for f in fields))
    return dataclasses.replace(
        spec,
        fields=fields,
        learned=learned,
        left_id=pick(spec.left_id, "left"),
        right_id=pick(spec.right_id, "right"),
        block=rules,
    )
