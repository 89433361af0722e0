"""Who is using the Outlook add-in (M7, Y2): an Entra access token for crmcal's API, or a crmcal
API token.

Exchange Online: the task pane gets an access token with Nested App Authentication
(`@azure/msal-browser`'s nestable client; Office SSO's `Office.auth.getAccessToken` as the
fallback) for the scope `api://<public host>/<client id>/access_as_user` of crmcal's own app
registration (`web.oidc_client_id`). crmcal validates it as Microsoft documents for a protected web
API (https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-tokens):

- RS256 signature with a key of the authority's JWKS (`jwks_uri` of the discovery document of
  `web.oidc_authority`), chosen by the header's `kid`;
- `iss` equal to the discovery document's `issuer` (a `{tenantid}` template filled with `tid`);
- `aud` equal to the client id or to `api://<public host>/<client id>`;
- `tid` equal to the tenant of the issuer; `oid` present (the user's object id);
- `scp` containing `access_as_user` (a delegated token, never an app-only one);
- `exp`/`nbf`/`iat` (60 s leeway).

The user is `preferred_username` (else `upn`), which must be a crmcal user's mailbox.

On-premises (Exchange Server has no Entra): a personal crmcal API token (`crmcal users token`),
entered once in the pane and kept in the add-in's roaming settings; checked like any API token.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

from crmcal.connectors.tls import ssl_verify

SCOPE = "access_as_user"
KEYS_TTL_S = 3600.0
LEEWAY_S = 60


class TokenError(Exception):
    """The token is not acceptable; the message is safe to show (it never holds the token)."""


@dataclass(frozen=True, slots=True)
class EntraUser:
    username: str
    object_id: str
    tenant_id: str


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


class EntraTokens:
    """Validates Entra access tokens for crmcal's API against one authority's keys."""

    def __init__(
        self,
        authority: str,
        client_id: str,
        *,
        public_url: str | None,
        verify: bool | str = True,
        http: httpx.Client | None = None,
    ) -> None:
        self.authority = authority.rstrip("/")
        self.client_id = client_id
        host = urlsplit(public_url).netloc if public_url else ""
        self.audiences = [client_id] + ([f"api://{host}/{client_id}"] if host else [])
        self._http = http or httpx.Client(timeout=10.0, verify=ssl_verify(verify))
        self._meta: dict[str, Any] | None = None
        self._keys: dict[str, Any] = {}
        self._keys_at = 0.0

    def __repr__(self) -> str:
        return f"EntraTokens(authority={self.authority!r}, client_id={self.client_id!r})"

    def _metadata(self) -> dict[str, Any]:
        if self._meta is None:
            try:
                r = self._http.get(f"{self.authority}/.well-known/openid-configuration")
                r.raise_for_status()
                meta = r.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise TokenError(f"Entra ID did not answer: {exc}") from None
            if not isinstance(meta, dict) or "jwks_uri" not in meta or "issuer" not in meta:
                raise TokenError("Entra ID's discovery document is malformed")
            self._meta = meta
        return self._meta

    def _key(self, kid: str) -> Any:
        stale = time.monotonic() - self._keys_at > KEYS_TTL_S
        if kid not in self._keys or stale:  # keys roll over: re-read on an unknown kid
            try:
                r = self._http.get(str(self._metadata()["jwks_uri"]))
                r.raise_for_status()
                keys = {
                    str(k.get("kid")): RSAAlgorithm.from_jwk(json.dumps(k))
                    for k in r.json().get("keys", [])
                }
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                raise TokenError(f"cannot read Entra ID's signing keys: {exc}") from None
            self._keys, self._keys_at = keys, time.monotonic()
        if kid not in self._keys:
            raise TokenError("the token is signed with a key Entra ID does not publish")
        return self._keys[kid]

    def validate(self, token: str) -> EntraUser:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("the token is not a JWT") from None
        if header.get("alg") != "RS256":
            raise TokenError("the token is not signed with RS256")
        tid = str(unverified.get("tid") or "")
        issuer = str(self._metadata()["issuer"]).replace("{tenantid}", tid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=self._key(str(header.get("kid"))),
                algorithms=["RS256"],
                audience=self.audiences,
                issuer=issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "nbf", "aud", "iss", "tid", "oid"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"the token is not valid: {exc}") from None
        if tid not in urlsplit(issuer).path.split("/"):
            raise TokenError("the token's tenant (tid) is not the issuer's tenant")
        if SCOPE not in str(claims.get("scp", "")).split():
            raise TokenError(f"the token lacks the delegated scope {SCOPE}")
        username = str(claims.get("preferred_username") or claims.get("upn") or "").lower()
        if not username:
            raise TokenError("the token names no user")
        return EntraUser(username=username, object_id=str(claims["oid"]), tenant_id=tid)

    def close(self) -> None:
        self._http.close()
