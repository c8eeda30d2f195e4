"""Why this score, as the review page asks for it: the callback and the desk's answer."""

from __future__ import annotations

from dash import no_update

from callbacks.why import show_why
from components.ids import ids


def texts(component) -> str:
    out = []

    def walk(c):
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, (list, tuple)):
            for x in c:
                walk(x)
        elif hasattr(c, "children"):
            walk(c.children)

    walk(component)
    return " ".join(out)


def test_a_click_on_a_score_explains_it_and_nothing_else_does(services, project):
    left = project.queue[0]
    rows = project.candidate_rows(left)
    best, score = str(rows["right_id"].iloc[0]), float(rows["score"].iloc[0])
    view = {"left_id": left}
    click = {"colId": "score", "rowId": best}
    panel = show_why(services, project.project_id, click, view, False, trigger=ids.CANDIDATE_GRID)
    said = texts(panel)
    assert f"Why {best} scored {score:.2f}" in said
    assert f"weighted mean: OwnerSurname {score:.2f} = {score:.2f}" in said
    other = {"colId": "OwnerSurname", "rowId": best}
    assert show_why(services, project.project_id, other, view, False, trigger=None) is no_update
    assert show_why(services, project.project_id, click, view, True, trigger=None) is no_update
    audit = {"left_id": left, "audit": True}
    assert show_why(services, project.project_id, click, audit, False, trigger=None) is no_update
    gone = show_why(services, project.project_id, click, view, False, trigger=ids.VIEW_STORE)
    assert texts(gone) == ""
    stranger = {"colId": "score", "rowId": "not a candidate"}
    assert texts(show_why(services, project.project_id, stranger, view, False, trigger=None)) == ""
