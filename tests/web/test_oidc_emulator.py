"""The Graph emulator's OpenID Connect endpoints (sandbox sign-in for the dashboard): codes are
single-use and bound to the client and redirect URI; id_tokens verify against the JWKS."""

from __future__ import annotations

import json

import jwt
from jwt.algorithms import RSAAlgorithm

from crmcal.sandbox.graph.oidc import OidcProvider
from crmcal.sandbox.graph.state import GraphState

ISS = "http://127.0.0.1:1/tenant/v2.0"


def _flow(st: GraphState, p: OidcProvider, **over: str) -> dict[str, str]:
    q = {
        "client_id": st.client_id,
        "response_type": "code",
        "redirect_uri": "http://127.0.0.1:9/auth/callback",
        "scope": "openid profile email",
        "nonce": "n-1",
        "state": "s-1",
    }
    assert p.check_request(q) is None
    code = p.issue_code(q, "ann@contoso.example")
    assert code is not None
    return {
        "grant_type": "authorization_code",
        "client_id": st.client_id,
        "client_secret": st.client_secret,
        "code": code,
        "redirect_uri": q["redirect_uri"],
        **over,
    }


def test_y2_oidc_codes_single_use_and_id_token_signed() -> None:
    st = GraphState()
    st.add_user("ann@contoso.example", "Ann")
    p = OidcProvider(st)
    form = _flow(st, p)
    status, body = p.redeem(form, ISS)
    assert status == 200
    [jwk] = p.jwks()["keys"]
    key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    claims = jwt.decode(
        body["id_token"], key=key, algorithms=["RS256"], audience=st.client_id, issuer=ISS
    )  # type: ignore[arg-type]
    assert claims["preferred_username"] == "ann@contoso.example" and claims["nonce"] == "n-1"
    assert p.redeem(form, ISS)[0] == 400  # a code works once
    assert p.redeem(_flow(st, p, client_secret="wrong"), ISS)[0] == 401
    assert p.redeem(_flow(st, p, redirect_uri="http://127.0.0.1:9/other"), ISS)[0] == 400
    assert p.issue_code({"client_id": st.client_id}, "nobody@contoso.example") is None
    assert p.check_request({"client_id": "unknown", "response_type": "code"}) is not None
