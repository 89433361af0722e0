"""Faithful local emulators of Microsoft Graph and the Salesforce REST API.

They serve the real API paths on 127.0.0.1 for tests, the demo and benchmarks; a separate
`/_sandbox/` control API seeds data, injects faults and reports request counts.
"""
