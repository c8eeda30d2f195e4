"""The comparison spec: which fields to compare, how, and how much each counts.

A :class:`Spec` is plain data. The command line (``--field SPEC``), the app's
Data panel and the tests all build one and hand it to
:func:`matching.engine.candidates.generate_candidates`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from matching.engine.weights import LearnedWeights

__all__ = [
    "SCORERS",
    "BLOCK_KINDS",
    "Normalization",
    "CLEANINGS",
    "CLEANING_FLAGS",
    "cleaning_name",
    "cleaning_text",
    "parse_cleaning",
    "Field",
    "KEY_TRANSFORMS",
    "Key",
    "Block",
    "Spec",
    "parse_field",
    "parse_block",
    "parse_rules",
    "Setup",
    "dumps_setup",
    "loads_setup",
    "read_setup",
    "write_setup",
    "setup_format",
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
    "date",
    "tfidf",
)

#: Blocking kinds: an exact key, the first N characters, a sorted-neighbourhood window
#: over records (``sorted``) or over distinct keys (``sortedkeys``), and each left
#: record's K nearest right records by TF-IDF cosine (``tfidf``).
BLOCK_KINDS: tuple[str, ...] = ("exact", "prefix", "sorted", "sortedkeys", "tfidf")


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
    numbers : bool
        A value that is a number is written the one way (``1999.0`` and
        ``1999`` are both ``1999``; ``2.50`` is ``2.5``).
    digits : bool
        Keep only the digits (phone numbers: ``(02) 9876-5432`` is ``0298765432``).
    """

    casefold: bool = True
    strip_accents: bool = True
    collapse: bool = True
    numbers: bool = False
    digits: bool = False


#: The cleanings the proposal gives a field, by the names the Data panel shows: ``text``
#: (case, accents and punctuation ignored), ``number`` (also a number written the one
#: way) and ``digits`` (only the digits: phone numbers). The proposal never gives a
#: field no cleaning at all, so no name stands for that.
CLEANINGS: dict[str, Normalization] = {
    "text": Normalization(),
    "number": Normalization(numbers=True),
    "digits": Normalization(digits=True),
}

#: How :func:`cleaning_text` writes a cleaning that has no name: the flags that are on.
CLEANING_FLAGS = "flags:"

_FLAG_NAMES = tuple(f.name for f in dataclasses.fields(Normalization))


def cleaning_name(norm: Normalization) -> str | None:
    """The name of a cleaning in :data:`CLEANINGS`, or None when it has none.

    >>> cleaning_name(Normalization(numbers=True))
    'number'
    >>> cleaning_name(Normalization(casefold=False)) is None
    True
    """
    return next((name for name, n in CLEANINGS.items() if n == norm), None)


def cleaning_text(norm: Normalization) -> str:
    """A cleaning as one word: its name, or ``flags:`` and the flags that are on (joined
    by ``+``) when it has none, so that a set-up file's own cleaning is kept as it is.

    >>> cleaning_text(Normalization(digits=True))
    'digits'
    >>> cleaning_text(Normalization(casefold=True, strip_accents=False, collapse=False))
    'flags:casefold'
    >>> parse_cleaning(cleaning_text(Normalization(False, False, False)))
    Normalization(casefold=False, strip_accents=False, collapse=False, numbers=False, digits=False)
    """
    name = cleaning_name(norm)
    if name is not None:
        return name
    return CLEANING_FLAGS + "+".join(f for f in _FLAG_NAMES if getattr(norm, f))


