"""The comparison spec: which fields to compare, how, and how much each counts.

A :class:`Spec` is plain data. The command line (``--field SPEC``), the app's
Data panel and the tests all build one and hand it to
:func:`matching.candidates.generate_candidates`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field

from matching.weights import LearnedWeights

__all__ = [
    "SCORERS",
    "BLOCK_KINDS",
    "Normalization",
    "Field",
    "KEY_TRANSFORMS",
    "Key",
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


#: Transforms of a blocking key column, written after it in brackets: ``[:N]`` (the
#: first N characters), ``[year]`` and ``[month]`` (of an ISO date, YYYY-MM-DD).
KEY_TRANSFORMS: tuple[str, ...] = ("year", "month")

_KEY_PART = re.compile(r"^(?P<cols>[^\[\]]*)(?:\[(?P<transform>[^\]]*)\])?$")


@dataclass(frozen=True)
class Key:
    """One column of a blocking key, with an optional transform.

    Parameters
    ----------
    left : str
        Column of the left table.
    right : str or None
        Column of the right table; the same name as ``left`` when None.
    transform : str
        ``""`` (the cleaned value), ``":N"`` (its first N characters),
        ``"year"`` or ``"month"`` (of an ISO date; other values count as missing).
    """

    left: str
    right: str | None = None
    transform: str = ""

    def __post_init__(self) -> None:
        if not self.left:
            raise ValueError("a blocking key needs a column name")
        if self.right is None:
            object.__setattr__(self, "right", self.left)
        t = self.transform
        if t and t not in KEY_TRANSFORMS:
            size = t[1:] if t.startswith(":") else ""
            if not (size.isdigit() and int(size) >= 1):
                raise ValueError(
                    f"unknown transform [{t}] of column {self.left!r};"
                    " use [:N] (first N characters), [year] or [month]"
                )

    @property
    def text(self) -> str:
        cols = self.left if self.right == self.left else f"{self.left}={self.right}"
        return f"{cols}[{self.transform}]" if self.transform else cols


@dataclass(frozen=True)
class Block:
    """One blocking rule: only pairs that share its key are scored.

    Several rules form a union: a pair is scored when any rule keeps it.

    Parameters
    ----------
    kind : {"exact", "prefix", "sorted"}
        ``exact``: the same key; ``prefix``: the same first ``size``
        characters of each key column; ``sorted``: within ``size`` places of
        each other when both tables are sorted together on the key, records
        with equal keys interleaving (the i-th left record of a key next to the
        i-th right record of that key).
    left, right : str
        The key column when the key is one column (``right`` defaults to
        ``left``); with ``keys`` given, they are set to its first column.
    size : int
        Prefix length or window width; ignored for ``exact``.
    keys : tuple of Key
        The key's columns, compared together (in order: the sort order for
        ``sorted``); ``(Key(left, right),)`` when empty.
    """

    kind: str
    left: str = ""
    right: str | None = None
    size: int = 0
    keys: tuple[Key, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in BLOCK_KINDS:
            raise ValueError(
                f"unknown blocking {self.kind!r}; choose one of {', '.join(BLOCK_KINDS)}"
            )
        keys = tuple(Key(**k) if isinstance(k, dict) else k for k in self.keys)
        if not keys:
            if not self.left:
                raise ValueError("a blocking rule needs a column")
            keys = (Key(self.left, self.right),)
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "left", keys[0].left)
        object.__setattr__(self, "right", keys[0].right)
        if self.kind != "exact" and self.size < 1:
            raise ValueError(f"{self.kind} blocking needs a size of at least 1")

    @property
    def text(self) -> str:
        """The rule as ``--block`` takes it, e.g. ``exact:surname+birth_date[year]``."""
        cols = "+".join(k.text for k in self.keys)
        return f"{self.kind}:{cols}" + (f":{self.size}" if self.kind != "exact" else "")

    def to_dict(self) -> dict:
        """JSON-safe; a plain one-column rule keeps the short form of earlier versions."""
        plain = len(self.keys) == 1 and not self.keys[0].transform
        out = {"kind": self.kind, "left": self.left, "right": self.right, "size": self.size}
        if not plain:
            out["keys"] = [dataclasses.asdict(k) for k in self.keys]
        return out


def _rules(block: object) -> tuple[Block, ...]:
    if block is None:
        return ()
    if isinstance(block, Block):
        return (block,)
    if isinstance(block, dict):
        return (Block(**block),)
    rules = tuple(Block(**b) if isinstance(b, dict) else b for b in block)
    bad = [b for b in rules if not isinstance(b, Block)]
    if bad:
        raise TypeError(f"blocking rules must be Block, got {type(bad[0]).__name__}")
    return rules


@dataclass(frozen=True)
class Spec:
    """Everything that decides which pairs exist and how they score.

    Parameters
    ----------
    fields : tuple of Field
        At least one; their names (left columns) must be unique.
    left_id, right_id : str or None
        ID columns; row positions are the ids when None.
    block : tuple of Block
        Blocking rules, whose union is scored; empty scores every pair. A
        single Block, a list or None is accepted and stored as a tuple.
    learned : LearnedWeights or None
        Fellegi-Sunter weights learned for these fields: a pair's score is
        then its rescaled match weight instead of the weighted mean (the
        fields' ``weight`` is not used). Needs blocking.
    """

    fields: tuple[Field, ...]
    left_id: str | None = None
    right_id: str | None = None
    block: tuple[Block, ...] = ()
    learned: LearnedWeights | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "block", _rules(self.block))
        if not self.fields:
            raise ValueError("the spec needs at least one field to compare")
        names = [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"field names must be unique; repeated: {', '.join(dupes)}")
        if self.learned is not None and tuple(self.learned.fields) != tuple(names):
            raise ValueError(
                f"learned weights are for the fields {', '.join(self.learned.fields)},"
                f" not {', '.join(names)}"
            )

    def to_dict(self) -> dict:
        """A JSON-safe dict; :meth:`from_dict` reverses it.

        Without blocking ``block`` is None and with one plain rule it is that
        rule's dict, as in earlier versions, so those specs keep their digest.
        """
        out = {
            "fields": [dataclasses.asdict(f) for f in self.fields],
            "left_id": self.left_id,
            "right_id": self.right_id,
            "block": [b.to_dict() for b in self.block] or None,
        }
        if len(self.block) == 1 and "keys" not in out["block"][0]:
            out["block"] = out["block"][0]
        if self.learned is not None:
            out["learned"] = self.learned.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Spec:
        fields = tuple(
            Field(**{**f, "normalization": Normalization(**f.get("normalization", {}))})
            for f in data["fields"]
        )
        block = _rules(data.get("block"))
        learned = data.get("learned")
        return cls(
            learned=LearnedWeights.from_dict(learned) if learned else None,
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


def _parse_key(part: str, text: str) -> Key:
    m = _KEY_PART.match(part.strip())
    if m is None:
        raise ValueError(f"block {text!r}: cannot read the key column {part!r}")
    left, _, right = m["cols"].partition("=")
    if not left:
        raise ValueError(f"block {text!r}: missing the column name")
    try:
        return Key(left, right or None, m["transform"] or "")
    except ValueError as exc:
        raise ValueError(f"block {text!r}: {exc}") from None


def parse_block(text: str) -> Block:
    """Parse one blocking rule.

    ``exact:KEY``, ``prefix:KEY:N`` or ``sorted:KEY:W``, where ``KEY`` is one
    or more columns joined by ``+``, each ``COL`` or ``LEFT=RIGHT`` with an
    optional transform: ``[:N]`` (first N characters), ``[year]`` or
    ``[month]`` (of an ISO date).

    Examples
    --------
    >>> parse_block("prefix:surname:3").text
    'prefix:surname:3'
    >>> [k.text for k in parse_block("exact:given_name[:3]+postcode").keys]
    ['given_name[:3]', 'postcode']
    """
    parts = re.split(r":(?![^\[]*\])", text.strip())
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
    keys = tuple(_parse_key(p, text) for p in parts[1].split("+"))
    try:
        return Block(kind=kind, size=size, keys=keys)
    except ValueError as exc:
        raise ValueError(f"block {text!r}: {exc}") from None
