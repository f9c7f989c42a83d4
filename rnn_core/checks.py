"""Argument checks shared by the engine: clear errors that name the argument and what was expected."""
from __future__ import annotations

import numpy as np


def as_float_array(name, value, dtype, shape_hint):
    """``value`` as an array of ``dtype``, refusing non-numeric and non-finite input."""
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array {shape_hint}; got {type(value).__name__}") from exc
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf; inputs must be finite")
    return arr


def check_input(cell, X, ndim=3):
    """X as (T, B, D) (or (B, D) for one step) in the cell's dtype."""
    hint = "(T, B, D)" if ndim == 3 else "(B, D)"
    name = "X" if ndim == 3 else "x"
    X = as_float_array(name, X, cell.dtype, hint)
    D = cell.input_size
    if X.ndim != ndim or X.shape[-1] != D:
        raise ValueError(f"{name} must be {hint} with D={D}; got {X.shape}")
    if ndim == 3 and X.shape[0] == 0:
        raise ValueError("X must have at least one time step (T >= 1); got T = 0")
    if X.shape[-2] == 0:
        raise ValueError(f"{name} must have a batch of at least one (B >= 1); got {X.shape}")
    return X


def check_state(cell, state, batch, name="state0"):
    """The initial state as arrays of the cell's dtype: (B, H), or (h, c) for the LSTM."""
    H = cell.hidden_size

    def zeros():
        return np.zeros((batch, H), dtype=cell.dtype)

    def one(name, value):
        if value is None:
            return zeros()
        arr = as_float_array(name, value, cell.dtype, f"({batch}, {H})")
        if arr.shape != (batch, H):
            raise ValueError(f"{name} must be (B, H) = ({batch}, {H}); got {arr.shape}")
        return arr

    if cell.kind == "lstm":
        if state is None:
            return zeros(), zeros()
        if not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise ValueError(f"{name} for an LSTM must be a pair (h, c) of (B, H) arrays, or None")
        return one(f"{name} h", state[0]), one(f"{name} c", state[1])
    if isinstance(state, (tuple, list)):
        raise ValueError(f"{name} for a {cell.kind.upper()} is one (B, H) array, not a pair")
    return one(name, state)
