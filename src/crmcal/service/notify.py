"""I3: the mail that tells a user (and the admins) that crmcal stopped syncing for them.

A user is marked unhealthy after `org.unhealthy_after_failures` failed sessions in a row, or at
once when credentials expired (StateStore.record_outcome_in). After each cycle, every unhealthy
user whose incident has had no mail gets one, through Graph `sendMail` (the same connector and
token path as the calendar), from `org.unhealthy_mail_sender` (else the user's own mailbox) to
the user, with the admins (`org.unhealthy_mail_admins`, else `web.admins`) in Cc. The mark
(`user_health.notified_at`) is set only once the mail was accepted, and cleared by the user's next
successful session, so there is one mail per incident: none again until the user has recovered
and failed anew. A failed send is logged and tried again after the next cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from crmcal.config import Config
from crmcal.connectors.errors import ConnectorError
from crmcal.state import StateStore
from crmcal.state.models import UserHealthRow

log = logging.getLogger("crmcal.notify")


@runtime_checkable
class Mailer(Protocol):
    def send_mail(
        self,
        sender: str,
        *,
        to: Sequence[str],
        subject: str,
        text: str,
        cc: Sequence[str] = (),
        save_to_sent_items: bool = True,
    ) -> None: ...


def recipients(cfg: Config, mailbox: str) -> tuple[str, list[str], list[str]]:
    """(sender, to, cc) of the I3 mail for `mailbox`."""
    org = cfg.org
    sender = org.unhealthy_mail_sender or mailbox
    admins = [a for a in (org.unhealthy_mail_admins or cfg.web.admins) if a != mailbox.lower()]
    return sender, [mailbox], admins


def message(cfg: Config, row: UserHealthRow) -> tuple[str, str]:
    """(subject, plain text) of the I3 mail; the reason is the session's error text, which never
    holds secrets (connectors keep tokens and secrets out of messages)."""
    names = {u.mailbox: u.display_name for u in cfg.users}
    who = names.get(row.mailbox) or row.mailbox
    failures = row.consecutive_failures or 0
    subject = "crmcal: calendar sync has stopped for " + who
    text = "\n".join(
        [
            f"crmcal could not sync the calendar of {who} ({row.mailbox}) with Salesforce.",
            "",
            f"Failed sessions in a row: {failures}.",
            f"Last error: {row.unhealthy_reason or 'unknown'}",
            "",
            "Meetings will not reach Salesforce, and Salesforce changes will not reach Outlook, "
            "until this is fixed. An administrator can see the details on the crmcal dashboard.",
            "You get this mail once; crmcal writes again only if sync stops again after it has "
            "recovered.",
        ]
    )
    return subject, text


def notify_unhealthy(cfg: Config, store: StateStore, mailer: object) -> list[str]:
    """Send the I3 mail for every unhealthy user not yet told; returns the mailboxes mailed."""
    if not cfg.org.notify_unhealthy_by_email or not isinstance(mailer, Mailer):
        return []
    sent: list[str] = []
    for row in store.unhealthy_to_notify():
        sender, to, cc = recipients(cfg, row.mailbox)
        subject, text = message(cfg, row)
        try:
            mailer.send_mail(sender, to=to, cc=cc, subject=subject, text=text)
        except ConnectorError as exc:
            log.warning("I3 mail for %s could not be sent: %s", row.mailbox, exc)
            continue
        if store.mark_unhealthy_notified(row.mailbox):
            sent.append(row.mailbox)
            log.info("I3 mail sent for %s to %d recipients", row.mailbox, len(to) + len(cc))
    return sent
