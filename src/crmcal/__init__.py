"""crmcal: Microsoft 365 calendars and Salesforce Events, kept in sync."""

__version__ = "0.1.0"
