"""Why this score, as the review page asks for it: the callback and the desk's answer."""

from __future__ import annotations

from dash import no_update

from callbacks.why import show_why
from components.ids import ids
from tests.helpers import texts


def said(component) -> str:
    return " ".join(texts(component))


def test_a_click_on_a_score_explains_it_and_nothing_else_does(services, project):
    left = project.queue[0]
    rows = project.candidate_rows(left)
    best, score = str(rows["right_id"].iloc[0]), float(rows["score"].iloc[0])
    view = {"left_id": left}
    click = {"colId": "score", "rowId": best}
    panel = show_why(services, project.project_id, click, view, False, trigger=ids.CANDIDATE_GRID)
    text = said(panel)
    assert f"Why {best} scored {score:.2f}" in text
    assert f"weighted mean: OwnerSurname {score:.2f} = {score:.2f}" in text
    other = {"colId": "OwnerSurname", "rowId": best}
    assert show_why(services, project.project_id, other, view, False, trigger=None) is no_update
    assert show_why(services, project.project_id, click, view, True, trigger=None) is no_update
    audit = {"left_id": left, "audit": True}
    assert show_why(services, project.project_id, click, audit, False, trigger=None) is no_update
    gone = show_why(services, project.project_id, click, view, False, trigger=ids.VIEW_STORE)
    assert said(gone) == ""
    stranger = {"colId": "score", "rowId": "not a candidate"}
    assert said(show_why(services, project.project_id, stranger, view, False, trigger=None)) == ""
