"""A cell run over a sequence: forward, backpropagation through time, and truncated BPTT.

Symbols: T time steps, B batch size, D input size, H hidden size, G gates.

The loops call the step cores of ``cells.py``; what the sequence adds is batching over time:
the input projections of all T steps are one matrix product before the loop, and the weight
gradients are one product after it. A shared weight's gradient is the sum of its per-step
contributions, sum_t dxa_t^T x_t, which is exactly the product dXA^T X over the stacked steps.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .cells import Cell, bias_grads, core_backward, core_forward, recurrent_input, recurrent_weight_grad
from .checks import as_float_array, check_input, check_state


class SequenceCache(NamedTuple):
    X: np.ndarray     # (T, B, D)
    state0: object    # (B, H), or (h0, c0) for the LSTM
    steps: list       # T step caches (RNNStep, LSTMStep or GRUStep)


class Window(NamedTuple):
    """One truncated-BPTT window: the losses at steps [loss_start, stop) send their gradient back
    to step grad_start and no further."""
    grad_start: int
    loss_start: int
    stop: int


def forward_projected(cell: Cell, X, XA, state0):
    """The loop of ``forward``, from ready-made input projections XA (T, B, G*H).

    X is only stored for the weight gradient (it may be None when the caller computes dW_x itself,
    as the character model does from token ids). Inputs are trusted: use ``forward`` from outside.
    """
    state, steps = state0, []
    for t in range(XA.shape[0]):
        state, step = core_forward(cell, None if X is None else X[t], XA[t], state)
        steps.append(step)
    Hs = np.stack([s.h for s in steps])  # (T, B, H)
    return Hs, SequenceCache(X, state0, steps)


def forward(cell: Cell, X, state0=None):
    """Run the cell over a sequence.

    Parameters
    ----------
    X : (T, B, D) array
    state0 : (B, H) array, a pair (h0, c0) for the LSTM, or None for zeros.

    Returns
    -------
    Hs : (T, B, H) array of hidden states h_1 .. h_T
    cache : SequenceCache, for ``backward``
    """
    X = check_input(cell, X)
    T, B, D = X.shape
    state0 = check_state(cell, state0, B)
    XA = (X.reshape(T * B, D) @ cell.params["W_x"].T + cell.params["b"]).reshape(T, B, -1)  # (T, B, G*H)
    return forward_projected(cell, X, XA, state0)


def final_state(cell: Cell, cache: SequenceCache):
    """The state after the last step: h_T, or (h_T, c_T) for the LSTM (to carry into the next chunk)."""
    last = cache.steps[-1]
    return (last.h, last.c) if cell.kind == "lstm" else last.h


def _zeros_like_state(cell, like):
    h = np.zeros_like(like)
    return (h, np.zeros_like(like)) if cell.kind == "lstm" else h


def backward_projected(cell: Cell, dHs, cache: SequenceCache, start=0, stop=None, dstate_stop=None):
    """BPTT over steps [start, stop): gradients w.r.t. the input projections and the state.

    Returns
    -------
    dXA : (stop - start, B, G*H) gradient w.r.t. xa_t = W_x x_t + b
    dW_h : (G*H, H), and ``bias`` : dict with b (and b_hn)
    dstate_start : gradient w.r.t. the state entering step ``start``
    """
    steps = cache.steps[start:stop]
    n, (B, H) = len(steps), steps[0].h.shape
    GH = cell.gates * H
    dXA = np.empty((n, B, GH), dtype=cell.dtype)
    dHA = dXA if cell.kind != "gru" else np.empty_like(dXA)  # they differ only in the GRU
    dstate = _zeros_like_state(cell, steps[0].h) if dstate_stop is None else dstate_stop
    for t in range(n - 1, -1, -1):
        if cell.kind == "lstm":
            dstate = (dHs[start + t] + dstate[0], dstate[1])
        else:
            dstate = dHs[start + t] + dstate
        dxa, dha, dstate = core_backward(cell, dstate, steps[t])
        dXA[t] = dxa
        if dHA is not dXA:
            dHA[t] = dha
    h_in, rh_in = zip(*(recurrent_input(cell, s) for s in steps))
    rh_in = None if rh_in[0] is None else np.concatenate(rh_in)  # (n*B, H)
    dXA2, dHA2 = dXA.reshape(n * B, GH), dHA.reshape(n * B, GH)
    dW_h = recurrent_weight_grad(cell, dHA2, np.concatenate(h_in), rh_in)
    return dXA, dW_h, bias_grads(cell, dXA2, dHA2), dstate


def _check_dHs(cell, dHs, cache):
    T, B = len(cache.steps), cache.steps[0].h.shape[0]
    dHs = as_float_array("dHs", dHs, cell.dtype, f"(T, B, H) = ({T}, {B}, {cell.hidden_size})")
    if dHs.shape != (T, B, cell.hidden_size):
        raise ValueError(f"dHs must be (T, B, H) = ({T}, {B}, {cell.hidden_size}); got {dHs.shape}")
    return dHs


def _backward_range(cell, dHs, cache, start, stop, dstate_stop=None):
    dXA, dW_h, bias, dstate = backward_projected(cell, dHs, cache, start, stop, dstate_stop)
    n, B, GH = dXA.shape
    X = cache.X[start:stop].reshape(n * B, -1)                              # (n*B, D)
    grads = {"W_x": dXA.reshape(n * B, GH).T @ X, "W_h": dW_h, **bias}
    dX = (dXA.reshape(n * B, GH) @ cell.params["W_x"]).reshape(n, B, -1)    # (n, B, D)
    return grads, dX, dstate


def backward(cell: Cell, dHs, cache: SequenceCache, dstate_T=None):
    """Backpropagation through time over the whole sequence.

    Parameters
    ----------
    dHs : (T, B, H) array
        Gradient of the loss w.r.t. every hidden state h_t (from the loss at that step only;
        the flow from later steps is what BPTT adds).
    cache : SequenceCache from ``forward``
    dstate_T : optional gradient w.r.t. the final state beyond dHs[-1]: (B, H), or (dh_T, dc_T)
        for the LSTM (e.g. a loss on the last cell state, or the next chunk's gradient).

    Returns
    -------
    grads : dict with the keys and shapes of ``cell.params``
    dX : (T, B, D) array
    dstate0 : (B, H) array, or (dh0, dc0) for the LSTM
    """
    dHs = _check_dHs(cell, dHs, cache)
    if dstate_T is not None:
        B = dHs.shape[1]
        dstate_T = check_state(cell, dstate_T, B, name="dstate_T")
    return _backward_range(cell, dHs, cache, 0, len(cache.steps), dstate_T)


def truncation_windows(T, k1, k2):
    """The windows of truncated BPTT(k1, k2) on T steps.

    Every k1 steps (and at the end) the gradient of the losses of those k1 steps is sent back
    k2 steps from the window's last step, and no further. k1 = k2 = T is full BPTT; so is any
    k2 >= T; k1 = k2 = k with k dividing T is chunks of k with the state detached between them.
    A last, shorter window still reaches k2 steps back from its end. With k2 < k1 the earliest
    losses of a window send no gradient at all.
    """
    for name, k in (("k1", k1), ("k2", k2)):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"{name} must be a positive integer; got {k!r}")
    return [Window(max(0, stop - k2), start, stop)
            for start in range(0, T, k1) for stop in [min(start + k1, T)]]


def truncated_backward(cell: Cell, dHs, cache: SequenceCache, k1, k2):
    """Truncated BPTT(k1, k2): the sum over ``truncation_windows`` of each window's BPTT.

    Returns the same (grads, dX, dstate0) as ``backward``; dstate0 only receives gradient from
    windows that reach step 0.
    """
    dHs = _check_dHs(cell, dHs, cache)
    T = len(cache.steps)
    grads = {k: np.zeros_like(v) for k, v in cell.params.items()}
    dX = np.zeros_like(cache.X)
    dstate0 = _zeros_like_state(cell, cache.steps[0].h)
    for w in truncation_windows(T, k1, k2):
        dHs_w = np.zeros_like(dHs)
        dHs_w[w.loss_start:w.stop] = dHs[w.loss_start:w.stop]
        g, dX_w, dstate = _backward_range(cell, dHs_w, cache, w.grad_start, w.stop)
        grads = {k: grads[k] + g[k] for k in grads}
        dX[w.grad_start:w.stop] += dX_w
        if w.grad_start == 0:
            dstate0 = ((dstate0[0] + dstate[0], dstate0[1] + dstate[1]) if cell.kind == "lstm"
                       else dstate0 + dstate)
    return grads, dX, dstate0
