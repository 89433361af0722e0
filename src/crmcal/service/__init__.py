"""Running sessions: connectors built from configuration, one session per user."""
