"""Evidence where bulk decisions are made: a pattern batch asks to confirm with its count,
its preview shows the records' values side by side, and long text wraps in the review grid."""

from __future__ import annotations

from dash.testing.wait import until

from app import demo_config
from matching.engine.spec import Field, Spec
from tests.e2e.test_team_features import click, pattern_equal_one
from tests.helpers import LABEL, button, open_tab, project_id, start


def test_a_pattern_batch_is_confirmed_with_its_count_and_previewed_with_values(dash_duo, demo_app):
    start(dash_duo, demo_app)
    pattern_equal_one(dash_duo)
    click(dash_duo, button(dash_duo, "Preview"))
    dash_duo.wait_for_contains_text("#pattern-result", "would be accepted", timeout=10)
    preview = dash_duo.find_element("#pattern-result table").text
    # The compared field's values of both records, not only their ids.
    assert "OwnerSurname" in preview and "Smith" in preview and "smith" in preview
    count = int(dash_duo.find_element("#pattern-result").text.split()[0])
    assert count > 0
    log = demo_app.matchdesk.log
    click(dash_duo, button(dash_duo, "Accept these"))
    dash_duo.wait_for_contains_text("#pattern-modal-text", f"of {count:,} undecided", timeout=10)
    assert not log.state(project_id(demo_app)).decisions  # nothing before the confirmation
    click(dash_duo, button(dash_duo, "Cancel"))
    until(lambda: not dash_duo.find_elements("#pattern-modal.show"), timeout=5)
    assert not log.state(project_id(demo_app)).decisions
    click(dash_duo, button(dash_duo, "Accept these"))
    dash_duo.wait_for_contains_text("#pattern-modal-text", f"of {count:,} undecided", timeout=10)
    click(dash_duo, button(dash_duo, "Confirm"))
    dash_duo.wait_for_contains_text("#pattern-result", "accepted automatically", timeout=10)
    decisions = log.state(project_id(demo_app)).decisions
    assert len(decisions) == count and all(d.automatic for d in decisions.values())
    assert dash_duo.get_logs() == []


TITLE = (
    "The Remarkable and Thoroughly Documented History of the Toyota Corolla, Its Owners,"
    " Their Journeys Across Three Continents, and the Mechanics Who Kept It Running"
)


def test_a_long_title_wraps_in_the_review_grid_instead_of_being_cut(dash_duo, tmp_path):
    from app import create_app

    base = demo_config()
    left, right = base.left.copy(), base.right.copy()
    left["CarName"] = "Toyota Corolla"
    right.loc[right["CarID"] == "101", "CarName"] = TITLE
    config = demo_config(
        left=left,
        right=right,
        spec=Spec(fields=(Field("OwnerSurname"), Field("CarName")), left_id="OwnerID",
                  right_id="CarID"),
        db_url=f"sqlite:///{tmp_path / 'd.db'}",
        data_dir=str(tmp_path / "data"),
        keep=0.0,
    )  # fmt: skip
    app = create_app(config)
    dash_duo.start_server(app)
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=15)
    cell = "#candidate-grid .ag-center-cols-container [row-id='101'] [col-id='CarName']"
    dash_duo.wait_for_element(cell)
    whole = dash_duo.driver.execute_script(
        """
        const cell = document.querySelector(arguments[0]);
        const row = cell.closest('.ag-row');
        return [cell.innerText, cell.scrollWidth <= cell.clientWidth + 1,
                row.getBoundingClientRect().height];
        """,
        cell,
    )
    text, uncut, height = whole
    assert text.replace("\n", " ").strip() == TITLE
    assert uncut and height > 60  # on several lines, not one line ending in "…"
    assert dash_duo.get_logs() == []


def test_the_adjudication_table_shows_the_values_each_review_chose(dash_duo, demo_app):
    services = demo_app.matchdesk
    desk = services.desk(services.project(project_id(demo_app)))
    desk.audits.set_double_review("lee", 1.0, role="lead")
    view = desk.next_view("ann")
    while view["left_id"] is not None:  # ann: no match on everything
        view = desk.decide("ann", view, "reject").view
    bob = desk.audits.next_audit_view("bob")
    while bob["left_id"] is not None:  # bob, blind: the best candidate
        rights = [bob["rows"][0]["_right_id"]] if bob["rows"] else []
        bob = desk.audits.record_verdict("bob", bob, "accept" if rights else "reject", rights).view
    dash_duo.start_server(demo_app)
    dash_duo.wait_for_element(LABEL, timeout=15)
    open_tab(dash_duo, "Matched")
    dash_duo.wait_for_contains_text("#adjudication-summary", "reviews disagree", timeout=10)
    table = dash_duo.find_element("#adjudication-grid").text
    # Record 1 (Alice Smith): ann said no match, bob chose car 101, shown with its values.
    assert "Alice · Smith" in table and "no match" in table
    assert "Toyota Corolla · alice · smith" in table
    assert dash_duo.get_logs() == []
