"""Item <-> JSON for snapshots: moved to `crmcal.domain.codec` (issue 18: the state store reads
snapshots into domain types, and the state store may not import `sync`). Kept as an alias."""

from crmcal.domain.codec import item_from_json, item_to_json

__all__ = ["item_from_json", "item_to_json"]
