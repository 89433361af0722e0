"""`crmcal serve`: the dashboard (server-rendered pages) and the typed HTTP API (FastAPI).

- `app.create_app` builds the ASGI app over a configuration and a state store.
- `service.WebService` does what the pages and the API ask (Save, issue actions, force sync,
  pause, record search), through the same connectors, planner and executor as sessions.
- `instant` keeps Graph change-notification subscriptions and turns notifications into
  immediate updates of linked Events (O4).
- `overrides` stores settings changed in the dashboard and applies them over the configuration
  (the runner calls `effective_config`).
- `commands` adds `crmcal serve` and `crmcal users` to the CLI.

Nothing is imported here, so that the CLI starts without loading FastAPI.
"""
