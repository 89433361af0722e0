"""The EWS connector (Exchange Server on-premises), behind the same calendar port as Graph."""

from crmcal.connectors.ews.client import EwsClient

__all__ = ["EwsClient"]
