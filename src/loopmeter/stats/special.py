"""The few special functions the estimators call, straight from scipy.special's compiled ufuncs.

Importing ``scipy.special`` runs its ``__init__``, which wraps every special function for array-API
dispatch (``_support_alternative_backends``) and, through scipy's array-API layer, copies numpy's
whole namespace (importing numpy.f2py and numpy.testing with unittest, pydoc and email): about
0.15 s of every report's CPU (issue 14: a report in 2 s, start-up included) for a dozen functions
applied to numpy arrays. The functions themselves are the ufuncs of ``scipy.special._ufuncs``,
which the wrappers call for numpy input; `_load` imports that extension module alone, with a bare
``scipy.special`` package in place while it loads and removed afterwards, so a later
``import scipy.special`` (scipy.stats in the tests, scipy.sparse) runs the real ``__init__`` and
shares the same extension module. tests/test_stats_dist.py checks the values against
scipy.special's and scipy.stats' to the bit.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import numpy as np

__all__ = ["special"]


def _ufuncs():
    if "scipy.special" in sys.modules:  # already loaded whole: use it
        return importlib.import_module("scipy.special._ufuncs")
    importlib.import_module("scipy")
    spec = importlib.util.find_spec("scipy.special")
    if spec is None:
        raise ImportError("scipy.special is not installed")
    bare = importlib.util.module_from_spec(spec)  # the package's path, not its __init__
    sys.modules["scipy.special"] = bare
    try:
        return importlib.import_module("scipy.special._ufuncs")
    finally:
        if sys.modules.get("scipy.special") is bare:
            del sys.modules["scipy.special"]
        if vars(sys.modules["scipy"]).get("special") is bare:  # not getattr: scipy's would import it
            delattr(sys.modules["scipy"], "special")


def _from_ufuncs() -> types.SimpleNamespace:
    u = _ufuncs()

    def polygamma(n, x):
        """scipy.special.polygamma, in its own arithmetic (scipy 1.17 _basic.py)."""
        n, x = np.asarray(n), np.asarray(x)
        fac2 = (-1.0) ** (n + 1) * u.gamma(n + 1.0) * u._zeta(n + 1, x)
        return np.where(n == 0, u.psi(x), fac2)

    return types.SimpleNamespace(
        ndtr=u.ndtr, ndtri=u.ndtri, stdtr=u.stdtr, stdtrit=u.stdtrit, chdtrc=u.chdtrc, fdtrc=u.fdtrc,
        gammaln=u.gammaln, digamma=u.psi, binom=u.binom, polygamma=polygamma,
    )


def _whole() -> types.SimpleNamespace:
    import scipy.special as sc

    return types.SimpleNamespace(
        ndtr=sc.ndtr, ndtri=sc.ndtri, stdtr=sc.stdtr, stdtrit=sc.stdtrit, chdtrc=sc.chdtrc, fdtrc=sc.fdtrc,
        gammaln=sc.gammaln, digamma=sc.digamma, binom=sc.binom, polygamma=sc.polygamma,
    )


try:
    special = _from_ufuncs()
except (ImportError, AttributeError):
    # `_ufuncs` is scipy's private module: should a scipy release move or rename it (or one of the
    # names above), the report pays the package's whole import instead of failing.
    special = _whole()
