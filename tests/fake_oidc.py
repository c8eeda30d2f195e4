"""A small OpenID Connect provider for tests: discovery, keys, authorize and token.

It runs in a thread on a free port of 127.0.0.1, signs ID tokens with RS256
(joserfc), checks the client's secret and the PKCE verifier, and lets a test
choose the claims, the audience and the signing key.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

__all__ = ["FakeProvider"]


class FakeProvider:
    """``FakeProvider()`` serves at ``.issuer`` until ``.close()``."""

    client_id = "matchdesk"
    client_secret = "provider-secret"

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "main"})
        self.reset()
        app = Flask("fake_oidc")
        app.add_url_rule("/.well-known/openid-configuration", "discovery", self._discovery)
        app.add_url_rule("/jwks", "jwks", self._jwks)
        app.add_url_rule("/authorize", "authorize", self._authorize)
        app.add_url_rule("/token", "token", self._token, methods=["POST"])
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        """Back to signing ann's claims for matchdesk with the published key."""
        self.claims = {"sub": "u-ann", "preferred_username": "ann", "email": "ann@example.org"}
        self.signing_key = self.key
        self.audience = self.client_id
        self.authorizations: list[dict] = []
        self._codes: dict[str, dict] = {}

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def _discovery(self):
        return jsonify(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    def _jwks(self):
        return jsonify({"keys": [self.key.as_dict(private=False)]})

    def _authorize(self):
        asked = request.args.to_dict()
        self.authorizations.append(asked)
        if asked.get("client_id") != self.client_id or asked.get("response_type") != "code":
            return "unknown client", 400
        code = secrets.token_urlsafe(16)
        self._codes[code] = asked
        query = urlencode({"code": code, "state": asked.get("state", "")})
        return redirect(f"{asked['redirect_uri']}?{query}")

    def _token(self):
        auth = request.authorization
        if not auth or (auth.username, auth.password) != (self.client_id, self.client_secret):
            return jsonify({"error": "invalid_client"}), 401
        asked = self._codes.pop(request.form.get("code", ""), None)
        if asked is None or request.form.get("redirect_uri") != asked["redirect_uri"]:
            return jsonify({"error": "invalid_grant"}), 400
        verifier = request.form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if challenge.decode() != asked.get("code_challenge"):
            return jsonify({"error": "invalid_grant", "error_description": "PKCE failed"}), 400
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + 300,
            "nonce": asked.get("nonce"),
            **self.claims,
        }
        id_token = jwt.encode({"alg": "RS256", "kid": "main"}, claims, self.signing_key)
        return jsonify(
            {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
        )
