"""loopmeter: measure from telemetry whether AI makes an organisation's work faster."""

__version__ = "0.1.0"

from .api import analyze, changes_frame, ingest, report_from_store  # noqa: E402

__all__ = ["analyze", "changes_frame", "ingest", "report_from_store", "__version__"]
