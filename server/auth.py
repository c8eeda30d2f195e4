"""Sign-in: sessions, the ``/login`` page, Sign out, and the gate in front of every route.

Once any user exists, every route but ``/health``, ``/login`` and ``/logout``
(and the sign-in page's stylesheet) needs a signed-in session: Dash's own
routes and anything that is not a page answer 401, pages redirect to
``/login``. With no users the app is open, but only to a browser on the same
machine: the client address and the ``Host`` header must both be loopback
(the latter stops a DNS-rebinding page from driving the open app).

A callback request from an open page whose session has ended (it carries
``X-Matchdesk-Page``, see ``assets/session.js``) gets 204, Dash's "no update",
with ``X-Matchdesk-Session: ended`` (or ``unavailable`` when the database could
not be asked), and the page says so; any other request gets 401.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import timedelta
from functools import partial
from urllib.parse import urlencode, urlsplit

from flask import Response, g, jsonify, redirect, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from components.auth import BOOTSTRAP_CSS, login_page, sign_out_page
from components.ids import LOGIN_NAME, LOGIN_PASSWORD
from matching.decisions.users import User, parse_limit
from server import oidc
from server.services import Services, services_of

__all__ = ["register", "is_loopback", "loopback_host", "SessionUser", "OPEN_ONLY_LOCAL"]

PUBLIC_PATHS = frozenset({"/health", "/login", "/logout", BOOTSTRAP_CSS, oidc.START, oidc.CALLBACK})

#: Sent by the page's callback requests (assets/session.js), and the answer's reason.
PAGE_HEADER = "X-Matchdesk-Page"
STATE_HEADER = "X-Matchdesk-Session"

OPEN_ONLY_LOCAL = (
    "matchdesk has no users yet, so it serves only this machine (127.0.0.1). "
    "Add an admin with: python app.py user add NAME --role admin"
)


TOO_MANY = {
    "address": "Too many failed sign-ins from this address. Wait {wait} and try again.",
    "name": "Too many failed sign-ins for this name, some from this address. Wait {wait} "
    "and try again, or ask an admin to check the account.",
}


UNAVAILABLE = "matchdesk cannot reach its user database. Try again in a moment."


def _wait_text(seconds: float) -> str:
    """How long a limit's window is, in words.

    >>> _wait_text(60), _wait_text(600), _wait_text(30), _wait_text(3600)
    ('a minute', '10 minutes', '30 seconds', '60 minutes')
    """
    if seconds < 60:
        return f"{seconds:g} seconds"
    return "a minute" if seconds == 60 else f"{seconds / 60:g} minutes"


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("10.0.0.2"), is_loopback(None)
    (True, True, False, False)
    """
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def loopback_host(host: str) -> bool:
    """True when a ``Host`` header (or a ``--host`` value) names this machine.

    >>> loopback_host("127.0.0.1:8050"), loopback_host("localhost"), loopback_host("[::1]:80")
    (True, True, True)
    >>> loopback_host("evil.example:8050"), loopback_host("0.0.0.0")
    (False, False)
    """
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or "]" in host else host
    name = name.strip("[]").lower()
    return name == "localhost" or is_loopback(name)


class SessionUser(UserMixin):
    """The signed-in user as flask-login sees it.

    The cookie holds only the session's token; the session itself lives in the
    database (:meth:`UserStore.start_session`), checked on every request, so
    signing out, a changed password, a removed user, or an idle or old session
    ends it in every process, whoever holds a copy of the cookie.
    """

    def __init__(self, user: User, token: str) -> None:
        self.name = user.name
        self.role = user.role
        self.token = token

    def get_id(self) -> str:
        return self.token


class _Sessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions with the secret read lazily from the database,
    and the Secure flag set whenever the request came over HTTPS."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def get_signing_serializer(self, app):
        if not app.secret_key:
            try:
                app.secret_key = self._services.users.secret()
            except Exception:
                return None  # database down: no session this time; /health still answers
        return super().get_signing_serializer(app)

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _safe_next(value: str | None) -> str:
    r"""A path on this site to go back to after signing in; anything else goes to ``/``.

    Control characters go first (a browser drops a tab or newline inside a
    URL, so ``/<tab>/evil.example`` would lead to ``//evil.example``, another
    site), then anything with a scheme, a host, or a backslash is refused.

    >>> _safe_next("/?tab=1"), _safe_next("//evil.example/"), _safe_next("https://x/")
    ('/?tab=1', '/', '/')
    >>> _safe_next("/\t/evil.example"), _safe_next("/\r\nSet-Cookie: x"), _safe_next("/\\evil")
    ('/', '/Set-Cookie: x', '/')
    """
    value = _CONTROL.sub("", value or "")
    parts = urlsplit(value)
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _refuse_unsigned() -> Response:
    if request.method == "GET" and not request.path.startswith("/_") and _wants_page():
        query = urlencode({"next": request.full_path.rstrip("?")})
        return redirect(f"/login?{query}", code=302)
    if request.headers.get(PAGE_HEADER) and request.path.endswith("/_dash-update-component"):
        # The open page (assets/session.js) asked: 204 is Dash's "no update", and the
        # header tells the page why, without a 401 in the browser's console.
        response = Response(status=204)
        unchecked = g.get("session_unchecked", False)
        response.headers[STATE_HEADER] = "unavailable" if unchecked else "ended"
        return response
    response = jsonify({"error": "sign in first"})
    response.status_code = 401
    return response


