"""Sign-in and sign-out pages (plain HTML: they must work before any Dash script may
load) and the navbar's signed-in user with its Sign out button."""

from __future__ import annotations

from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import html
from markupsafe import escape

from components.ids import LOGIN_NAME, LOGIN_PASSWORD

__all__ = ["login_page", "sign_out_page", "signed_in_menu", "BOOTSTRAP_CSS", "OIDC_START"]

#: Where the "Sign in with <provider>" button leads (callbacks/oidc.py serves it).
OIDC_START = "/login/oidc"

#: The one asset the sign-in page uses; served to anyone.
BOOTSTRAP_CSS = "/assets/vendor/bootstrap.min.css"


def _field(field: str, label: str, **attributes: str | bool) -> str:
    """A labelled, required form field whose id and form name are ``field`` (from ids)."""
    attributes = {"id": field, "name": field, "class": "form-control", **attributes}
    attributes["required"] = True
    rendered = " ".join(
        str(key) if value is True else f'{key}="{escape(value)}"'
        for key, value in attributes.items()
    )
    return (
        f'<div class="mb-3">\n<label for="{escape(field)}" class="form-label">{label}</label>\n'
        f"<input {rendered}>\n</div>"
    )


def login_page(
    *, error: str = "", next_url: str = "/", name: str = "", provider: str | None = None
) -> str:
    """The sign-in form: fields labelled Name and Password, a Sign in button.

    It posts ``username``, ``password`` and ``next`` to ``/login``. With a
    ``provider`` (an OpenID Connect provider's name) a "Sign in with <provider>"
    button follows, a link to ``/login/oidc``.
    """
    alert = f'<div class="alert alert-danger" role="alert">{escape(error)}</div>' if error else ""
    other = ""
    if provider:
        start = f"{OIDC_START}?{urlencode({'next': next_url})}"
        other = f"""<div class="text-center text-muted my-3">or</div>
<a href="{escape(start)}" class="btn btn-outline-primary w-100">
Sign in with {escape(provider)}</a>"""
    form = f"""<form method="post" action="/login">
<input type="hidden" name="next" value="{escape(next_url)}">
{_field(LOGIN_NAME, "Name", autocomplete="username", value=name, autofocus=True)}
{_field(LOGIN_PASSWORD, "Password", type="password", autocomplete="current-password")}
<button type="submit" class="btn btn-primary w-100">Sign in</button>
</form>"""
    return _page("Sign in", f"{alert}\n{form}\n{other}")


def sign_out_page(*, signed_in: bool) -> str:
    """``GET /logout``: a Sign out button (signing out is a POST), or a link to sign in."""
    if signed_in:
        body = """<form method="post" action="/logout">
<button type="submit" class="btn btn-primary w-100">Sign out</button>
</form>"""
    else:
        body = """<p>You are signed out.</p>
<a href="/login" class="btn btn-primary w-100">Sign in</a>"""
    return _page("Sign out", body)


def _page(title: str, body: str) -> str:
    """A plain HTML page of the sign-in look, with ``body`` under the title."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · matchdesk</title>
<link rel="stylesheet" href="{BOOTSTRAP_CSS}">
</head>
<body class="bg-light">
<main class="container" style="max-width: 24rem; margin-top: 12vh">
<h1 class="h3 mb-4">matchdesk</h1>
{body}
</main>
</body>
</html>
"""


def signed_in_menu(name: str, role: str) -> html.Div:
    """Who is signed in, and a Sign out button (a POST, so no other site can trigger it)."""
    return html.Div(
        [
            html.Span(f"{name} ({role})", className="text-light small ms-3"),
            html.Form(
                dbc.Button("Sign out", type="submit", color="light", size="sm"),
                action="/logout",
                method="POST",
                className="ms-2 mb-0",
            ),
        ],
        className="d-flex align-items-center",
    )
