"""The comparison spec: which fields to compare, how, and how much each counts.

A :class:`Spec` is plain data. The command line (``--field SPEC``), the app's
Data panel and the tests all build one and hand it to
:func:`matching.candidates.generate_candidates`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

__all__ = [
    "SCORERS",
    "BLOCK_KINDS",
    "Normalization",
    "Field",
    "Block",
    "Spec",
    "parse_field",
    "parse_block",
]

#: Scorer names accepted in a field, in the order the app lists them.
SCORERS: tuple[str, ...] = (
    "qratio",
    "ratio",
    "wratio",
    "token_sort",
    "token_set",
    "partial",
    "jaro_winkler",
    "levenshtein",
    "exact",
)

#: Blocking kinds: an exact key, the first N characters, a sorted-neighbourhood window.
BLOCK_KINDS: tuple[str, ...] = ("exact", "prefix", "sorted")


@dataclass(frozen=True)
class Normalization:
    """How values are cleaned before they are compared.

    Parameters
    ----------
    casefold : bool
        Compare case-insensitively (``str.casefold``).
    strip_accents : bool
        Drop combining accents (``é`` -> ``e``).
    collapse : bool
        Turn punctuation into spaces and squeeze runs of white space.
    """

    casefold: bool = True
    strip_accents: bool = True
    collapse: bool = True


@dataclass(frozen=True)
class Field:
    """One compared field.

    Parameters
    ----------
    left : str
        Column of the left table.
    right : str or None
        Column of the right table; the same name as ``left`` when None.
    scorer : str
        One of :data:`SCORERS`.
    weight : float
        Relative weight in the pair's weighted mean; must be > 0.
    normalization : Normalization
        Cleaning applied to both sides before scoring.
    """

    left: str
    right: str | None = None
    scorer: str = "qratio"
    weight: float = 1.0
    normalization: Normalization = field(default_factory=Normalization)

    def __post_init__(self) -> None:
        if not self.left:
            raise ValueError("a field needs a left column name")
        if self.right is None:
            object.__setattr__(self, "right", self.left)
        if self.scorer not in SCORERS:
            raise ValueError(f"unknown scorer {self.scorer!r}; choose one of {', '.join(SCORERS)}")
        if not self.weight > 0:
            raise ValueError(f"field {self.left!r}: weight must be > 0, got {self.weight}")

    @property
    def name(self) -> str:
        """The field's name: its left column. Output column is ``score_<name>``."""
        return self.left


@dataclass(frozen=True)
class Block:
    """Blocking: only pairs that share a key are scored.

    Parameters
    ----------
    kind : {"exact", "prefix", "sorted"}
        ``exact``: same normalised value; ``prefix``: same first ``size``
        characters; ``sorted``: within ``size`` places of each other when both
        tables are sorted together on the normalised value.
    left, right : str
        Key columns (``right`` defaults to ``left``).
    size : int
        Prefix length or window width; ignored for ``exact``.
    """

    kind: str
    left: str
    right: str | None = None
    size: int = 0

    def __post_init__(self) -> None:
        if self.kind not in BLOCK_KINDS:
            raise ValueError(
                f"unknown blocking {self.kind!r}; choose one of {', '.join(BLOCK_KINDS)}"
            )
        if self.right is None:
            object.__setattr__(self, "right", self.left)
        if self.kind != "exact" and self.size < 1:
            raise ValueError(f"{self.kind} blocking needs a size of at least 1")


@dataclass(frozen=True)
class Spec:
    """Everything that decides which pairs exist and how they score.

    Parameters
    ----------
    fields : tuple of Field
        At least one; their names (left columns) must be unique.
    left_id, right_id : str or None
        ID columns; row positions are the ids when None.
    block : Block or None
        Optional blocking.
    """

    fields: tuple[Field, ...]
    left_id: str | None = None
    right_id: str | None = None
    block: Block | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        if not self.fields:
            raise ValueError("the spec needs at least one field to compare")
        names = [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"field names must be unique; repeated: {', '.join(dupes)}")

    def to_dict(self) -> dict:
        """A JSON-safe dict; :meth:`from_dict` reverses it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Spec:
        fields = tuple(
            Field(**{**f, "normalization": Normalization(**f.get("normalization", {}))})
            for f in data["fields"]
        )
        block = Block(**data["block"]) if data.get("block") else None
        return cls(
            fields=fields,
            left_id=data.get("left_id"),
            right_id=data.get("right_id"),
            block=block,
        )

    def digest(self) -> str:
        """A stable hash of the spec, for cache keys and project ids."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_field(text: str) -> Field:
    """Parse ``LEFTCOL[=RIGHTCOL][:SCORER][@WEIGHT]``.

    Examples
    --------
    >>> parse_field("given_name:jaro_winkler@2")
    Field(left='given_name', right='given_name', scorer='jaro_winkler', weight=2.0, normalization=Normalization(casefold=True, strip_accents=True, collapse=True))
    >>> parse_field("OwnerSurname=Surname").right
    'Surname'
    """
    rest = text.strip()
    weight = 1.0
    if "@" in rest:
        rest, _, raw = rest.rpartition("@")
        try:
            weight = float(raw)
        except ValueError:
            raise ValueError(f"field {text!r}: weight {raw!r} is not a number") from None
    scorer = "qratio"
    if ":" in rest:
        rest, _, scorer = rest.rpartition(":")
    left, _, right = rest.partition("=")
    if not left:
        raise ValueError(f"field {text!r}: missing the left column name")
    return Field(left=left, right=right or None, scorer=scorer, weight=weight)


def parse_block(text: str) -> Block:
    """Parse ``exact:COL``, ``prefix:COL:N`` or ``sorted:COL:W`` (``COL`` may be ``LEFT=RIGHT``).

    Examples
    --------
    >>> parse_block("prefix:surname:3")
    Block(kind='prefix', left='surname', right='surname', size=3)
    """
    parts = text.strip().split(":")
    kind = parts[0]
    if kind not in BLOCK_KINDS or len(parts) not in (2, 3):
        raise ValueError(f"block {text!r}: expected exact:COL, prefix:COL:N or sorted:COL:W")
    size = 0
    if len(parts) == 3:
        try:
            size = int(parts[2])
        except ValueError:
            raise ValueError(f"block {text!r}: size {parts[2]!r} is not a whole number") from None
    elif kind != "exact":
        raise ValueError(f"block {text!r}: {kind} blocking needs a size, e.g. {kind}:COL:3")
    left, _, right = parts[1].partition("=")
    if not left:
        raise ValueError(f"block {text!r}: missing the column name")
    return Block(kind=kind, left=left, right=right or None, size=size)
