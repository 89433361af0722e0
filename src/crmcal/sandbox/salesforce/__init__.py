"""A faithful local emulator of the Salesforce REST API (api-facts section B).

In-process: ``org = SalesforceOrg(); org.add_user(...); app = create_app(org)``; serve ``app`` with
:class:`crmcal.sandbox.server.ServerThread`. Over HTTP: the ``/_sandbox/`` control API.
"""

from crmcal.sandbox.salesforce.app import create_app
from crmcal.sandbox.salesforce.state import ApiError, SalesforceOrg, format_datetime, id18

__all__ = ["ApiError", "SalesforceOrg", "create_app", "format_datetime", "id18"]
