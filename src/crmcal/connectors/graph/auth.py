"""Tokens for Graph, always through msal's `ConfidentialClientApplication` (api-facts A14, E5).

App-only tokens come from `acquire_token_for_client`; delegated tokens for group calendars (G2)
from `acquire_token_by_refresh_token`. The same code runs against Entra ID and against the
sandbox: msal refuses http authorities, so the sandbox is served over https with its own CA, which
the configuration trusts (`graph.ca_bundle`; docs/decisions/0080-https-sandbox-msal-only.md).
Tokens and secrets are never logged or put in exception messages.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import msal
import requests

from crmcal.connectors.graph.errors import GraphServiceError, GraphTokenError

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
_MICROSOFT_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.microsoft.com",
        "login.windows.net",
        "login.partner.microsoftonline.cn",
    }
)


class PinnedVerifySession(requests.Session):
    """A requests session whose `verify` (a CA bundle path) wins over `REQUESTS_CA_BUNDLE`.

    requests lets the environment's bundle replace a session's `verify`; an explicitly configured
    bundle (the sandbox's self-signed certificate, a corporate CA) must not be overridden.
    """

    def merge_environment_settings(  # type: ignore[override]
        self,
        url: str | bytes | None,
        proxies: dict[str, str] | None,
        stream: bool | None,
        verify: bool | str | None,
        cert: str | tuple[str, str] | None,
    ) -> dict[str, object]:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        settings["verify"] = self.verify
        return dict(settings)


class TokenProvider(Protocol):
    """What the client needs: a current bearer token, and a way to drop it after a 401."""

    def token(self) -> str: ...

    def invalidate(self) -> None: ...


class StaticTokenProvider:
    """A fixed token or a callable (tests, or a token obtained elsewhere)."""

    def __init__(self, source: str | Callable[[], str]) -> None:
        self._source = source

    def token(self) -> str:
        return self._source() if callable(self._source) else self._source

    def invalidate(self) -> None:
        return None

    def __repr__(self) -> str:
        return "StaticTokenProvider(<hidden>)"


class MsalTokenProvider:
    """`msal.ConfidentialClientApplication.acquire_token_for_client`, one long-lived app."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        authority_url: str = "https://login.microsoftonline.com",
        verify: bool | str = True,
        scope: str = GRAPH_SCOPE,
        timeout: float = 30.0,
    ) -> None:
        self._tenant_id = tenant_id
        self._client_id = client_id
        self._secret = client_secret
        self._authority = authority_url.rstrip("/") + "/" + tenant_id
        self._known = (urlsplit(authority_url).hostname or "") in _MICROSOFT_HOSTS
        self._verify = verify
        self._scope = scope
        self._timeout = timeout
        self._app: msal.ConfidentialClientApplication | None = None
        self._session: requests.Session | None = None
        self._lock = threading.Lock()

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            session: requests.Session = (
                PinnedVerifySession() if isinstance(self._verify, str) else requests.Session()
            )
            session.verify = self._verify
            self._session = session
            try:
                if self._known:
                    self._app = msal.ConfidentialClientApplication(
                        self._client_id,
                        authority=self._authority,
                        client_credential=self._secret,
                        token_cache=msal.TokenCache(),
                        verify=self._verify,
                        timeout=self._timeout,
                        http_client=session,
                    )
                else:
                    # A private authority (the sandbox, a proxy): no instance discovery against
                    # login.microsoftonline.com, and no validation of the host.
                    self._app = msal.ConfidentialClientApplication(
                        self._client_id,
                        authority=self._authority,
                        client_credential=self._secret,
                        token_cache=msal.TokenCache(),
                        validate_authority=False,
                        instance_discovery=False,
                        verify=self._verify,
                        timeout=self._timeout,
                        http_client=session,
                    )
            except ValueError as e:
                raise GraphTokenError(f"token authority {self._authority} refused: {e}") from e
            except OSError as e:
                raise GraphServiceError(f"token authority {self._authority} unreachable") from e
        return self._app

    def token(self) -> str:
        with self._lock:
            app = self._application()
            try:
                result = app.acquire_token_for_client(scopes=[self._scope])
            except OSError as e:
                raise GraphServiceError("token endpoint unreachable") from e
        return _access_token(result, "token")

    def close(self) -> None:
        """Close msal's HTTP session (keep-alive connections to the authority)."""
        with self._lock:
            if self._session is not None:
                self._session.close()

    def invalidate(self) -> None:
        """Drop cached access tokens so the next `token()` asks the identity platform again."""
        with self._lock:
            if self._app is None:
                return
            cache = self._app.token_cache
            for at in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(at)

    def __repr__(self) -> str:
        return f"MsalTokenProvider(authority={self._authority!r}, client_id={self._client_id!r})"


