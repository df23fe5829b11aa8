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


_u = _ufuncs()


def polygamma(n, x):
    """scipy.special.polygamma, in its own arithmetic (scipy 1.17 _basic.py)."""
    n, x = np.asarray(n), np.asarray(x)
    fac2 = (-1.0) ** (n + 1) * _u.gamma(n + 1.0) * _u._zeta(n + 1, x)
    return np.where(n == 0, _u.psi(x), fac2)


special = types.SimpleNamespace(
    ndtr=_u.ndtr, ndtri=_u.ndtri, stdtr=_u.stdtr, stdtrit=_u.stdtrit, chdtrc=_u.chdtrc, fdtrc=_u.fdtrc,
    gammaln=_u.gammaln, digamma=_u.psi, binom=_u.binom, polygamma=polygamma,
)
