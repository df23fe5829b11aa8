"""loopmeter: measure from telemetry whether AI makes an organisation's work faster."""

__version__ = "0.1.0"

__all__ = ["analyze", "changes_frame", "ingest", "report_from_store", "__version__"]


def __getattr__(name: str):
    # api.py (and all it imports) is loaded on first use, not with the package: a reader or
    # durability process (`python -c "import loopmeter.ingest_reader"`) then does not import the
    # store, the metrics and the report first (PEP 562). A submodule's name imports that submodule
    # (`loopmeter.api.lift` after `import loopmeter`, as before). importlib, not `from . import`:
    # that would ask this hook again.
    import importlib
    import importlib.util

    if name in ("analyze", "changes_frame", "ingest", "report_from_store"):
        return getattr(importlib.import_module(f"{__name__}.api"), name)
    if not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
