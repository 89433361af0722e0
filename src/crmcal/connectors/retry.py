"""Retry policy as an injectable object (the exchangelib habit): how often, how long to wait."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter, capped, and `Retry-After` honoured when the API sends it.

    `sleep` is injectable so tests run without waiting; `max_total_wait` bounds one call's retries.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_wait: float = 120.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    jitter: float = 0.1
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def should_retry(self, status: int, attempt: int) -> bool:
        """`attempt` counts from 1 (the first try)."""
        return status in self.retry_statuses and attempt < self.max_attempts

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try `attempt + 1`. A server's `Retry-After` is obeyed in full
        (never shortened); `gives_up` says when it is longer than this call may wait."""
        if retry_after is not None and retry_after >= 0:
            return retry_after
        raw = min(self.base_delay * (2.0 ** (attempt - 1)), self.max_delay)
        return raw * (1 + random.uniform(-self.jitter, self.jitter))


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds; Graph may send fractions such as `2.128`."""
    if not value:
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        return None


NO_RETRY = RetryPolicy(max_attempts=1)
