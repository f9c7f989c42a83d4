"""Gradient checking by central finite differences.

The relative error used throughout is norm-wise,

    rel(a, b) = ||a - b||_2 / max(||a||_2, ||b||_2)        (0 when both are 0)

which, unlike the entry-wise |a - b| / max(|a|, |b|), is not thrown off by entries that are
zero up to rounding. In float64 with eps = 1e-6, central differences carry a truncation error
O(eps^2) and a rounding error O(1e-16 / eps), so a correct backward pass agrees to ~1e-9.
"""
from __future__ import annotations

import numpy as np

from .sequence import backward, forward


def relative_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def numerical_gradient(f, x, eps=1e-6, indices=None):
    """Central differences (f(x + eps) - f(x - eps)) / 2 eps of a scalar function.

    Parameters
    ----------
    f : callable with no arguments returning a float; it reads ``x``.
    x : array, perturbed in place one entry at a time and restored exactly.
    indices : iterable of index tuples, or None for every entry.

    Returns
    -------
    An array shaped like ``x`` holding the estimate at ``indices`` (zeros elsewhere).
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in (np.ndindex(x.shape) if indices is None else indices):
        saved = x[idx]
        x[idx] = saved + eps
        f_plus = f()
        x[idx] = saved - eps
        f_minus = f()
        x[idx] = saved
        grad[idx] = (f_plus - f_minus) / (2 * eps)
    return grad


def check_cell(cell, X, state0=None, seed=0, eps=1e-6):
    """Compare ``backward`` with finite differences for every parameter, X and the initial state.

    The loss is a fixed random projection of all hidden states (and, for the LSTM, the last
    cell state), L = sum(R * Hs) + sum(R_c * c_T), so every output receives gradient.
    Use a float64 cell. Returns {name: relative error}, names "W_x", ..., "X", "h0" (and "c0").
    """
    rng = np.random.default_rng(seed)
    X = np.array(X, dtype=cell.dtype)
    T, B, _ = X.shape
    if cell.kind == "lstm":
        h0, c0 = (np.zeros((B, cell.hidden_size), cell.dtype) if s is None else np.array(s, cell.dtype)
                  for s in (state0 or (None, None)))
        states = {"h0": h0, "c0": c0}
    else:
        states = {"h0": np.zeros((B, cell.hidden_size), cell.dtype) if state0 is None
                  else np.array(state0, cell.dtype)}
    R = rng.standard_normal((T, B, cell.hidden_size))
    R_c = rng.standard_normal((B, cell.hidden_size))

    def run():
        state = (states["h0"], states["c0"]) if cell.kind == "lstm" else states["h0"]
        return forward(cell, X, state)

    def loss():
        Hs, cache = run()
        extra = float((R_c * cache.steps[-1].c).sum()) if cell.kind == "lstm" else 0.0
        return float((R * Hs).sum()) + extra

    Hs, cache = run()
    if cell.kind == "lstm":
        grads, dX, (dh0, dc0) = backward(cell, R, cache, dstate_T=(np.zeros_like(R_c), R_c))
        analytic = {**grads, "X": dX, "h0": dh0, "c0": dc0}
    else:
        grads, dX, dh0 = backward(cell, R, cache)
        analytic = {**grads, "X": dX, "h0": dh0}
    arrays = {**cell.params, "X": X, **states}
    return {name: relative_error(analytic[name], numerical_gradient(loss, arrays[name], eps))
            for name in analytic}
