"""Sign-in with Microsoft Entra ID: the OpenID Connect authorization-code flow (confidential
client), as Microsoft documents it for web apps.

1. `/login/entra` stores a random `state` and `nonce` in the signed session cookie and redirects to
   the authority's `authorization_endpoint` (from its `.well-known/openid-configuration`).
2. The authority redirects back to `/auth/callback?code=...&state=...`; the state must match.
3. The code is redeemed at the `token_endpoint` with the client secret (`client_secret_post`);
   the `id_token` is verified: RS256 signature against the authority's JWKS (`kid`), `iss` equal
   to the discovery document's issuer, `aud` equal to the client id, `exp`/`nbf`, and `nonce`.

The same code signs in against login.microsoftonline.com and the sandbox's Graph emulator (whose
`sandbox/graph/oidc.py` serves the same endpoints); only the authority URL differs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

from crmcal.connectors.tls import ssl_verify

DISCOVERY_TTL_S = 3600.0


class OidcError(Exception):
    """Sign-in failed; the message is safe to show (no secrets, no tokens)."""


@dataclass(frozen=True, slots=True)
class Identity:
    username: str
    name: str
    subject: str
    tenant: str


class OidcClient:
    def __init__(
        self,
        authority: str,
        client_id: str,
        client_secret: str,
        *,
        http: httpx.Client | None = None,
        verify: bool | str = True,
    ) -> None:
        self.authority = authority.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self._http = http or httpx.Client(timeout=10.0, verify=ssl_verify(verify))
        self._meta: dict[str, Any] | None = None
        self._meta_at = 0.0
        self._keys: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"OidcClient(authority={self.authority!r}, client_id={self.client_id!r})"

    def metadata(self) -> dict[str, Any]:
        if self._meta is None or time.monotonic() - self._meta_at > DISCOVERY_TTL_S:
            url = f"{self.authority}/.well-known/openid-configuration"
            try:
                r = self._http.get(url)
                r.raise_for_status()
                meta = r.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise OidcError(f"the sign-in authority did not answer: {exc}") from None
            if not isinstance(meta, dict) or "authorization_endpoint" not in meta:
                raise OidcError("the sign-in authority's discovery document is malformed")
            self._meta, self._meta_at = meta, time.monotonic()
        return self._meta

    def authorize_url(self, redirect_uri: str, state: str, nonce: str) -> str:
        q = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "response_mode": "query",
            "scope": "openid profile email",
            "state": state,
            "nonce": nonce,
        }
        return f"{self.metadata()['authorization_endpoint']}?{urlencode(q)}"

    def _key(self, kid: str) -> Any:
        if kid not in self._keys:
            try:
                r = self._http.get(str(self.metadata()["jwks_uri"]))
                r.raise_for_status()
                for k in r.json().get("keys", []):
                    self._keys[str(k.get("kid"))] = RSAAlgorithm.from_jwk(json.dumps(k))
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                raise OidcError(f"cannot read the authority's signing keys: {exc}") from None
        if kid not in self._keys:
            raise OidcError("the id_token is signed with an unknown key")
        return self._keys[kid]

    def redeem(self, code: str, redirect_uri: str, nonce: str) -> Identity:
        meta = self.metadata()
        try:
            r = self._http.post(
                str(meta["token_endpoint"]),
                data={
                    "grant_type": "authorization_code",
                    "client_id": self.client_id,
                    "client_secret": self._secret,
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "scope": "openid profile email",
                },
            )
            body = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"the token endpoint did not answer: {exc}") from None
        if r.status_code != 200 or not isinstance(body, dict) or "id_token" not in body:
            err = body.get("error_description", body.get("error")) if isinstance(body, dict) else ""
            raise OidcError(f"sign-in was refused: {err or r.status_code}")
        token = str(body["id_token"])
        try:
            header = jwt.get_unverified_header(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key=self._key(str(header.get("kid"))),
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=str(meta.get("issuer", "")),
                options={"require": ["exp", "iat", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise OidcError(f"the id_token is not valid: {exc}") from None
        if claims.get("nonce") != nonce:
            raise OidcError("the id_token's nonce does not match this sign-in")
        username = str(claims.get("preferred_username") or claims.get("email") or "").lower()
        if not username:
            raise OidcError("the id_token names no user")
        return Identity(
            username=username,
            name=str(claims.get("name", "")),
            subject=str(claims.get("oid") or ""),  # who the person is (issue 19), with tid
            tenant=str(claims.get("tid", "")),
        )
