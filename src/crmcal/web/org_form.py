"""The org settings page in an admin's words (issue 19): the fields grouped by what they are
about, each with a plain-language label and help (the rule IDs stay in the configuration
reference, docs/configuration.md), and the switches that delete, mail or overwrite things
confirmed before they are saved (decision 0132)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

from crmcal.domain.settings import AutoCreate, Direction, OrgSettings, UserSettings
from crmcal.web.overrides import FormField

# name: (label, help)
WORDS: dict[str, tuple[str, str]] = {
    "internal_domains": ("Your company's e-mail domains",
        "Addresses in these domains are colleagues; everyone else is a customer or partner."),
    "window_past_days": ("Days back",
        "How far into the past crmcal looks at calendars."),
    "window_future_days": ("Days ahead",
        "How far into the future crmcal looks at calendars."),
    "backfill_on_enable": ("Share existing meetings when a user is switched on",
        "When someone starts using crmcal, their meetings already in the window are shared "
        "too, not only new ones."),
    "autoshare_private": ("Auto-share private meetings",
        "Let automatic sharing take meetings marked private, confidential or personal. Off: "
        "only the user's own Save shares them."),
    "autoshare_internal": ("Auto-share internal meetings",
        "Let automatic sharing take meetings where everyone is a colleague."),
    "blocklist": ("Never share with",
        "Meetings with these addresses or domains are never shared automatically."),
    "block_free_mail_domains": ("Treat free-mail domains as blocked",
        "Gmail, Outlook.com and the like count as on the list above."),
    "share_unlinked": ("Share meetings with no matching record",
        "Share a meeting even when no Contact, Lead or Account was found for its participants."),
    "safe_description": ("Copy the meeting text once only",
        "The meeting's text goes to Salesforce when it is first shared; later edits in Outlook "
        "are not copied over."),
    "description_participants_header": ("Start the description with From and To lines",
        "The Event's description begins with who organised the meeting and who was invited."),
    "event_defaults": ("Values for new Events",
        "Other Event fields to fill when crmcal creates an Event, as JSON."),
    "guid_field": ("Event field that holds the meeting's id",
        "`ClientGuid`, or a custom External ID field such as `Outlook_GUID__c`."),
    "sync_salesforce_calendar": ("Put Salesforce Events in Outlook",
        "Events people create in Salesforce appear in their Outlook calendars."),
    "salesforce_delete_removes_outlook_items": ("Deleting an Event deletes the Outlook meeting",
        "When someone deletes an Event in Salesforce, crmcal deletes the matching meeting in "
        "Outlook too, even one that was created in Outlook."),
    "mass_delete_guard": ("Stop before deleting more than",
        "A session that would delete more Events than this stops and asks an admin first."),
    "invitation_mode": ("Let Salesforce change meeting attendees",
        "Adding or removing invitees on an Event in Salesforce changes the Outlook meeting, and "
        "Outlook mails those people."),
    "recurring_sync": ("Share recurring meetings", "Share series, not only single meetings."),
    "recurrence_format": ("How series appear in Salesforce",
        "`classic`: one recurring Event; `lightning`: one Event per occurrence."),
    "max_all_day_hours": ("Longest all-day item shared (hours)",
        "All-day items longer than this (24 to 336 hours) are not shared."),
    "autocreate": ("Create records for unknown participants",
        "When a participant matches no record: `off`, make a `contact`, a `lead`, or `smart` "
        "(a Contact when their company is known, else a Lead)."),
    "autocreate_account": ("Create the company too",
        "With `contact`, create an Account when no Account's website matches their domain."),
    "create_record_by": ("Who may press Create record",
        "`policy`: everyone when records are created automatically, else admins only; "
        "`everyone`; or `admins`."),
    "autocreate_opportunity": ("Open an Opportunity for a new company",
        "With a new Account, also create an Opportunity and relate the Event to it."),
    "autocreate_opportunity_stage": ("Stage of those Opportunities",
        "The Stage a new Opportunity starts in."),
    "autocreate_opportunity_close_days": ("Their close date (days ahead)",
        "How many days from today a new Opportunity's close date is."),
    "share_attachments": ("Copy file attachments",
        "Files attached to a shared meeting are saved in Salesforce as well."),
    "attachment_limits": ("Attachment limits", "Largest file and total size copied, as JSON."),
    "public_calendars": ("Public folder calendars", "Shared calendars that sync, as JSON."),
    "group_calendars": ("Group calendars", "Microsoft 365 group calendars that sync, as JSON."),
    "calendar_objects": ("Salesforce objects shown as calendars",
        "Records with dates (for example Opportunity close dates) shown in Outlook, as JSON."),
    "interval_minutes": ("Minutes between syncs", "How often each user's calendar is synced."),
    "api_reserve_percent": ("Keep this share of the Salesforce allowance (%)",
        "crmcal slows down when less than this share of the day's Salesforce API calls is "
        "left, so other tools keep working."),
    "instant_sync": ("Instant sync",
        "Outlook tells crmcal about changes at once (needs a public address for crmcal)."),
    "unhealthy_after_failures": ("Failed syncs before a user needs attention",
        "After this many failed syncs in a row, the user shows as failing."),
    "notify_unhealthy_by_email": ("E-mail when a user's sync keeps failing",
        "Send the user (and the admins below) a mail when their sync is failing."),
    "unhealthy_mail_sender": ("Send those mails from",
        "The mailbox the mail comes from; empty: the user's own mailbox."),
    "unhealthy_mail_admins": ("Copy those mails to",
        "Admins who get every such mail; empty: the dashboard's admins."),
}  # fmt: skip

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Who and when", ("internal_domains", "window_past_days", "window_future_days",
                      "interval_minutes", "instant_sync")),
    ("What is shared automatically", ("backfill_on_enable", "autoshare_private",
        "autoshare_internal", "share_unlinked", "blocklist", "block_free_mail_domains",
        "recurring_sync", "max_all_day_hours")),
    ("What a shared meeting looks like in Salesforce", ("safe_description",
        "description_participants_header", "event_defaults", "guid_field", "recurrence_format",
        "share_attachments", "attachment_limits")),
    ("Changes from Salesforce to Outlook", ("sync_salesforce_calendar",
        "salesforce_delete_removes_outlook_items", "invitation_mode", "mass_delete_guard")),
    ("New records for unknown participants", ("autocreate", "autocreate_account",
        "create_record_by", "autocreate_opportunity", "autocreate_opportunity_stage",
        "autocreate_opportunity_close_days")),
    ("Other calendars", ("public_calendars", "group_calendars", "calendar_objects")),
    ("Salesforce allowance and alerts", ("api_reserve_percent", "unhealthy_after_failures",
        "notify_unhealthy_by_email", "unhealthy_mail_sender", "unhealthy_mail_admins")),
)  # fmt: skip

# switches that, once on, delete, mail or overwrite things people did not ask for
RISKY_ON: dict[str, str] = {
    "sync_salesforce_calendar": "Events people create in Salesforce will appear in their "
    "Outlook calendars, and changes made in Salesforce will overwrite those meetings.",
    "salesforce_delete_removes_outlook_items": "Deleting an Event in Salesforce will delete "
    "the meeting in Outlook, also meetings that were created in Outlook. This cannot be undone.",
    "invitation_mode": "Changes to an Event's invitees in Salesforce will add or remove "
    "people from the Outlook meeting, and Outlook will e-mail them.",
    "backfill_on_enable": "Meetings already in users' calendars will be shared with "
    "Salesforce when they are switched on, not only new ones.",
}


@dataclass(frozen=True, slots=True)
class Group:
    title: str
    fields: list[FormField]


def grouped(fields: list[FormField]) -> list[Group]:
    """`fields` (from `form_fields(OrgSettings, ...)`) in plain words, by group; a field no
    group names lands in "More" so a new setting is never hidden."""
    by_name = {f.name: f for f in fields}
    out = []
    for title, names in GROUPS:
        got = [_worded(by_name.pop(n)) for n in names if n in by_name]
        if got:
            out.append(Group(title, got))
    if by_name:
        out.append(Group("More", [_worded(f) for f in by_name.values()]))
    return out


def _worded(f: FormField) -> FormField:
    label, help_ = WORDS.get(f.name, (f.label, f.help))
    return replace(f, label=label, help=help_)


def risky_changes(before: OrgSettings, wanted: BaseModel) -> list[str]:
    """What the admin must confirm: each risky switch this save turns on, and an autocreate
    turned on (records are created in Salesforce without anyone pressing a button)."""
    out = [text for name, text in RISKY_ON.items()
           if getattr(wanted, name) and not getattr(before, name)]  # fmt: skip
    new_ac: Any = dict(wanted)["autocreate"]
    if before.autocreate is AutoCreate.OFF and new_ac is not AutoCreate.OFF:
        kind = "Contact or Lead" if new_ac is AutoCreate.SMART else new_ac.value.capitalize()
        out.append(
            f"crmcal will create a {kind} in Salesforce for every participant it cannot match."
        )
    return out


def risky_user_changes(before: UserSettings, wanted: BaseModel) -> list[str]:
    """G3's `salesforce_to_outlook` makes Salesforce win: edits made in Outlook are overwritten."""
    to_outlook = Direction.SALESFORCE_TO_OUTLOOK
    if dict(wanted)["direction"] is to_outlook and before.direction is not to_outlook:
        return [
            "Salesforce will win: changes made in Outlook to shared meetings will be "
            "overwritten by what the Event says, and Outlook edits will no longer reach "
            "Salesforce."
        ]
    return []
