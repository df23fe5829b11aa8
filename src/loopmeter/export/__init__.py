"""Exporters of the canonical log: OCEL 2.0 (JSON, SQLite), XES, Parquet. See `export_store`."""

from __future__ import annotations

from .canonical import EXPORT_FORMATS, ExportSummary, export_store

__all__ = ["EXPORT_FORMATS", "ExportSummary", "export_store"]
