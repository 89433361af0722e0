"""O2: the Salesforce allowance is shared through the state store; low allowance backs off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmcal.domain.crm import ApiUsage
from crmcal.service import allowance
from crmcal.state import StateStore

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("level", "delay"),
    [
        (0, timedelta(0)),
        (1, timedelta(minutes=30)),
        (2, timedelta(hours=2, minutes=30)),
        (3, timedelta(hours=4, minutes=30)),
        (4, timedelta(hours=6, minutes=30)),
    ],
)
def test_o2_backoff_sequence(level: int, delay: timedelta) -> None:
    """O2: 30 min, then 2.5 h, 4.5 h, ..."""
    assert allowance.backoff_delay(level) == delay


def test_o2_reserve_threshold() -> None:
    assert allowance.below_reserve(ApiUsage(used=8_100, max=10_000), 20)
    assert not allowance.below_reserve(ApiUsage(used=8_000, max=10_000), 20)
    assert not allowance.below_reserve(ApiUsage(used=5, max=0), 20)  # unknown max: no back-off


def test_o2_backoff_grows_while_low_and_resets_when_recovered(db_url: str) -> None:
    """O2: every worker reads the same back-off; it lengthens while the allowance stays low."""
    store = StateStore(db_url)
    store.migrate()
    low, fine = ApiUsage(9_000, 10_000), ApiUsage(1_000, 10_000)
    try:
        st = allowance.observe(store, fine, reserve_percent=20, now=T0)
        assert st.backoff_level == 0 and allowance.backing_off(store, T0) is None
        st = allowance.observe(store, low, reserve_percent=20, now=T0)
        assert st.backoff_until == T0 + timedelta(minutes=30)
        # Another worker sees the same low number during the back-off: one back-off, not two.
        st = allowance.observe(store, low, reserve_percent=20, now=T0 + timedelta(minutes=5))
        assert (st.backoff_level, st.backoff_until) == (1, T0 + timedelta(minutes=30))
        assert allowance.backing_off(store, T0 + timedelta(minutes=29)) is not None
        later = T0 + timedelta(minutes=31)
        assert allowance.backing_off(store, later) is None
        st = allowance.observe(store, low, reserve_percent=20, now=later)
        assert st.backoff_until == later + timedelta(hours=2, minutes=30)
        after = later + timedelta(hours=3)
        st = allowance.observe(store, fine, reserve_percent=20, now=after)
        assert (st.backoff_level, st.backoff_until) == (0, None)
        shown = allowance.allowance_status(store).as_dict(after)
        assert shown["backing_off"] is False and shown["remaining_percent"] == 90.0
    finally:
        store.dispose()
