"""The EWS emulator: `/EWS/Exchange.asmx` over the Graph emulator's mailbox model (issue 20).

An on-premises Exchange Server mailbox is reached through EWS only (Graph cannot reach it), so a
mailbox listed in `EwsState.mailboxes` is served here and refused by the Graph emulator. The items
themselves live in the shared `GraphState` (same records, same `UID`/`iCalUId` across meeting
copies, same series expansion): EWS is a second protocol surface over the same store, as
Exchange's own EWS and REST surfaces are over one mailbox database.
"""

from crmcal.sandbox.ews.app import create_app
from crmcal.sandbox.ews.state import EwsState

__all__ = ["EwsState", "create_app"]
