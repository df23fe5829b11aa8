"""loopmeter: measure from telemetry whether AI makes an organisation's work faster."""

__version__ = "0.1.0"

__all__ = ["analyze", "changes_frame", "ingest", "report_from_store", "__version__"]


def __getattr__(name: str):
    # api.py (and all it imports) is loaded on first use, not with the package: a reader or
    # durability process (`python -c "import loopmeter.ingest_reader"`) then does not import the
    # store, the metrics and the report first (PEP 562). Any other name is looked up after that
    # import too, so `loopmeter.api.x` (and submodules it loads) work as they did.
    import importlib

    api = importlib.import_module(f"{__name__}.api")  # not `from . import`: that asks this hook again

    if name in ("analyze", "changes_frame", "ingest", "report_from_store"):
        return getattr(api, name)
    if name in globals():
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