def parse_cleaning(text: object) -> Normalization:
    """The cleaning :func:`cleaning_text` wrote; ``ValueError`` says what is wrong.

    >>> parse_cleaning("number")
    Normalization(casefold=True, strip_accents=True, collapse=True, numbers=True, digits=False)
    >>> parse_cleaning("flags:casefold+numbers").strip_accents
    False
    """
    if isinstance(text, str) and text in CLEANINGS:
        return CLEANINGS[text]
    choose = f"choose one of {', '.join(CLEANINGS)}"
    if not (isinstance(text, str) and text.startswith(CLEANING_FLAGS)):
        raise ValueError(f"unknown cleaning {str(text)[:40]!r}; {choose}")
    flags = [f for f in text.removeprefix(CLEANING_FLAGS).split("+") if f]
    unknown = [f for f in flags if f not in _FLAG_NAMES]
    if unknown:
        raise ValueError(
            f"unknown cleaning flag {unknown[0][:40]!r}; flags are {', '.join(_FLAG_NAMES)}"
        )
    return Normalization(**{f: f in flags for f in _FLAG_NAMES})


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

    @property
    def text(self) -> str:
        """The field as ``--field`` takes it, e.g. ``surname:jaro_winkler@2``; a cleaning
        other than plain text follows a ``/`` (``year:exact/number``).

        >>> Field("OwnerSurname", "Surname", "exact", 1.0).text
        'OwnerSurname=Surname:exact'
        >>> Field("phone", scorer="levenshtein", normalization=CLEANINGS["digits"]).text
        'phone:levenshtein/digits'
        """
        cols = self.left if self.right == self.left else f"{self.left}={self.right}"
        clean = (
            "" if self.normalization == Normalization() else "/" + cleaning_text(self.normalization)
        )
        weight = f"@{self.weight:g}" if self.weight != 1 else ""
        return f"{cols}:{self.scorer}{clean}{weight}"


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
    kind : {"exact", "prefix", "sorted", "sortedkeys", "tfidf"}
        ``exact``: the same key; ``prefix``: the same first ``size``
        characters of each key column; ``sorted``: within ``size`` places of
        each other when both tables are sorted together on the key, records
        with equal keys interleaving (the i-th left record of a key next to the
        i-th right record of that key); ``sortedkeys``: keys within ``size``
        places of each other among the distinct keys of both tables sorted (a
        window of 11 is five keys either side, as recordlinkage's sorted
        neighbourhood); ``tfidf``: each left record's ``size`` nearest right
        records by the TF-IDF cosine of the key column.
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
        if self.kind == "tfidf" and (len(keys) != 1 or keys[0].transform):
            raise ValueError("tfidf blocking takes one column, without a transform: tfidf:COL:K")

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
    one_table : bool
        The two tables are one table compared with itself (a deduplication): each
        pair is scored once, the earlier record on the left, never a record with
        itself. The ID columns are then the same column.
    """

    fields: tuple[Field, ...]
    left_id: str | None = None
    right_id: str | None = None
    block: tuple[Block, ...] = ()
    learned: LearnedWeights | None = None
    one_table: bool = False

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
        if self.one_table:
            out["one_table"] = True
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
            one_table=bool(data.get("one_table", False)),
        )

    def digest(self) -> str:
        """A stable hash of the spec, for cache keys and project ids."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_field(text: str) -> Field:
    """Parse ``LEFTCOL[=RIGHTCOL][:SCORER][/CLEANING][@WEIGHT]`` (a cleaning of
    :data:`CLEANINGS`, or ``flags:`` as :func:`cleaning_text` writes it; plain text
    when left out). :attr:`Field.text` writes what this reads.

    Examples
    --------
    >>> parse_field("given_name:jaro_winkler@2")
    Field(left='given_name', right='given_name', scorer='jaro_winkler', weight=2.0, normalization=Normalization(casefold=True, strip_accents=True, collapse=True, numbers=False, digits=False))
    >>> parse_field("OwnerSurname=Surname").right
    'Surname'
    >>> parse_field("year:exact/number").normalization == CLEANINGS["number"]
    True
    """
    rest = text.strip()
    weight = 1.0
    if "@" in rest:
        rest, _, raw = rest.rpartition("@")
        try:
            weight = float(raw)
        except ValueError:
            raise ValueError(f"field {text!r}: weight {raw!r} is not a number") from None
    normalization = Normalization()
    head, slash, clean = rest.rpartition("/")
    if slash and (clean in CLEANINGS or clean.startswith(CLEANING_FLAGS)):
        try:
            normalization = parse_cleaning(clean)
        except ValueError as exc:
            raise ValueError(f"field {text!r}: {exc}") from None
        rest = head
    scorer = "qratio"
    if ":" in rest:
        rest, _, scorer = rest.rpartition(":")
    left, _, right = rest.partition("=")
    if not left:
        raise ValueError(f"field {text!r}: missing the left column name")
    return Field(
        left=left, right=right or None, scorer=scorer, weight=weight, normalization=normalization
    )


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

    ``exact:KEY``, ``prefix:KEY:N``, ``sorted:KEY:W`` (a window of W records),
    ``sortedkeys:KEY:W`` (a window of W distinct keys) or ``tfidf:COL:K`` (each
    left record's K nearest right records by TF-IDF cosine), where ``KEY`` is one
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
        raise ValueError(
            f"block {text!r}: expected exact:COL, prefix:COL:N, sorted:COL:W,"
            " sortedkeys:COL:W or tfidf:COL:K"
        )
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


#: What a set-up file says it is, and the version of its layout.
SETUP_FORMAT = "matchdesk-setup"
SETUP_VERSION = 1


@dataclass(frozen=True)
class Setup:
    """A saved set-up: the tables, the spec and the thresholds, as a file holds them.

    Parameters
    ----------
    spec : Spec
        IDs, fields (scorers, weights), blocking rules and learned weights; a
        deduplication (``spec.one_table``) is saved as ``one_table = true``.
    left, right : str or None
        The tables' files (a relative path is relative to the set-up file); the
        same file twice in a deduplication.
    keep, select : float
        Keep pairs scoring at least ``keep``; pre-select from ``select``.
    left_sheet, right_sheet : str or None
        Excel only: the sheet read (by name or number from 1); the first when None.
    left_header_row, right_header_row : int
        Excel only: the row (from 1) holding the column names.
    """

    spec: Spec
    left: str | None = None
    right: str | None = None
    keep: float = 0.5
    select: float = 0.8
    left_sheet: str | None = None
    right_sheet: str | None = None
    left_header_row: int = 1
    right_header_row: int = 1

    def to_dict(self) -> dict:
        """The file's content: JSON- and TOML-safe (no None values)."""
        tables = {"left": self.left, "right": self.right}
        tables |= {"left_id": self.spec.left_id, "right_id": self.spec.right_id}
        tables |= {"left_sheet": self.left_sheet, "right_sheet": self.right_sheet}
        if self.spec.one_table:
            tables["one_table"] = True
        for side, row in (("left", self.left_header_row), ("right", self.right_header_row)):
            if row != 1:
                tables[f"{side}_header_row"] = row
        fields = []
        for f in self.spec.fields:
            one = {"left": f.left, "right": f.right, "scorer": f.scorer, "weight": f.weight}
            if f.normalization != Normalization():
                one["normalization"] = dataclasses.asdict(f.normalization)
            fields.append(one)
        out = {
            "format": SETUP_FORMAT,
            "version": SETUP_VERSION,
            "tables": {k: v for k, v in tables.items() if v is not None},
            "fields": fields,
            "rules": [b.text for b in self.spec.block],
            "thresholds": {"keep": self.keep, "select": self.select},
        }
        if self.spec.learned is not None:
            out["learned"] = self.spec.learned.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: object) -> Setup:
        """Read :meth:`to_dict`'s layout; ``ValueError`` says what is wrong."""
        if not isinstance(data, dict) or data.get("format") != SETUP_FORMAT:
            raise ValueError(f"not a set-up file (it should say format = {SETUP_FORMAT!r})")
        version = data.get("version", SETUP_VERSION)
        if not isinstance(version, int) or version > SETUP_VERSION:
            raise ValueError(f"set-up version {version!r} is not one this matchdesk reads")
        tables = data.get("tables") or {}
        thresholds = data.get("thresholds") or {}
        try:
            fields = tuple(
                Field(
                    left=f["left"],
                    right=f.get("right"),
                    scorer=f.get("scorer", "qratio"),
                    weight=float(f.get("weight", 1.0)),
                    normalization=Normalization(**f.get("normalization", {})),
                )
                for f in data.get("fields") or []
            )
            rules = tuple(parse_block(r) for r in data.get("rules") or [])
            learned = data.get("learned")
            spec = Spec(
                fields=fields,
                left_id=tables.get("left_id"),
                right_id=tables.get("right_id"),
                block=rules,
                learned=LearnedWeights.from_dict(learned) if learned else None,
                one_table=tables.get("one_table") is True,
            )
            keep = float(thresholds.get("keep", 0.5))
            select = float(thresholds.get("select", max(keep, 0.8)))
            rows = [int(tables.get(f"{side}_header_row", 1)) for side in ("left", "right")]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"the set-up is incomplete or malformed: {exc}") from None
        for label, value in (("keep", keep), ("select", select)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{label} must be between 0 and 1, got {value}")
        if min(rows) < 1:
            raise ValueError(f"a header row is a row number from 1, got {min(rows)}")
        sheets = [tables.get(f"{side}_sheet") for side in ("left", "right")]
        return cls(
            spec,
            tables.get("left"),
            tables.get("right"),
            keep,
            select,
            *(None if s is None else str(s) for s in sheets),
            *rows,
        )


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # JSON's escapes are TOML's; non-ASCII text is written as it is (no surrogates).
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_table(data: dict, prefix: str, lines: list[str]) -> None:
    def is_tables(v: object) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    for key, value in data.items():
        if not isinstance(value, dict) and not is_tables(value):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in data.items():
        name = f"{prefix}{_toml_key(key)}"
        if isinstance(value, dict):
            lines += ["", f"[{name}]"]
            _toml_table(value, f"{name}.", lines)
        elif is_tables(value):
            for item in value:
                lines += ["", f"[[{name}]]"]
                _toml_table(item, f"{name}.", lines)


def dumps_setup(setup: Setup, fmt: str = "toml") -> str:
    """The set-up as TOML (``fmt="toml"``) or JSON (``fmt="json"``) text."""
    data = setup.to_dict()
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt != "toml":
        raise ValueError(f"unknown set-up format {fmt!r}; use toml or json")
    lines = ["# matchdesk set-up: run it with python -m matching --spec FILE --out OUT.csv"]
    _toml_table(data, "", lines)
    return "\n".join(lines) + "\n"


def loads_setup(text: str, fmt: str = "toml") -> Setup:
    """Read a set-up from TOML or JSON text; ``ValueError`` says what is wrong."""
    import tomllib

    try:
        data = json.loads(text) if fmt == "json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read the set-up as {fmt.upper()}: {exc}") from None
    return Setup.from_dict(data)


