"""Durable state: links, cursors, the intent journal, issues, sessions and user health."""

from crmcal.state.store import StateStore, make_engine

__all__ = ["StateStore", "make_engine"]