GROUP_DELEGATED_SCOPE = "https://graph.microsoft.com/Group.Read.All"
"""G2: group calendars answer delegated tokens only (api-facts A12); msal adds `offline_access`
(and `openid profile`) itself and refuses them in the list."""


class DelegatedRefreshToken(MsalTokenProvider):
    """Delegated access from a user's refresh token, through msal's
    `acquire_token_by_refresh_token`, for the Graph paths that refuse application permissions:
    Microsoft 365 group calendars (G2, api-facts A12).

    The identity platform may rotate the refresh token; the newest one is kept in memory (the
    configured one stays valid for its lifetime; decision 0053). The access token is reused until
    five minutes before it expires."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        authority_url: str = "https://login.microsoftonline.com",
        verify: bool | str = True,
        scope: str = GROUP_DELEGATED_SCOPE,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            authority_url=authority_url,
            verify=verify,
            scope=scope,
            timeout=timeout,
        )
        self._refresh = refresh_token
        self._token: str | None = None
        self._expires = 0.0

    def token(self) -> str:
        with self._lock:
            if self._token and time.monotonic() < self._expires:
                return self._token
            app = self._application()
            try:
                result = app.acquire_token_by_refresh_token(self._refresh, scopes=[self._scope])
            except OSError as e:
                raise GraphServiceError("token endpoint unreachable") from e
            token = _access_token(result, "delegated token")
            if isinstance(result.get("refresh_token"), str):
                self._refresh = str(result["refresh_token"])
            self._token = token
            self._expires = time.monotonic() + max(int(result.get("expires_in", 3599)) - 300, 30)
            return token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None
        super().invalidate()

    def __repr__(self) -> str:
        return (
            f"DelegatedRefreshToken(authority={self._authority!r}, client_id={self._client_id!r})"
        )


def _access_token(result: Any, what: str) -> str:
    """The access token of an msal answer, or GraphTokenError with the error code (no secrets)."""
    if not isinstance(result, dict) or "access_token" not in result:
        err = result.get("error", "unknown") if isinstance(result, dict) else "unknown"
        desc = result.get("error_description", "") if isinstance(result, dict) else ""
        raise GraphTokenError(f"{what} request failed: {err}: {desc}", code=str(err))
    return str(result["access_token"])


def default_token_provider(
    *,
    tenant_id: str,
    client_id: str,
    client_secret: str,
    authority_url: str,
    verify: bool | str = True,
) -> TokenProvider:
    """msal's client-credentials flow, for Entra ID and the sandbox alike (http is refused)."""
    if urlsplit(authority_url).scheme != "https":
        raise GraphTokenError(
            f"token authority {authority_url} refused: msal accepts only https authorities "
            "(the sandbox serves https with its own CA; set graph.ca_bundle)",
            code="insecure_authority",
        )
    return MsalTokenProvider(
        tenant_id=tenant_id,
        client_id=client_id,
        client_secret=client_secret,
        authority_url=authority_url,
        verify=verify,
    )
