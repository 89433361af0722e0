"""Connectors: the only code that speaks HTTP to Microsoft Graph and Salesforce.

They translate API JSON into `crmcal.domain` types at the edge. The same code runs against the
real services and the sandbox emulators; only base URLs and credentials differ.
"""
