"""statsmodels, imported when the first model is fitted, without the formula engine it never uses
here.

statsmodels' formula manager imports formulaic (with narwhals, wrapt and asyncio) only to record
that it could use it: with patsy installed, patsy is its default formula engine (statsmodels 0.15
formula/_manager.py, unless SM_FORMULA_ENGINE says "formulaic"). loopmeter fits arrays, never
formulas, and that import was ~0.2 s of CPU, about a third of statsmodels' own share of every
report's start-up (issue 14). So, where patsy is there to stay the default, formulaic is hidden
while statsmodels loads, and visible again to anything that imports it afterwards.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys


def load() -> None:
    """Import statsmodels' model base (the rest follows from it) as described above; a no-op once
    it is loaded, or where formulaic is wanted or already imported."""
    if "statsmodels.formula._manager" in sys.modules or "formulaic" in sys.modules:
        return
    if os.environ.get("SM_FORMULA_ENGINE") == "formulaic" or importlib.util.find_spec("patsy") is None:
        importlib.import_module("statsmodels.base.model")
        return
    sys.modules["formulaic"] = None  # `import formulaic` raises ImportError, which statsmodels expects
    try:
        importlib.import_module("statsmodels.base.model")
    finally:
        if "formulaic" in sys.modules and sys.modules["formulaic"] is None:
            del sys.modules["formulaic"]
