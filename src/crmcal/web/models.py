"""The HTTP API's request and response bodies (published in `/openapi.json`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Me(_Body):
    username: str
    is_admin: bool
    mailbox: str | None


class SaveRequest(_Body):
    """M2: share an item with a chosen Name and Related To, or change them on a shared item."""

    item_id: str = Field(min_length=1, max_length=512, description="The Graph event id.")
    mailbox: str | None = Field(
        default=None, description="Whose calendar (admins only; users always act on their own)."
    )
    who_id: str | None = Field(
        default=None, max_length=18, pattern=r"^[0-9A-Za-z]{15}([0-9A-Za-z]{3})?$",
        description="Name: a Contact or Lead Id.",
    )  # fmt: skip
    what_id: str | None = Field(
        default=None, max_length=18, pattern=r"^[0-9A-Za-z]{15}([0-9A-Za-z]{3})?$",
        description="Related To: an Account, Opportunity or other object that owns activities.",
    )  # fmt: skip


class SaveStatus(StrEnum):
    QUEUED = "queued"
    UPDATED = "updated"


class SaveResponse(_Body):
    status: SaveStatus
    item_id: str
    event_id: str | None
    who_id: str | None
    what_id: str | None
    message: str


class RecordKind(StrEnum):
    WHO = "who"
    WHAT = "what"


class Record(_Body):
    id: str
    type: str
    name: str
    email: str = ""
    account_id: str | None = None


class IssueAction(StrEnum):
    RETRY = "retry"
    SHARE_ANYWAY = "share_anyway"
    CREATE_RECORD = "create_record"
    CONFIRM_DELETE = "confirm_delete"
    """X7: carry out the deletions the mass-delete guard held (the CLI's --allow-mass-delete)."""
    DISMISS = "dismiss"


class ActionRequest(_Body):
    action: IssueAction
    who_id: str | None = Field(default=None, max_length=18, description="For share_anyway.")
    what_id: str | None = Field(default=None, max_length=18, description="For share_anyway.")


class Issue(_Body):
    id: int
    mailbox: str
    reason: str
    message: str
    item_id: str | None
    subject: str
    item_start: datetime | None
    web_link: str | None
    event_id: str | None
    event_url: str | None
    first_seen: datetime
    last_seen: datetime
    actions: list[str]


class ActionResult(_Body):
    issue_id: int
    action: IssueAction
    resolved: bool
    message: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Session(_Body):
    id: int
    mailbox: str | None
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    stats: dict[str, Any]
    error: str | None


class UserHealth(_Body):
    mailbox: str
    display_name: str
    enabled: bool
    paused: bool
    last_success_at: datetime | None
    last_failure_at: datetime | None
    consecutive_failures: int
    unhealthy: bool
    unhealthy_reason: str | None
    open_issues: int


class PauseRequest(_Body):
    paused: bool


class Health(_Body):
    status: str
    users: list[UserHealth]
    salesforce_api_used: int | None = None
    salesforce_api_max: int | None = None


class SiblingEvent(_Body):
    event_id: str
    owner_id: str
    owner: str
    mailboxes: list[str]


class Siblings(_Body):
    guid: str
    subject: str
    events: list[SiblingEvent]


class Error(_Body):
    """An error answer (401, 403, 404, 409, 429, 502)."""

    detail: str
