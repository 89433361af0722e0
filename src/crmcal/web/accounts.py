"""Dashboard accounts (table `web_accounts`): local sign-in, Entra ID sign-in, API tokens."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from crmcal.state import StateStore
from crmcal.state.models import utcnow
from crmcal.state.models_web import WebAccountRow
from crmcal.web.security import hash_password, new_token, token_hash, verify_password


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking (Y2): an admin sees everything, a user only their own mailbox."""

    account_id: int
    username: str
    is_admin: bool
    mailbox: str | None

    def may_see(self, mailbox: str | None) -> bool:
        return self.is_admin or (mailbox is not None and mailbox == self.mailbox)


def _principal(row: WebAccountRow) -> Principal:
    return Principal(row.id, row.username, row.is_admin, row.mailbox)


def norm(name: str) -> str:
    return name.strip().lower()


def add_account(
    store: StateStore,
    username: str,
    *,
    password: str | None = None,
    is_admin: bool = False,
    mailbox: str | None = None,
) -> Principal:
    """Create or update a local account (a new password replaces the old one)."""
    name = norm(username)
    if not name:
        raise ValueError("the username is empty")
    if password is not None and len(password) < MIN_PASSWORD:
        raise ValueError(f"the password is shorter than {MIN_PASSWORD} characters")
    with store.session() as s:
        row = s.scalars(select(WebAccountRow).where(WebAccountRow.username == name)).first()
        if row is None:
            row = WebAccountRow(username=name)
            s.add(row)
        if password is not None:
            row.password_hash = hash_password(password)
        row.is_admin = is_admin
        row.mailbox = norm(mailbox) if mailbox else None
        s.flush()
        return _principal(row)


MIN_PASSWORD = 8
"""The shortest local password `add_account` takes (issue 19; NIST SP 800-63B section 5.1.1.2)."""

_DUMMY_HASH = hash_password("crmcal timing parity, never a real password")


def authenticate(store: StateStore, username: str, password: str) -> Principal | None:
    """The account when the password matches. An unknown user, or one without a password, costs
    the same scrypt run as a known one (timing parity: the time does not tell who exists)."""
    with store.session() as s:
        row = s.scalars(
            select(WebAccountRow).where(WebAccountRow.username == norm(username))
        ).first()
        stored = row.password_hash if row is not None and row.password_hash else None
        ok = verify_password(password or "-", stored or _DUMMY_HASH)
        if row is None or stored is None or not ok:
            return None
        row.last_login_at = utcnow()
        return _principal(row)


class NotThisPerson(Exception):
    """The address belongs to an account bound to another Entra ID identity."""


def sign_in_external(
    store: StateStore,
    username: str,
    *,
    is_admin: bool,
    mailbox: str | None,
    tid: str = "",
    oid: str = "",
) -> Principal:
    """An Entra ID sign-in: the person is who `tid` and `oid` say (issue 19), never their
    `preferred_username`, which a tenant admin can give to someone else.

    An account bound to (`tid`, `oid`) is that person's, whatever address they sign in with now.
    Else an account with the address that is bound to no one yet is bound now (first sign-in);
    one bound to another person raises `NotThisPerson`. A new account is made otherwise.
    An account that only signs in through Entra takes its admin flag from `web.admins` at every
    sign-in (removing someone from the list takes the rights away); a local account's own admin
    flag stays."""
    name = norm(username)
    with store.session() as s:
        row = None
        if tid and oid:
            row = s.scalars(
                select(WebAccountRow).where(
                    WebAccountRow.entra_tid == tid, WebAccountRow.entra_oid == oid
                )
            ).first()
        if row is None:
            row = s.scalars(select(WebAccountRow).where(WebAccountRow.username == name)).first()
            if row is not None and row.entra_oid and (row.entra_tid, row.entra_oid) != (tid, oid):
                raise NotThisPerson(name)
        if row is None:
            row = WebAccountRow(username=name, is_admin=is_admin, mailbox=mailbox)
            s.add(row)
        else:
            row.is_admin = is_admin if row.password_hash is None else (row.is_admin or is_admin)
            row.mailbox = row.mailbox or mailbox
        if tid and oid:
            row.entra_tid, row.entra_oid = tid, oid
        row.last_login_at = utcnow()
        s.flush()
        return _principal(row)


def by_id(store: StateStore, account_id: int) -> Principal | None:
    with store.session() as s:
        row = s.get(WebAccountRow, account_id)
        return _principal(row) if row is not None else None


def by_token(store: StateStore, token: str) -> Principal | None:
    if not token:
        return None
    with store.session() as s:
        row = s.scalars(
            select(WebAccountRow).where(WebAccountRow.api_token_hash == token_hash(token))
        ).first()
        return _principal(row) if row is not None else None


def issue_token(store: StateStore, username: str) -> str:
    """A new API token for the account (the old one stops working); shown once."""
    token = new_token()
    with store.session() as s:
        row = s.scalars(
            select(WebAccountRow).where(WebAccountRow.username == norm(username))
        ).first()
        if row is None:
            raise KeyError(username)
        row.api_token_hash = token_hash(token)
    return token


def list_accounts(store: StateStore) -> list[Principal]:
    with store.session() as s:
        return [
            _principal(r) for r in s.scalars(select(WebAccountRow).order_by(WebAccountRow.username))
        ]


def time_zone(store: StateStore, account_id: int) -> str | None:
    with store.session() as s:
        row = s.get(WebAccountRow, account_id)
        return row.time_zone if row is not None else None


def set_time_zone(store: StateStore, account_id: int, zone: str | None) -> None:
    with store.session() as s:
        row = s.get(WebAccountRow, account_id)
        if row is not None:
            row.time_zone = zone
