"""Entra ID sign-in for the sandbox: the OpenID Connect authorization-code flow.

What the Microsoft identity platform does for a web app that signs people in, on the paths it
uses (`/{tenant}/oauth2/v2.0/authorize`, `/{tenant}/oauth2/v2.0/token` with
`grant_type=authorization_code`, `/{tenant}/discovery/v2.0/keys`), so that `crmcal serve` signs in
against the sandbox exactly as against a real tenant. The id_token is an RS256 JWT signed with a
key generated per emulator and published in the JWKS; its claims follow the v2.0 id_token
(`iss` = `<authority>/{tenant}/v2.0`, `aud` = client id, `oid`, `tid`, `preferred_username`,
`email`, `name`, `nonce`).

The sign-in page lists the tenant's mailboxes; picking one is signing in as that person (the
sandbox has no passwords, like the rest of its identities).
"""

from __future__ import annotations

import html
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jwt.algorithms import RSAAlgorithm

from crmcal.sandbox.graph.state import GraphState

CODE_LIFETIME_S = 600
ID_TOKEN_LIFETIME_S = 3600


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    mailbox: str
    nonce: str | None
    scope: str
    expires: float


class OidcProvider:
    """Authorization codes and the signing key of one emulated tenant."""

    def __init__(self, state: GraphState) -> None:
        self.state = state
        self._rsa: rsa.RSAPrivateKey | None = None
        self.kid = secrets.token_hex(8)
        self._codes: dict[str, _Grant] = {}

    @property
    def _key(self) -> rsa.RSAPrivateKey:
        """Made on first use: most emulator runs never sign anyone in."""
        if self._rsa is None:
            self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._rsa

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    # -- authorize ---------------------------------------------------------------------------

    def check_request(self, q: dict[str, str]) -> str | None:
        """What is wrong with an authorize request (AADSTS wording), or None."""
        if q.get("client_id", "") not in self.state.apps:
            return f"AADSTS700016: Application '{q.get('client_id', '')}' was not found."
        if q.get("response_type") != "code":
            return "AADSTS900144: The request body must contain the parameter: response_type=code."
        if not q.get("redirect_uri", "").startswith(
            ("https://", "http://127.0.0.1", "http://localhost")
        ):
            return "AADSTS50011: The redirect URI specified in the request does not match."
        if "openid" not in q.get("scope", "").split():
            return "AADSTS900144: The scope must include openid."
        return None

    def sign_in_page(self, tenant: str, q: dict[str, str]) -> str:
        options = "".join(
            f'<option value="{html.escape(mb.address)}">{html.escape(mb.display_name)} '
            f"&lt;{html.escape(mb.address)}&gt;</option>"
            for mb in sorted(self.state.mailboxes.values(), key=lambda m: m.address)
        )
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in q.items()
        )
        hint = html.escape(q.get("login_hint", ""))
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Sign in to your account"
            "</title><meta name='viewport' content='width=device-width, initial-scale=1'></head>"
            "<body style='font-family:sans-serif;max-width:420px;margin:3em auto'>"
            "<h1>Sign in</h1><p>crmcal sandbox tenant "
            f"<code>{html.escape(tenant)}</code></p>"
            f"<form method='post'>{hidden}"
            f"<label>Account <input name='username' list='accounts' value='{hint}' "
            "autocomplete='username' required></label>"
            f"<datalist id='accounts'>{options}</datalist>"
            "<p><button type='submit' id='idSIButton9'>Sign in</button></p></form></body></html>"
        )

    def issue_code(self, q: dict[str, str], username: str) -> str | None:
        mb = self.state.find_mailbox(username)
        if mb is None:
            return None
        code = secrets.token_urlsafe(32)
        self._codes[code] = _Grant(
            client_id=q["client_id"],
            redirect_uri=q["redirect_uri"],
            mailbox=mb.key,
            nonce=q.get("nonce"),
            scope=q.get("scope", ""),
            expires=time.monotonic() + CODE_LIFETIME_S,
        )
        return code

    # -- token -------------------------------------------------------------------------------

    def redeem(self, form: dict[str, str], issuer: str) -> tuple[int, dict[str, Any]]:
        """`grant_type=authorization_code`: (status, body) as the token endpoint answers."""
        app = self.state.apps.get(form.get("client_id", ""))
        if app is None:
            return 400, _err("unauthorized_client", 700016, "Application was not found.")
        if form.get("client_secret") != app.client_secret:
            return 401, _err("invalid_client", 7000215, "Invalid client secret provided.")
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or grant.expires < time.monotonic():
            return 400, _err("invalid_grant", 70008, "The provided authorization code is expired.")
        if grant.client_id != app.client_id or grant.redirect_uri != form.get("redirect_uri"):
            return 400, _err("invalid_grant", 50011, "The redirect URI does not match.")
        mb = self.state.mailboxes[grant.mailbox]
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": app.client_id,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + ID_TOKEN_LIFETIME_S,
            "sub": mb.id,
            "oid": mb.id,
            "tid": self.state.tenant_id,
            "name": mb.display_name,
            "preferred_username": mb.address,
            "email": mb.address,
            "ver": "2.0",
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        id_token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
        return 200, {
            "token_type": "Bearer",
            "scope": grant.scope,
            "expires_in": ID_TOKEN_LIFETIME_S,
            "access_token": secrets.token_urlsafe(32),
            "id_token": id_token,
        }

    def access_token(
        self,
        username: str,
        *,
        issuer: str,
        audience: str,
        client_id: str,
        scope: str = "access_as_user",
        lifetime_s: int = ID_TOKEN_LIFETIME_S,
    ) -> str:
        """A v2.0 delegated access token for an API (`aud`), as Entra issues one to an add-in
        through Nested App Authentication or Office SSO: `iss`, `tid`, `oid`, `scp`, `azp`,
        `preferred_username`, signed with the key of the JWKS. Tests hand it to the task pane's
        scripted host, which plays Outlook (https://learn.microsoft.com/entra/identity-platform/
        access-token-claims-reference)."""
        mb = self.state.find_mailbox(username)
        if mb is None:
            raise KeyError(username)
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_s,
            "azp": client_id,
            "azpacr": "0",
            "scp": scope,
            "sub": secrets.token_urlsafe(16),
            "oid": mb.id,
            "tid": self.state.tenant_id,
            "name": mb.display_name,
            "preferred_username": mb.address,
            "ver": "2.0",
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})


