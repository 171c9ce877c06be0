"""Values with every type spelled out, so two decodings of one answer compare exactly."""

from __future__ import annotations

import numpy as np


def typed(x):
    """x with every type spelled out: 1 and 1.0, a list and an array, dtypes, shapes and
    whether an array may be written to."""
    if isinstance(x, dict):
        return ("dict", [(k, typed(v)) for k, v in x.items()])
    if isinstance(x, list):
        return ("list", [typed(v) for v in x])
    if isinstance(x, np.ndarray):
        return ("ndarray", x.dtype.str, x.shape, x.flags.writeable, typed(x.tolist()))
    return (type(x).__name__, repr(x))
