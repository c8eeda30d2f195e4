"""Requests from other sites are refused; headers; oversized requests get 413."""

from __future__ import annotations

import pytest

from tests.dash_http import ORIGIN, callback_payload

EXPECTED_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _review_payload(client, project):
    deps = client.get("/_dash-dependencies").get_json()
    return callback_payload(
        deps,
        "view-store.data",
        {"project-select.value": project.project_id, "tabs.active_tab": "review"},
        ["project-select.value"],
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {},
    ],
)
def test_a_callback_post_from_another_site_is_refused(demo_app, project, headers):
    client = demo_app.server.test_client()
    response = client.post(
        "/_dash-update-component", json=_review_payload(client, project), headers=headers
    )
    assert response.status_code == 403
    assert "did not come from matchdesk" in response.get_json()["error"]


@pytest.mark.parametrize("headers", [{"Origin": ORIGIN}, {"Referer": f"{ORIGIN}/"}])
def test_a_callback_post_from_the_page_itself_is_served(demo_app, project, headers):
    client = demo_app.server.test_client()
    response = client.post(
        "/_dash-update-component", json=_review_payload(client, project), headers=headers
    )
    assert response.status_code == 200


def test_sign_in_from_another_site_is_refused(demo_app):
    demo_app.matchdesk.users.add("ann", "admin", "pw")
    response = demo_app.server.test_client().post(
        "/login",
        data={"username": "ann", "password": "pw"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["/", "/health", "/_dash-layout", "/login"])
def test_security_headers_on_every_response(demo_app, path):
    response = demo_app.server.test_client().get(path)
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers[name] == value
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self' 'sha256-" in policy
    assert "unsafe-eval" not in policy and "script-src 'self' 'unsafe-inline'" not in policy


def test_csp_allows_dash_inline_scripts_by_hash(demo_app):
    response = demo_app.server.test_client().get("/")
    policy = response.headers["Content-Security-Policy"]
    for digest in demo_app.csp_hashes():
        assert digest in policy


def _post_claiming(client, path: str, mb: float):
    return client.post(
        path,
        data=b"{}",
        headers={"Origin": ORIGIN, "Content-Type": "application/json"},
        environ_overrides={"CONTENT_LENGTH": str(int(mb * 1024 * 1024))},
    )


def test_a_600_mb_post_is_refused_with_413_before_it_is_read(demo_app):
    response = _post_claiming(demo_app.server.test_client(), "/_dash-update-component", 600)
    assert response.status_code == 413
    assert response.get_json()["error"] == "the request is larger than the 32 MB this server takes"


def test_a_callback_request_may_not_be_as_large_as_an_upload(demo_app):
    """Only an upload's chunks, written to disk as they come, may pass the request limit;
    and a chunk no larger than the chunk size the page is told to use."""
    client = demo_app.server.test_client()
    assert demo_app.matchdesk.config.max_upload_mb == 512
    assert _post_claiming(client, "/_dash-update-component", 33).status_code == 413
    chunk_mb = demo_app.matchdesk.config.upload_chunk_bytes / (1024 * 1024)
    refused = _post_claiming(client, "/upload/chunk?upload_id=x&offset=0", chunk_mb + 0.01)
    assert refused.status_code == 413
    assert refused.get_json()["error"] == "the chunk is larger than the 8 MB this server takes"
    # a whole chunk passes the limit and reaches the upload's own checks (no such upload)
    assert _post_claiming(client, "/upload/chunk?upload_id=x&offset=0", chunk_mb).status_code == 404
