"""The records' values a lead decides on, beside their ids: for a conflict, an agreement
pattern's preview and a double review's disagreement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matching.engine.project import Project

__all__ = ["record_summary", "compared_values", "with_compared_values", "with_verdict_values"]


def _value(v: object) -> str | None:
    return None if v is None or v != v else str(v)


def record_summary(project: Project, side: str, record_id: str | None) -> str:
    """A record's values but its ID, joined with " · "; "" for no record.

    ``side`` is ``"left"`` or ``"right"``.
    """
    positions = project.left_pos if side == "left" else project.right_pos
    if record_id is None or record_id not in positions:
        return ""
    frame = project.left if side == "left" else project.right
    id_column = project.spec.left_id if side == "left" else project.spec.right_id
    row = frame.iloc[positions[record_id]]
    return " · ".join(s for c, v in row.items() if c != id_column and (s := _value(v)) is not None)


def compared_values(project: Project, left_id: str, right_id: str | None) -> list[dict]:
    """Per compared field, in the spec's order: ``field``, the ``left`` and ``right``
    records' values (None where missing, or with no right record) and ``same``."""
    left = project.left.iloc[project.left_pos[left_id]]
    right = project.right.iloc[project.right_pos[right_id]] if right_id is not None else None
    out = []
    for f in project.spec.fields:
        a = _value(left.get(f.left))
        b = _value(right.get(f.right)) if right is not None else None
        out.append({"field": f.name, "left": a, "right": b, "same": a == b})
    return out


def with_compared_values(project: Project, rows: Sequence[Mapping]) -> list[dict]:
    """Rows ``left_id, right_id, …`` (a pattern's preview) with ``fields``: their
    :func:`compared_values`."""
    return [
        {**r, "fields": compared_values(project, str(r["left_id"]), r.get("right_id"))}
        for r in rows
    ]


def with_verdict_values(project: Project, rows: Sequence[Mapping]) -> list[dict]:
    """Adjudication rows (``left_id``, ``first_ids``, ``second_ids``) with ``left``, the
    left record's values, and ``first_values``, ``second_values``: the values of the right
    records each review accepted (records apart with " | "; "no match" for none)."""

    def rights(ids: Sequence[str]) -> str:
        return " | ".join(record_summary(project, "right", i) for i in ids) or "no match"

    return [
        {
            **r,
            "left": record_summary(project, "left", str(r["left_id"])),
            "first_values": rights(r.get("first_ids", ())),
            "second_values": rights(r.get("second_ids", ())),
        }
        for r in rows
    ]
