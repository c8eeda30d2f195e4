"""Statistics says what it shows: a reviewer's own row is said to be theirs (with the
team's count), and decisions are counted in records, the way a manager reads them."""

from __future__ import annotations

from matching.decisions.events import make_event
from tests.e2e.test_sign_in import _sign_in
from tests.helpers import button, open_tab, project_id


def test_a_reviewer_is_told_their_statistics_are_their_own_and_counts_are_records(
    dash_duo, demo_app
):
    services = demo_app.matchdesk
    services.users.add("ann", "lead", "ann-pw")
    services.users.add("bob", "reviewer", "bob-pw")
    pid = project_id(demo_app)
    services.log.append(pid, make_event("reject", event_id="a1", reviewer="ann", left_id="3"))
    services.log.append(pid, make_event("reject", event_id="a2", reviewer="ann", left_id="4"))
    dash_duo.start_server(demo_app, navigate=False)
    dash_duo.driver.get(dash_duo.server.url)
    dash_duo.wait_for_text_to_equal("h1", "matchdesk", timeout=15)
    _sign_in(dash_duo, "bob", "bob-pw")
    dash_duo.wait_for_element("#record-label", timeout=20)
    open_tab(dash_duo, "Statistics")
    dash_duo.wait_for_contains_text(
        "#stats-reviewers", "You have made no manual decisions yet; the team has made 2", 15
    )
    progress = dash_duo.find_element("#stats-progress").text
    assert "2\nrecords with no match" in progress
    assert "No manual decisions yet." not in dash_duo.find_element("#stats-reviewers").text
    assert button(dash_duo, "Sign out")
    assert dash_duo.get_logs() == []
