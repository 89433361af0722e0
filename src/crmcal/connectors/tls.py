"""Which certificates crmcal's HTTP clients trust: the system store, or a configured CA bundle.

`graph.ca_bundle` / `salesforce.ca_bundle` name a PEM file that replaces the system store for that
side (a company's TLS-inspecting proxy, or the sandbox's own CA). httpx gets an `SSLContext` made
from exactly that file, so neither `SSL_CERT_FILE` nor certifi can widen or override it; msal's
requests session gets the path, pinned against `REQUESTS_CA_BUNDLE` (`PinnedVerifySession`).
"""

from __future__ import annotations

import ssl
from pathlib import Path

Verify = bool | str
"""What the connectors accept: True (system store), or the path of a PEM CA bundle."""


def verify_of(ca_bundle: Path | str | None) -> Verify:
    """The `verify` value for a configured CA bundle (None: the system store)."""
    return str(ca_bundle) if ca_bundle else True


def ssl_verify(verify: Verify) -> bool | ssl.SSLContext:
    """httpx's `verify`: an SSLContext that trusts exactly the bundle, or the default."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify
