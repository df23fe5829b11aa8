"""scipy.special, imported without the numpy modules that scipy's array-API layer pulls in and
never uses here.

Importing any part of scipy runs ``scipy._lib.array_api_compat.numpy``, which copies every public
name of numpy into a namespace of its own, and asking numpy for ``f2py`` and ``testing`` imports
them: the Fortran wrapper generator (with charset_normalizer) and numpy's test helpers (with
unittest, pydoc and email). That was ~0.05-0.1 s of every report's CPU (issue 14: a report in 2 s,
start-up included) for the handful of special functions the estimators call. While scipy.special
loads, numpy answers those two names with a stand-in; afterwards they import as usual, and the
stand-in left in scipy's namespace loads the real module on first use.
"""

from __future__ import annotations

import importlib
import sys
import types

import numpy

__all__ = ["special"]

_DEFERRED = ("f2py", "testing")


class _Deferred(types.ModuleType):
    """Stands in for ``numpy.<name>`` while scipy imports; the real module once used."""

    def __getattr__(self, attr: str):
        if attr.startswith("__") or sys.modules.get(self.__name__) is self:
            raise AttributeError(attr)
        return getattr(importlib.import_module(self.__name__), attr)


def _load():
    if "scipy.special" in sys.modules:
        return sys.modules["scipy.special"]
    placed = []
    for name in _DEFERRED:
        full = f"numpy.{name}"
        if full in sys.modules or name in vars(numpy):
            continue
        stand_in = _Deferred(full)
        sys.modules[full] = stand_in
        setattr(numpy, name, stand_in)
        placed.append((name, stand_in))
    try:
        return importlib.import_module("scipy.special")
    finally:
        for name, stand_in in placed:
            if sys.modules.get(f"numpy.{name}") is stand_in:
                del sys.modules[f"numpy.{name}"]
            if vars(numpy).get(name) is stand_in:
                delattr(numpy, name)


special = _load()
