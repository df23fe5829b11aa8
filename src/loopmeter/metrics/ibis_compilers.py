"""Ibis's SQL compilers, each loaded when first asked for instead of all twenty at once.

``ibis.backends.sql.compilers`` imports the compiler of every engine Ibis supports (Athena to
Trino, each with its sqlglot dialect) as soon as any one backend is opened, and a report opens
DuckDB's only (Spark's with ``--engine spark``): the other nineteen were ~0.1 s of every report's
CPU (issue 14: a report in 2 s, start-up included). `install` puts that package in place with its
directory but without running its ``__init__``; a submodule (``compilers.duckdb``) imports as
usual, and any other name asked of the package (``from ...compilers import TrinoCompiler``, or
``getattr(sc, dialect)`` for a dialect that is no submodule) runs the real ``__init__`` then, so
nothing Ibis does changes but when it pays for what it uses.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

_NAME = "ibis.backends.sql.compilers"


def install() -> None:
    """Make ``ibis.backends.sql.compilers`` load its compilers on demand; a no-op once it is
    imported (by this or by Ibis itself)."""
    if _NAME in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(_NAME)  # imports ibis.backends.sql, which Ibis needs anyway
    except (ImportError, ValueError):  # an Ibis laid out otherwise: it loads its compilers its own way
        return
    if spec is None or not spec.submodule_search_locations or spec.origin is None:
        return
    if _NAME in sys.modules:  # imported while its parent loaded
        return
    module = importlib.util.module_from_spec(spec)
    where = list(spec.submodule_search_locations)
    state = {"complete": False}

    def __getattr__(attr: str):
        if attr.startswith("__") and attr != "__all__":
            raise AttributeError(attr)
        if attr != "__all__" and any(os.path.exists(os.path.join(d, f"{attr}.py")) or os.path.isdir(os.path.join(d, attr)) for d in where):
            return importlib.import_module(f"{_NAME}.{attr}")
        if not state["complete"]:
            state["complete"] = True
            # The real __init__ in this module's namespace: every compiler and its class name.
            spec.loader.exec_module(module)
            if attr in module.__dict__:
                return module.__dict__[attr]
        raise AttributeError(f"module {_NAME!r} has no attribute {attr!r}")

    module.__getattr__ = __getattr__
    sys.modules[_NAME] = module
    setattr(sys.modules["ibis.backends.sql"], "compilers", module)