def _wants_page() -> bool:
    accept = request.accept_mimetypes
    return accept.accept_html or not accept


def register(app) -> None:
    services = services_of(app)
    server = app.server
    config = services.config
    server.secret_key = config.secret_key or os.environ.get("MATCHDESK_SECRET_KEY") or None
    server.session_interface = _Sessions(services)
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")

    idle = config.session_idle_minutes * 60
    lifetime = config.session_max_hours * 3600
    server.permanent_session_lifetime = timedelta(seconds=lifetime)
    manager = LoginManager(server)

    @manager.user_loader
    def load_user(token: str):
        try:
            user = services.users.session_user(token, idle_seconds=idle, lifetime_seconds=lifetime)
        except SQLAlchemyError:
            g.session_unchecked = True
            return None  # the database is down: nobody is signed in until it is back
        return None if user is None else SessionUser(user, token)

    def sign_in(user: User) -> None:
        session.clear()
        token = services.users.start_session(
            user.name, idle_seconds=idle, lifetime_seconds=lifetime
        )
        login_user(SessionUser(user, token))

    provider = oidc.oidc_settings(config)
    page = partial(login_page, provider=provider.name if provider else None)
    if provider is not None:
        oidc.register_oidc(
            server, provider, users=services.users, sign_in=sign_in, safe_next=_safe_next
        )
    else:
        oidc.register_absent(server)

    address_limit = parse_limit(config.login_limit)
    name_limit = parse_limit(config.login_name_limit)

    @server.before_request
    def gate():
        if request.path in PUBLIC_PATHS:
            return None
        local = is_loopback(request.remote_addr) and loopback_host(request.host)
        try:
            required = services.sign_in_required()
        except SQLAlchemyError:
            # Users unknown while the database is down: a browser on this machine goes
            # on (its callbacks report the database); anyone else is refused.
            required = not local
        if not required:
            if local:
                return None
            return Response(OPEN_ONLY_LOCAL, status=403, mimetype="text/plain")
        if current_user.is_authenticated:
            return None
        return _refuse_unsigned()

    def check_sign_in(name: str, password: str) -> tuple[str, int, User | None]:
        """``(message, status, user)``: the user, or why not (limits counted in the database).

        The attempt is counted before the password is checked, so parallel
        attempts cannot slip past the limits together.
        """
        users = services.users
        attempt = users.begin_sign_in(
            name, request.remote_addr or "", address_limit=address_limit, name_limit=name_limit
        )
        if attempt.refused is not None:
            window = address_limit[1] if attempt.refused == "address" else name_limit[1]
            return TOO_MANY[attempt.refused].format(wait=_wait_text(window)), 429, None
        user = users.check(name, password)
        users.end_sign_in(attempt, succeeded=user is not None)
        if user is None:
            # 200, not 401: the browser shows the page again without a console error.
            return "Wrong name or password.", 200, None
        return "", 200, user

    def login():
        next_url = _safe_next(request.values.get("next"))
        if request.method == "GET":
            if not services.sign_in_required():
                return redirect(next_url)
            return page(error=session.pop(oidc.LOGIN_ERROR, ""), next_url=next_url)
        name = request.form.get(LOGIN_NAME, "")
        try:
            error, status, user = check_sign_in(name, request.form.get(LOGIN_PASSWORD, ""))
            if user is not None:
                sign_in(user)
        except SQLAlchemyError:
            error, status, user = UNAVAILABLE, 503, None
        if user is None:
            return page(error=error, next_url=next_url, name=name), status
        return redirect(next_url, code=303)

    server.add_url_rule("/login", "login", login, methods=["GET", "POST"])

    def logout():
        if request.method == "GET":
            return sign_out_page(signed_in=current_user.is_authenticated)
        if current_user.is_authenticated:
            try:
                services.users.end_session(current_user.token)
            except SQLAlchemyError:
                return Response(UNAVAILABLE, status=503, mimetype="text/plain")
        logout_user()
        session.clear()
        return redirect("/login", code=303)

    server.add_url_rule("/logout", "logout", logout, methods=["GET", "POST"])