def setup_format(path: str | os.PathLike) -> str:
    """``"toml"`` or ``"json"`` by the file's ending; ``ValueError`` for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ValueError(f"{path}: a set-up file ends in .toml or .json")
    return suffix[1:]


def write_setup(setup: Setup, path: str | os.PathLike) -> None:
    """Save a set-up as TOML or JSON, by the file's ending."""
    Path(path).write_text(dumps_setup(setup, setup_format(path)), encoding="utf-8")


def read_setup(path: str | os.PathLike) -> Setup:
    """Read a set-up file (TOML or JSON, by its ending).

    Table paths in it that are relative are taken as relative to the file's
    folder. Raises ``ValueError`` naming the file when it cannot be read.
    """
    fmt = setup_format(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the set-up: {exc}") from None
    try:
        setup = loads_setup(text, fmt)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    folder = Path(path).parent

    def near(table: str | None) -> str | None:
        return None if table is None else str(folder / table)

    return dataclasses.replace(setup, left=near(setup.left), right=near(setup.right))


def parse_rules(text: str | None) -> tuple[Block, ...]:
    """Blocking rules, one per line (blank lines ignored); ``ValueError`` names a bad one
    (or says the rules are not text at all)."""
    if text is not None and not isinstance(text, str):
        raise ValueError("the blocking rules are text, one rule a line")
    return tuple(parse_block(line) for line in (text or "").splitlines() if line.strip())
