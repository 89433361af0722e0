"""`crmcal doctor`'s EWS checks: the URL, the certificate, the credentials, and impersonation of
one mailbox, each named when it is what is wrong (issue 20)."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from exchangelib import errors as x
from exchangelib.folders import Calendar

from crmcal.connectors.ews.client import EwsClient

ROLE_HINT = (
    "New-ManagementRoleAssignment -Name crmcal-impersonation -Role ApplicationImpersonation "
    "-User <service account>"
)


@dataclass(frozen=True)
class Probe:
    area: str
    ok: bool
    detail: str


def probe(
    client: EwsClient, mailbox: str, *, ca_bundle: str | None, timeout: float = 10.0
) -> list[Probe]:
    out: list[Probe] = []
    url = client.ews_url or ""
    if not url:
        return [Probe("EWS URL", True, "found by Autodiscover (not probed here)")]
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme != "https":
        out.append(Probe("EWS URL", False, f"{url}: not https (credentials would travel in clear)"))
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            out.append(Probe("EWS URL", True, f"{host}:{port} answers"))
            if parts.scheme == "https":
                ctx = ssl.create_default_context(cafile=ca_bundle)
                try:
                    with ctx.wrap_socket(sock, server_hostname=host):
                        pass
                    out.append(Probe("EWS certificate", True, "trusted"))
                except ssl.SSLCertVerificationError as e:
                    hint = "" if ca_bundle else " (set exchange.ca_bundle to your CA's PEM file)"
                    out.append(
                        Probe("EWS certificate", False, f"not trusted: {e.verify_message}{hint}")
                    )
                    return out
    except OSError as e:
        out.append(Probe("EWS URL", False, f"{host}:{port} cannot be reached: {e}"))
        return out
    acct, cal = client._account(mailbox)
    try:
        Calendar.get_distinguished(root=cal.root)
    except x.UnauthorizedError:
        out.append(
            Probe("EWS credentials", False, "refused (401): check exchange.username/password")
        )
        return out
    except (x.ErrorImpersonateUserDenied, x.ErrorImpersonationDenied) as e:
        out.append(Probe("EWS credentials", True, "accepted"))
        out.append(Probe("EWS impersonation", False, f"{mailbox}: {e}. Grant it: {ROLE_HINT}"))
        return out
    except x.ErrorNonExistentMailbox:
        out.append(Probe("EWS credentials", True, "accepted"))
        out.append(
            Probe("EWS mailbox", False, f"{mailbox} has no mailbox on this server (on Graph?)")
        )
        return out
    except (x.EWSError, OSError) as e:
        out.append(Probe("EWS", False, f"{type(e).__name__}: {e}"))
        return out
    out.append(Probe("EWS credentials", True, "accepted"))
    out.append(Probe("EWS impersonation", True, f"{mailbox}'s calendar is reachable"))
    del acct
    return out
