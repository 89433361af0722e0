"""Server-to-server OAuth for Salesforce (api-facts B7): JWT bearer and client credentials.

Tokens, secrets and keys are never logged or put into exception messages (SPEC Y1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import httpx
import jwt

from crmcal.connectors.salesforce.errors import (
    SalesforceAuthError,
    SalesforceBadResponse,
    SalesforceTransientError,
)

AuthMode = Literal["jwt", "client_credentials"]
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class AccessToken:
    access_token: str = field(repr=False)
    instance_url: str
    user_url: str = ""
    issued_at: float = 0.0


@dataclass(frozen=True)
class OAuthConfig:
    login_url: str
    """``https://login.salesforce.com``, ``https://test.salesforce.com`` or the My Domain URL."""
    client_id: str
    mode: AuthMode
    username: str | None = None
    private_key: str | bytes | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    audience: str | None = None
    """JWT ``aud``; defaults to ``login_url`` (login/test.salesforce.com or the community URL)."""
    assertion_lifetime: int = 180

    def __post_init__(self) -> None:
        if self.mode == "jwt" and (not self.username or not self.private_key):
            raise ValueError("JWT bearer auth needs username and private_key")
        if self.mode == "client_credentials" and not self.client_secret:
            raise ValueError("client credentials auth needs client_secret")


def jwt_assertion(cfg: OAuthConfig, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": cfg.client_id,
        "sub": cfg.username,
        "aud": cfg.audience or cfg.login_url.rstrip("/"),
        "exp": issued + cfg.assertion_lifetime,
    }
    assert cfg.private_key is not None
    return jwt.encode(claims, cfg.private_key, algorithm="RS256")


def fetch_token(cfg: OAuthConfig, http: httpx.Client, *, timeout: float = 30.0) -> AccessToken:
    url = cfg.login_url.rstrip("/") + "/services/oauth2/token"
    if cfg.mode == "jwt":
        form = {"grant_type": JWT_GRANT, "assertion": jwt_assertion(cfg)}
    else:
        assert cfg.client_secret is not None
        form = {
            "grant_type": "client_credentials",
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
        }
    try:
        resp = http.post(url, data=form, timeout=timeout)
    except httpx.HTTPError as e:
        raise SalesforceTransientError(f"token request failed: {type(e).__name__}") from None
    try:
        data = resp.json()
    except ValueError:
        data = None
    if resp.status_code >= 500:
        raise SalesforceTransientError("token endpoint unavailable", status=resp.status_code)
    if resp.status_code != 200 or not isinstance(data, dict):
        err = data.get("error") if isinstance(data, dict) else None
        desc = data.get("error_description") if isinstance(data, dict) else None
        raise SalesforceAuthError(
            f"token request refused: {desc or 'no description'}",
            status=resp.status_code,
            code=str(err) if err else None,
        )
    tok, inst = data.get("access_token"), data.get("instance_url")
    if not isinstance(tok, str) or not isinstance(inst, str):
        raise SalesforceBadResponse("token response lacks access_token/instance_url")
    issued = data.get("issued_at")
    return AccessToken(
        tok,
        inst.rstrip("/"),
        str(data.get("id") or ""),
        int(issued) / 1000 if isinstance(issued, str) and issued.isdigit() else time.time(),
    )
