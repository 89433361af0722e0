"""SOAP 1.1 envelopes, EWS namespaces, ResponseCode answers and SOAP faults.

Shapes follow the EWS reference:
- response messages: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsemessages
  (`ResponseClass` Success/Warning/Error, `m:ResponseCode`, `m:MessageText`, `m:DescriptiveLinkKey`)
- ResponseCode values: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode
- ErrorServerBusy as a SOAP fault with `BackOffMilliseconds` in `t:MessageXml`:
  https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange
- ServerVersionInfo header: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/serverversioninfo
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"

# Exchange Server 2019 CU14 / Subscription Edition report schema V2017_07_11 (build 15.2).
SERVER_VERSION = (
    '<h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1544" '
    'MinorBuildNumber="4" Version="V2017_07_11" '
    'xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" '
    'xmlns="http://schemas.microsoft.com/exchange/services/2006/types" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
)
REQUEST_VERSIONS = frozenset(
    {
        "Exchange2007",
        "Exchange2007_SP1",
        "Exchange2010",
        "Exchange2010_SP1",
        "Exchange2010_SP2",
        "Exchange2013",
        "Exchange2013_SP1",
        "Exchange2015",
        "Exchange2016",
        "V2015_10_05",
        "V2016_01_06",
        "V2016_04_13",
        "V2016_07_13",
        "V2016_10_10",
        "V2017_04_14",
        "V2017_07_11",
    }
)


def t(name: str) -> str:
    return f"{{{T}}}{name}"


def m(name: str) -> str:
    return f"{{{M}}}{name}"


def text(s: object) -> str:
    return escape(str(s))


def attr(s: object) -> str:
    return escape(str(s), {'"': "&quot;"})


def envelope(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}"><s:Header>{SERVER_VERSION}</s:Header>'
        f'<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xmlns:xsd="http://www.w3.org/2001/XMLSchema">{body}</s:Body></s:Envelope>'
    )


def response(operation: str, messages: list[str]) -> str:
    return (
        f'<m:{operation}Response xmlns:m="{M}" xmlns:t="{T}"><m:ResponseMessages>'
        + "".join(messages)
        + f"</m:ResponseMessages></m:{operation}Response>"
    )


def ok(operation: str, inner: str = "") -> str:
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Success">'
        f"<m:ResponseCode>NoError</m:ResponseCode>{inner}</m:{operation}ResponseMessage>"
    )


def error(operation: str, code: str, message: str, inner: str = "") -> str:
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Error">'
        f"<m:MessageText>{text(message)}</m:MessageText>"
        f"<m:ResponseCode>{text(code)}</m:ResponseCode>"
        f"<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{inner}</m:{operation}ResponseMessage>"
    )


def fault(code: str, message: str, *, back_off_ms: int | None = None, client: bool = True) -> str:
    """A SOAP fault as Exchange sends it for request-level errors (throttling, impersonation,
    schema). `faultcode` is the EWS code in the types namespace, the detail repeats it."""
    extra = ""
    if back_off_ms is not None:
        extra = (
            f'<t:MessageXml xmlns:t="{T}">'
            f'<t:Value Name="BackOffMilliseconds">{back_off_ms}</t:Value></t:MessageXml>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}"><s:Body><s:Fault>'
        f'<faultcode xmlns:a="{T}">a:{text(code)}</faultcode>'
        f'<faultstring xml:lang="en-US">{text(message)}</faultstring>'
        f'<detail><e:ResponseCode xmlns:e="{E}">{text(code)}</e:ResponseCode>'
        f'<e:Message xmlns:e="{E}">{text(message)}</e:Message>{extra}</detail>'
        "</s:Fault></s:Body></s:Envelope>"
    )


class EwsFault(Exception):
    """A request-level error answered as a SOAP fault (HTTP 500, as Exchange does)."""

    def __init__(self, code: str, message: str, back_off_ms: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.back_off_ms = back_off_ms


class ItemFault(Exception):
    """A per-item error: one ResponseMessage with ResponseClass="Error"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse(body: bytes) -> ET.Element:
    """The request envelope. DTDs and entities are refused (Exchange refuses them too)."""
    if b"<!DOCTYPE" in body[:2048] or b"<!ENTITY" in body:
        raise EwsFault("ErrorSchemaValidation", "The request failed schema validation: DTD.")
    try:
        return ET.fromstring(body)  # noqa: S314 - no DTD or entities (refused above)
    except ET.ParseError as e:
        raise EwsFault(
            "ErrorSchemaValidation", f"The request failed schema validation: {e}."
        ) from e


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def child_text(el: ET.Element | None, name: str) -> str | None:
    if el is None:
        return None
    c = el.find(t(name))
    return c.text if c is not None else None
