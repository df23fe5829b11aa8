"""The live dashboard (`loopmeter serve`): a thin HTTP reader over `api.report_from_store`.

`server` routes requests, `query` turns a query string into report filters, `cache` keeps one
document per filter set and store fingerprint, `page` is the one coupling to the HTML renderer.
"""

from .server import Dashboard

__all__ = ["Dashboard"]
