"""A faithful local Microsoft Graph calendar emulator (api-facts A, D).

In-process::

    state = GraphState()
    state.add_user("ana@contoso.example")
    state.seed_event("ana@contoso.example", {"subject": "x", "start": {...}, "end": {...}})
    with ServerThread(create_app(state)) as srv:
        ...  # srv.url + "/v1.0" is the Graph base URL, srv.url the token authority

Over HTTP, `/_sandbox/...` seeds users and events, injects faults and reports request counts.
"""

from crmcal.sandbox.graph.app import create_app
from crmcal.sandbox.graph.state import Faults, GraphApiError, GraphState
from crmcal.sandbox.graph.tls import self_signed_cert

__all__ = ["Faults", "GraphApiError", "GraphState", "create_app", "self_signed_cert"]
