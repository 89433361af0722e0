"""Pure policy: one module per SPEC group. No I/O, no clock (callers pass `now`), no randomness."""
