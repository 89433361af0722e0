"""The sandbox as a product: every `/_sandbox/` route of both emulators is documented (docs/
sandbox.md, with an example) and in each emulator's own OpenAPI (`GET /_sandbox/openapi.json`,
separate from the real API paths), and the documented examples work as shown."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from crmcal.sandbox import control_docs
from crmcal.sandbox.control_docs import ControlRoute
from crmcal.sandbox.graph import GraphState
from crmcal.sandbox.graph import create_app as graph_app
from crmcal.sandbox.runtime import Sandbox
from crmcal.sandbox.salesforce import SalesforceOrg
from crmcal.sandbox.salesforce import create_app as salesforce_app

DOC = (Path(__file__).resolve().parents[2] / "docs" / "sandbox.md").read_text(encoding="utf-8")


def served(app: object) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for r in app.routes:  # type: ignore[attr-defined]
        if isinstance(r, APIRoute) and r.path.startswith("/_sandbox"):
            out |= {(m, r.path) for m in r.methods if m != "HEAD"}
    return out


def listed(routes: tuple[ControlRoute, ...]) -> set[tuple[str, str]]:
    return {(r.method, r.path) for r in routes}


@pytest.mark.parametrize(
    ("make", "routes"),
    [
        (lambda: graph_app(GraphState()), control_docs.GRAPH),
        (lambda: salesforce_app(SalesforceOrg()), control_docs.SALESFORCE),
    ],
    ids=["graph", "salesforce"],
)
def test_every_control_route_is_documented(make, routes) -> None:
    assert served(make()) == listed(routes)
    for method, path in listed(routes):
        assert f"#### `{method} {path}`" in DOC, f"docs/sandbox.md lacks {method} {path}"
    documented = set(re.findall(r"^#### `(GET|POST|PUT|PATCH|DELETE) (/_sandbox/\S*)`", DOC, re.M))
    assert listed(control_docs.GRAPH) | listed(control_docs.SALESFORCE) >= documented


def _replayable(r: ControlRoute) -> bool:
    return not any(p in r.path for p in ("{item_id}", "{subscription_id}", "/reset"))


def _replay(base: str, ca: str, routes: tuple[ControlRoute, ...]) -> dict[str, object]:
    import ssl

    ctx = ssl.create_default_context(cafile=ca)
    with httpx.Client(base_url=base, verify=ctx, timeout=30) as c:
        doc = c.get("/_sandbox/openapi.json").json()
        for r in routes:
            if not _replayable(r):
                continue
            path = r.path
            for k, v in r.params.items():
                path = path.replace("{" + k + "}", v)
            assert "{" not in path, r.path
            got = c.request(r.method, path, json=r.request)
            assert got.status_code == r.status, (r.method, r.path, got.text)
    return doc  # type: ignore[no-any-return]


def test_control_openapi_and_examples_over_https() -> None:
    with Sandbox() as sb:
        for base, routes in ((sb.graph_url, control_docs.GRAPH),
                             (sb.salesforce_url, control_docs.SALESFORCE)):  # fmt: skip
            doc = _replay(base, str(sb.tls.ca), routes)
            assert doc["openapi"].startswith("3.")  # type: ignore[index]
            paths = doc["paths"]  # type: ignore[index]
            assert set(paths) == {r.path for r in routes}
            assert all(p.startswith("/_sandbox/") for p in paths)
            assert sum(len(v) for v in paths.values()) == len(routes)
        assert sb.graph.find_mailbox(control_docs.ANA) is not None  # the examples did things
        assert sb.salesforce.user_by_username(control_docs.ANA) is not None