def _err(error: str, code: int, text: str) -> dict[str, Any]:
    return {"error": error, "error_description": f"AADSTS{code}: {text}", "error_codes": [code]}


def mount(app: FastAPI, state: GraphState) -> OidcProvider:
    """Add the authorize and JWKS routes; the app's token endpoint hands authorization codes to
    `OidcProvider.redeem`."""
    provider = OidcProvider(state)

    def known(tenant: str) -> bool:
        return tenant in (state.tenant_id, "organizations", "common")

    @app.get("/{tenant}/oauth2/v2.0/authorize")
    async def authorize(request: Request, tenant: str) -> Response:
        q = dict(request.query_params)
        problem = "AADSTS90002: Tenant not found." if not known(tenant) else None
        problem = problem or provider.check_request(q)
        if problem:
            return HTMLResponse(f"<p>{html.escape(problem)}</p>", status_code=400)
        return HTMLResponse(provider.sign_in_page(tenant, q))

    @app.post("/{tenant}/oauth2/v2.0/authorize")
    async def authorize_post(request: Request, tenant: str) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        username = form.pop("username", "")
        problem = "AADSTS90002: Tenant not found." if not known(tenant) else None
        problem = problem or provider.check_request(form)
        if problem:
            return HTMLResponse(f"<p>{html.escape(problem)}</p>", status_code=400)
        code = provider.issue_code(form, username)
        if code is None:
            page = provider.sign_in_page(tenant, form).replace(
                "<h1>Sign in</h1>",
                "<h1>Sign in</h1><p role='alert'>AADSTS50034: This account does not exist.</p>",
            )
            return HTMLResponse(page, status_code=200)
        params = {"code": code}
        if "state" in form:
            params["state"] = form["state"]
        sep = "&" if "?" in form["redirect_uri"] else "?"
        return RedirectResponse(form["redirect_uri"] + sep + urlencode(params), status_code=302)

    @app.get("/{tenant}/discovery/v2.0/keys")
    async def keys(tenant: str) -> Response:
        return Response(json.dumps(provider.jwks()), media_type="application/json")

    app.state.oidc = provider
    return provider
