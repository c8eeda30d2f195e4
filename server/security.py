"""Requests from other sites are refused; every response carries security headers.

A request that changes anything (every POST: Dash callbacks, uploads and
downloads included, sign-in and sign-out) must come from the app's own origin,
by its ``Origin`` header or, failing that, its ``Referer``. Browsers send
``Origin`` on every POST, so a form or script on another site is refused
before any callback runs. The Content-Security-Policy allows scripts from the
app only, plus Dash's inline scripts by their hashes (``Dash.csp_hashes``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import jsonify, request

from server.services import services_of

__all__ = ["register", "same_origin", "same_site_request", "content_security_policy"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


def same_origin(origin: str | None, referer: str | None, host_url: str) -> bool:
    """True when the request's ``Origin`` (else ``Referer``) is the app's own origin.

    >>> same_origin("http://127.0.0.1:8050", None, "http://127.0.0.1:8050/")
    True
    >>> same_origin(None, "http://127.0.0.1:8050/?x", "http://127.0.0.1:8050/")
    True
    >>> same_origin("https://evil.example", None, "http://127.0.0.1:8050/")
    False
    >>> same_origin(None, None, "http://127.0.0.1:8050/"), same_origin("null", None, "http://a/")
    (False, False)
    """
    own = _origin_of(host_url)
    if origin:
        return origin.lower() == own
    return bool(referer) and _origin_of(referer) == own


def same_site_request() -> bool:
    """True when the current request comes from the app's own page.

    For reads that hand out data (exports): a browser says where a request
    comes from in ``Sec-Fetch-Site``; without it, ``Origin`` or ``Referer``
    must be the app's own origin, as for every POST.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    return same_origin(request.headers.get("Origin"), request.referrer, request.host_url)


def content_security_policy(script_hashes: list[str]) -> str:
    """The policy: the app's own scripts and these inline ones; inline styles (Dash and
    Plotly set style attributes); no framing, no plugins, forms post only here."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{k} {' '.join(v)}" for k, v in directives.items())


def register(app) -> None:
    server = app.server
    config = services_of(app).config
    # Requests are read whole before Dash sees them: only a chunk of an upload, written
    # straight to disk, may be larger (callbacks/uploads.py raises the limit for it).
    server.config["MAX_CONTENT_LENGTH"] = int(config.max_request_mb * 1024 * 1024)

    @server.before_request
    def refuse_other_sites():
        if request.method in SAFE_METHODS:
            return None
        if same_origin(request.headers.get("Origin"), request.referrer, request.host_url):
            return None
        response = jsonify({"error": "refused: this request did not come from matchdesk's page"})
        response.status_code = 403
        return response

    @server.after_request
    def add_headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault(
            "Content-Security-Policy", content_security_policy(list(app.csp_hashes()))
        )
        return response

    @server.errorhandler(413)
    def too_large(_error):
        limit = (request.max_content_length or 0) / (1024 * 1024)
        what = "chunk" if request.endpoint == "upload_chunk" else "request"
        message = f"the {what} is larger than the {limit:g} MB this server takes"
        if (request.content_length or 0) <= (request.max_content_length or 0):
            # Within the request limit: refused by the form's own (the sign-in form's).
            form = (request.max_form_memory_size or 0) / 1000
            message = f"the form is larger than the {form:g} KB this server takes"
        response = jsonify({"error": message})
        response.status_code = 413
        return response
