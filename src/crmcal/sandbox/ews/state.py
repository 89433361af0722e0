"""What the EWS emulator keeps besides the shared mailboxes: service accounts and their
impersonation right, SyncFolderItems states, CategoryList user configurations, faults."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from crmcal.sandbox.graph.state import GraphState


@dataclass
class ServiceAccount:
    username: str
    """`DOMAIN\\user` or a UPN, as Basic/NTLM credentials name it."""
    password: str
    address: str
    impersonation: bool = True
    """Holds the ApplicationImpersonation management role (New-ManagementRoleAssignment)."""


@dataclass
class SyncState:
    mailbox: str
    known: dict[str, str]
    """Item id -> version the client has seen (singles and recurring masters)."""


@dataclass
class EwsFaults:
    server_busy_next: int = 0
    """The next N requests get the ErrorServerBusy SOAP fault."""
    back_off_ms: int = 1500
    """BackOffMilliseconds in those faults."""


@dataclass
class EwsState:
    """The on-premises side of an org: its mailboxes live in `graph` (the shared model) and are
    listed in `mailboxes`; only those are reachable here, and the Graph emulator refuses them."""

    graph: GraphState
    accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    mailboxes: set[str] = field(default_factory=set)
    sync_states: dict[str, SyncState] = field(default_factory=dict)
    category_lists: set[str] = field(default_factory=set)
    """Mailboxes whose calendar folder has a CategoryList user configuration."""
    faults: EwsFaults = field(default_factory=EwsFaults)
    calls: dict[str, int] = field(default_factory=dict)
    """Operations served, by name (benchmarks and tests count EWS calls)."""

    def __post_init__(self) -> None:
        self.graph.ews_mailboxes = self.mailboxes

    def add_account(
        self, username: str, password: str, address: str, *, impersonation: bool = True
    ) -> ServiceAccount:
        acct = ServiceAccount(username, password, address.strip().lower(), impersonation)
        self.accounts[username.lower()] = acct
        return acct

    def add_mailbox(self, address: str, display_name: str = "") -> str:
        """An on-premises mailbox (created in the shared model, served only through EWS)."""
        mb = self.graph.add_user(address, display_name)
        self.mailboxes.add(mb.key)
        return mb.key

    def new_sync_state(self, st: SyncState) -> str:
        token = "H4sIAAAAAAAEAO29B2AcSZYlJi9tynt" + secrets.token_urlsafe(32)
        self.sync_states[token] = st
        return token

    def expire_sync_states(self) -> int:
        n = len(self.sync_states)
        self.sync_states.clear()
        return n

    def count(self, op: str) -> None:
        self.calls[op] = self.calls.get(op, 0) + 1
