"""Sign-in through an organisation's OpenID Connect provider (authlib), beside passwords.

With ``--oidc-issuer`` and ``--oidc-client-id`` the app reads the issuer's
discovery document, ``/login`` shows "Sign in with <provider>", and:

- ``GET /login/oidc`` sends the browser to the provider with a fresh state,
  nonce and PKCE challenge (S256), kept in the signed session cookie;
- ``GET /login/oidc/callback`` takes the code back, checks the state, trades
  the code (with the PKCE verifier) for tokens, and checks the ID token's
  RS256/ES256 signature against the provider's keys, its issuer, audience,
  expiry and nonce. The person is the matchdesk user named by
  ``preferred_username`` (else a verified ``email``); their role is matchdesk's.
  Someone with no account is refused with a message on ``/login``, unless
  ``--oidc-new-role`` adds them.

Every failure goes back to ``/login`` with a message; nobody is signed in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Flask, Response, redirect, request, session, url_for
from joserfc.errors import JoseError
from sqlalchemy.exc import SQLAlchemyError

from components.auth import OIDC_START
from matching.decisions.roles import ROLES
from matching.decisions.users import UnknownUser

__all__ = ["OidcSettings", "oidc_settings", "register_oidc", "register_absent", "START", "CALLBACK"]

START = OIDC_START
CALLBACK = "/login/oidc/callback"

#: Where a message for the next ``/login`` page waits (in the signed session cookie).
LOGIN_ERROR = "login_error"
_NEXT = "oidc_next"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OidcSettings:
    """A checked OpenID Connect configuration."""

    issuer: str
    client_id: str
    client_secret: str | None
    name: str
    new_role: str | None

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def oidc_settings(config) -> OidcSettings | None:
    """The OpenID Connect settings of an :class:`~server.services.AppConfig`, checked.

    None when no issuer is configured; ``ValueError`` naming the option for a
    missing client id, an issuer that is not an https URL (http only on this
    machine), or an unknown role.
    """
    issuer = (config.oidc_issuer or "").strip()
    if not issuer:
        return None
    parts = urlsplit(issuer)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ValueError(
            f"--oidc-issuer {issuer!r} must be an https:// URL (http:// only on this machine)"
        )
    if not config.oidc_client_id:
        raise ValueError(
            "--oidc-issuer needs --oidc-client-id (the id the provider gave matchdesk)"
        )
    if config.oidc_new_role is not None and config.oidc_new_role not in ROLES:
        choices = ", ".join(ROLES)
        raise ValueError(f"--oidc-new-role {config.oidc_new_role!r} is not a role: {choices}")
    return OidcSettings(
        issuer=issuer,
        client_id=config.oidc_client_id,
        client_secret=config.oidc_client_secret or None,
        name=config.oidc_name or parts.hostname or issuer,
        new_role=config.oidc_new_role,
    )


#: What can go wrong between the provider and us: refused state, bad token, no answer.
_FAILURES = (AuthlibBaseError, JoseError, requests.RequestException, RuntimeError, ValueError)


def register_oidc(
    server: Flask, settings: OidcSettings, *, users, sign_in, safe_next, timeout: float = 10.0
) -> None:
    """Add the two OpenID Connect routes to ``server``.

    ``sign_in(user)`` starts the session of a :class:`~matching.decisions.users.User`;
    ``safe_next(url)`` turns a requested return address into a local path.
    """
    oauth = OAuth(server)
    client_kwargs = {
        "scope": "openid email profile",
        "code_challenge_method": "S256",
        "default_timeout": timeout,
    }
    if settings.client_secret is None:
        client_kwargs["token_endpoint_auth_method"] = "none"  # a public client: PKCE only
    provider = oauth.register(
        "matchdesk_oidc",
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=settings.discovery_url,
        client_kwargs=client_kwargs,
    )

    def back_to_login(message: str, next_url: str = "/"):
        session[LOGIN_ERROR] = message
        return redirect(url_for("login", next=next_url), code=302)

    def metadata() -> dict:
        found = provider.load_server_metadata()
        if str(found.get("issuer", "")).rstrip("/") != settings.issuer.rstrip("/"):
            # The discovery document must name the issuer it was fetched from.
            provider.server_metadata.clear()
            raise ValueError(f"its discovery document names another issuer: {found.get('issuer')}")
        return found

    def start():
        next_url = safe_next(request.args.get("next"))
        try:
            metadata()
            session[_NEXT] = next_url
            return provider.authorize_redirect(url_for("oidc_callback", _external=True))
        except _FAILURES as exc:
            log.warning("OpenID Connect sign-in could not start: %s", exc)
            return back_to_login(
                f"Cannot reach {settings.name} to sign in ({_reason(exc)}). "
                "Try again in a moment, or sign in with your name and password.",
                next_url,
            )

    def callback():
        next_url = safe_next(session.get(_NEXT))
        try:
            metadata()
            token = provider.authorize_access_token()
            claims = token.get("userinfo")
            if not claims:
                raise ValueError("the provider sent no ID token")
            user = users.for_claims(claims, new_role=settings.new_role)
        except UnknownUser as exc:
            return back_to_login(f"Signed in with {settings.name}, but {exc}.", next_url)
        except _FAILURES as exc:
            log.warning("OpenID Connect sign-in refused: %s", exc)
            return back_to_login(
                f"Sign-in with {settings.name} failed ({_reason(exc)}). Please try again.",
                next_url,
            )
        except SQLAlchemyError:
            return back_to_login("The user database is unavailable. Try again in a moment.")
        session.clear()
        sign_in(user)
        return redirect(next_url, code=303)

    server.add_url_rule(START, "oidc_start", start, methods=["GET"])
    server.add_url_rule(CALLBACK, "oidc_callback", callback, methods=["GET"])


NOT_SET_UP = "Sign-in through an identity provider is not set up on this server."


def register_absent(server: Flask) -> None:
    """Without a provider, the two routes answer 404 with a sentence, not the app's page."""

    def absent():
        return Response(NOT_SET_UP, status=404, mimetype="text/plain")

    server.add_url_rule(START, "oidc_start", absent, methods=["GET"])
    server.add_url_rule(CALLBACK, "oidc_callback", absent, methods=["GET"])


def _reason(exc: Exception) -> str:
    """A short reason for the page (the details go to the server's log)."""
    if isinstance(exc, requests.RequestException):
        return "no answer from the provider"
    if isinstance(exc, AuthlibBaseError):
        if getattr(exc, "error", "") == "mismatching_state":
            return "the sign-in request did not match; it may have expired or been forged"
        return exc.description or exc.error or "refused by the provider"
    if isinstance(exc, JoseError):
        detail = f" ({exc.description})" if exc.description else ""
        return f"its ID token did not check out: {exc.error}{detail}"
    return str(exc)
