"""The sync engine: pure planner, executor, sessions."""
