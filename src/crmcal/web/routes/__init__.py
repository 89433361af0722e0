"""The dashboard's routers, one module per page or resource; `crmcal.web.app` includes them."""
