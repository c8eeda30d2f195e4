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


def test_a_forged_request_sees_no_score_of_a_record_drawn_for_a_blind_answer(services, project):
    """The page's own blind and audit flags are not trusted: while a record waits for
    an auditor's answer, its explanation is refused whatever the request says."""
    desk = services.desk(project)
    view = desk.next_view("ann")
    left = view["left_id"]
    right = view["rows"][0]["_right_id"]
    assert desk.decide("ann", view, "accept", [right]).ok
    desk.release("ann")
    assert desk.audits.set_double_review("lee", 1.0, role="lead").ok
    click = {"colId": "score", "rowId": right}
    forged = {"left_id": left}  # says neither blind nor audit
    panel = show_why(services, project.project_id, click, forged, False, trigger=None)
    assert said(panel) == ""
    answer = desk.audits.next_audit_view("bob")
    assert answer["left_id"] is not None
    outcome = desk.audits.record_verdict("bob", answer, "accept", [answer["rows"][0]["_right_id"]])
    assert outcome.ok
    done = answer["left_id"]
    chosen = {"colId": "score", "rowId": answer["rows"][0]["_right_id"]}
    shown = said(
        show_why(services, project.project_id, chosen, {"left_id": done}, False, trigger=None)
    )
    assert shown.startswith("Why ")
