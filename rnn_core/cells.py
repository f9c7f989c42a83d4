"""RNN, LSTM and GRU cells: parameters and the math of one time step, forward and backward.

Symbols: B batch size, D input size, H hidden size, G gates per cell (1 RNN, 4 LSTM, 3 GRU).

Every cell splits its pre-activation into an input part and a recurrent part,

    a_t = (W_x x_t + b) + W_h h_{t-1}

The input part ``xa = x @ W_x.T + b`` has no recurrence, so a sequence computes it for all T
steps with one matrix product; ``*_core_forward`` takes it ready-made and does the rest of the
step. The same core functions serve the single-step API below and the sequence loops in
``sequence.py``: each cell's math lives here once.

Gate order follows PyTorch: LSTM (i, f, g, o), GRU (r, z, n).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import init as _init

KINDS = {"rnn": 1, "lstm": 4, "gru": 3}  # kind -> number of gates G
NONLINEARITIES = ("tanh", "relu", "linear")
_OPTIONS = {"rnn": {"nonlinearity": "tanh"}, "lstm": {}, "gru": {"reset_after": False}}


@dataclass
class Cell:
    """A recurrent cell: its kind, sizes, options and parameters (updated in place by optimizers)."""

    kind: str
    input_size: int
    hidden_size: int
    dtype: np.dtype
    options: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @property
    def gates(self) -> int:
        return KINDS[self.kind]

    def copy(self) -> "Cell":
        return Cell(self.kind, self.input_size, self.hidden_size, self.dtype, dict(self.options),
                    {k: v.copy() for k, v in self.params.items()})


def make_cell(kind, input_size, hidden_size, *, seed=None, dtype=np.float32, **options) -> Cell:
    """Create a cell with PyTorch's default initialisation, U(-1/sqrt(H), 1/sqrt(H)).

    Parameters
    ----------
    kind : {"rnn", "lstm", "gru"}
    input_size, hidden_size : int
        D and H.
    seed : int or None
        Seed of the NumPy generator drawing the weights.
    dtype : np.float32 or np.float64
    **options
        ``nonlinearity="tanh" | "relu" | "linear"`` for "rnn"; ``reset_after=False | True`` for
        "gru" (False: the reset gate multiplies h before W_hn, as Cho et al. 2014; True: after,
        as PyTorch and cuDNN, with the extra bias ``b_hn``).

    Returns
    -------
    Cell
        ``params``: W_x (G*H, D), W_h (G*H, H), b (G*H,), and b_hn (H,) for reset_after GRUs.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}; got {kind!r}")
    for name, size in (("input_size", input_size), ("hidden_size", hidden_size)):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"{name} must be a positive integer; got {size!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64; got {dtype}")
    unknown = set(options) - set(_OPTIONS[kind])
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for kind {kind!r}; "
                         f"allowed: {sorted(_OPTIONS[kind]) or 'none'}")
    options = {**_OPTIONS[kind], **options}
    if kind == "rnn" and options["nonlinearity"] not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}; got {options['nonlinearity']!r}")
    if kind == "gru" and not isinstance(options["reset_after"], (bool, np.bool_)):
        raise ValueError(f"reset_after must be True or False; got {options['reset_after']!r}")

    rng = np.random.default_rng(seed)
    G, H, D = KINDS[kind], int(hidden_size), int(input_size)
    params = {
        "W_x": _init.pytorch_uniform((G * H, D), H, rng, dtype),
        "W_h": _init.pytorch_uniform((G * H, H), H, rng, dtype),
        # PyTorch has two biases, b_ih + b_hh; their sum is the one bias b (two uniforms added).
        "b": _init.pytorch_uniform((G * H,), H, rng, dtype) + _init.pytorch_uniform((G * H,), H, rng, dtype),
    }
    if kind == "gru" and options["reset_after"]:
        params["b_hn"] = _init.pytorch_uniform((H,), H, rng, dtype)
    return Cell(kind, D, H, dtype, options, params)


# ---------------------------------------------------------------------------------------------
# Step caches: the post-activation values the backward step needs, so it never recomputes.

class RNNStep(NamedTuple):
    x: np.ndarray       # (B, D)
    h_prev: np.ndarray  # (B, H)
    a: np.ndarray       # (B, H) pre-activation W_x x + W_h h_prev + b
    h: np.ndarray       # (B, H)


class LSTMStep(NamedTuple):
    x: np.ndarray       # (B, D)
    h_prev: np.ndarray  # (B, H)
    c_prev: np.ndarray  # (B, H)
    i: np.ndarray       # (B, H) input gate
    f: np.ndarray       # (B, H) forget gate
    g: np.ndarray       # (B, H) candidate
    o: np.ndarray       # (B, H) output gate
    c: np.ndarray       # (B, H) cell state
    tanh_c: np.ndarray  # (B, H) kept because both h and the backward need it
    h: np.ndarray       # (B, H)


class GRUStep(NamedTuple):
    x: np.ndarray       # (B, D)
    h_prev: np.ndarray  # (B, H)
    r: np.ndarray       # (B, H) reset gate
    z: np.ndarray       # (B, H) update gate
    n: np.ndarray       # (B, H) candidate
    hn: np.ndarray      # (B, H) recurrent term of n: W_hn h_prev + b_hn, or W_hn (r * h_prev)
    h: np.ndarray       # (B, H)


def sigmoid(a):
    """Logistic function, written with tanh: exact in float64 and never overflows."""
    return 0.5 * np.tanh(0.5 * a) + 0.5


def _activate(a, nonlinearity):
    if nonlinearity == "tanh":
        return np.tanh(a)
    if nonlinearity == "relu":
        return np.maximum(a, 0)
    return a.copy()


def _activation_grad(dh, step: RNNStep, nonlinearity):
    """da = dh * phi'(a), with phi' read from the cached output."""
    if nonlinearity == "tanh":
        return dh * (1 - step.h * step.h)
    if nonlinearity == "relu":
        return dh * (step.a > 0)
    return dh


# ---------------------------------------------------------------------------------------------
# Core steps: forward from the input projection xa, backward to the pre-activation gradients.
#
# The backward cores return (dxa, dha, dh_prev, dc_prev):
#   dxa  (B, G*H)  gradient w.r.t. the input projection xa = x W_x^T + b
#   dha  (B, G*H)  gradient w.r.t. the recurrent projection, so dW_h = dha^T @ (its input)
# They equal each other except in the GRU's candidate block. dh_prev still misses dha @ W_h,
# which the caller adds (one product for all gates).

def rnn_core_forward(cell: Cell, x, xa, h_prev) -> RNNStep:
    a = xa + h_prev @ cell.params["W_h"].T  # (B, H)
    return RNNStep(x, h_prev, a, _activate(a, cell.options["nonlinearity"]))


def rnn_core_backward(cell: Cell, dh, step: RNNStep):
    da = _activation_grad(dh, step, cell.options["nonlinearity"])
    return da, da, 0, None


def lstm_core_forward(cell: Cell, x, xa, h_prev, c_prev) -> LSTMStep:
    H = cell.hidden_size
    a = xa + h_prev @ cell.params["W_h"].T  # (B, 4H)
    i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 3 * H:])
    g = np.tanh(a[:, 2 * H:3 * H])
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    return LSTMStep(x, h_prev, c_prev, i, f, g, o, c, tanh_c, o * tanh_c)


def lstm_core_backward(cell: Cell, dh, dc, step: LSTMStep):
    s = step
    dc = dc + dh * s.o * (1 - s.tanh_c * s.tanh_c)  # c reaches the loss directly and through h
    da = np.concatenate([
        dc * s.g * s.i * (1 - s.i),                  # input gate
        dc * s.c_prev * s.f * (1 - s.f),             # forget gate
        dc * s.i * (1 - s.g * s.g),                  # candidate
        dh * s.tanh_c * s.o * (1 - s.o),             # output gate
    ], axis=1)  # (B, 4H)
    return da, da, 0, dc * s.f


def gru_core_forward(cell: Cell, x, xa, h_prev) -> GRUStep:
    H, W_h = cell.hidden_size, cell.params["W_h"]
    if cell.options["reset_after"]:
        ha = h_prev @ W_h.T  # (B, 3H)
        r = sigmoid(xa[:, :H] + ha[:, :H])
        z = sigmoid(xa[:, H:2 * H] + ha[:, H:2 * H])
        hn = ha[:, 2 * H:] + cell.params["b_hn"]
    else:
        ha = h_prev @ W_h[:2 * H].T  # (B, 2H)
        r = sigmoid(xa[:, :H] + ha[:, :H])
        z = sigmoid(xa[:, H:2 * H] + ha[:, H:])
        hn = (r * h_prev) @ W_h[2 * H:].T
    n = np.tanh(xa[:, 2 * H:] + (r * hn if cell.options["reset_after"] else hn))
    return GRUStep(x, h_prev, r, z, n, hn, n + z * (h_prev - n))  # (1 - z) n + z h_prev


def gru_core_backward(cell: Cell, dh, step: GRUStep):
    s, H = step, cell.hidden_size
    dan = dh * (1 - s.z) * (1 - s.n * s.n)           # through n
    daz = dh * (s.h_prev - s.n) * s.z * (1 - s.z)    # through z
    dh_prev = dh * s.z                               # the direct path
    if cell.options["reset_after"]:
        dar = dan * s.hn * s.r * (1 - s.r)
        dhn = dan * s.r                               # into W_hn h_prev + b_hn
    else:
        drh = dan @ cell.params["W_h"][2 * H:]        # into r * h_prev
        dar = drh * s.h_prev * s.r * (1 - s.r)
        dh_prev = dh_prev + drh * s.r
        dhn = dan
    dxa = np.concatenate([dar, daz, dan], axis=1)    # (B, 3H)
    dha = np.concatenate([dar, daz, dhn], axis=1)    # (B, 3H)
    return dxa, dha, dh_prev, None


def recurrent_input(cell: Cell, step):
    """What W_h multiplies, block by block: h_prev, except r * h_prev in the Cho GRU's n block."""
    if cell.kind == "gru" and not cell.options["reset_after"]:
        return step.h_prev, step.r * step.h_prev  # for W_h[:2H] and W_h[2H:]
    return step.h_prev, None


def core_forward(cell: Cell, x, xa, state):
    """One step from the input projection; returns (state, step cache)."""
    if cell.kind == "lstm":
        step = lstm_core_forward(cell, x, xa, *state)
        return (step.h, step.c), step
    step = (rnn_core_forward if cell.kind == "rnn" else gru_core_forward)(cell, x, xa, state)
    return step.h, step


def core_backward(cell: Cell, dstate, step):
    """Backward of one step given the gradient w.r.t. its output state.

    Returns (dxa, dha, dstate_prev); dstate_prev is complete (includes dha @ W_h).
    """
    if cell.kind == "lstm":
        dh, dc = dstate
        dxa, dha, dh_prev, dc_prev = lstm_core_backward(cell, dh, 0 if dc is None else dc, step)
    elif cell.kind == "rnn":
        dxa, dha, dh_prev, dc_prev = rnn_core_backward(cell, dstate, step)
    else:
        dxa, dha, dh_prev, dc_prev = gru_core_backward(cell, dstate, step)
    W_h = cell.params["W_h"]
    if cell.kind == "gru" and not cell.options["reset_after"]:
        H = cell.hidden_size
        dh_prev = dh_prev + dha[:, :2 * H] @ W_h[:2 * H]  # the n block went through r * h_prev
    else:
        dh_prev = dh_prev + dha @ W_h
    return dxa, dha, ((dh_prev, dc_prev) if cell.kind == "lstm" else dh_prev)


def recurrent_weight_grad(cell: Cell, dha, h_in, rh_in):
    """dW_h = dha^T @ (what W_h multiplied); inputs may be stacked over time, (N, ...)."""
    if rh_in is None:
        return dha.T @ h_in
    H = cell.hidden_size
    return np.concatenate([dha[:, :2 * H].T @ h_in, dha[:, 2 * H:].T @ rh_in], axis=0)


def bias_grads(cell: Cell, dxa, dha):
    """Gradients of b (and b_hn), summed over the leading (batch or time*batch) axis."""
    grads = {"b": dxa.sum(axis=0)}
    if "b_hn" in cell.params:
        grads["b_hn"] = dha[:, 2 * cell.hidden_size:].sum(axis=0)
    return grads


# ---------------------------------------------------------------------------------------------
# The single-step API used by the Unroll page and by notebooks.

def step_forward(cell: Cell, x, state=None):
    """One time step.

    Parameters
    ----------
    x : (B, D) array
    state : (B, H) array, a pair (h, c) of them for the LSTM, or None for zeros.

    Returns
    -------
    state : (B, H) array, or (h, c) for the LSTM
    cache : RNNStep, LSTMStep or GRUStep
    """
    from .checks import check_input, check_state  # local: checks imports this module
    x = check_input(cell, x, ndim=2)
    state = check_state(cell, state, x.shape[0])
    xa = x @ cell.params["W_x"].T + cell.params["b"]  # (B, G*H)
    return core_forward(cell, x, xa, state)


def step_backward(cell: Cell, dstate, cache):
    """Backward of one step.

    Parameters
    ----------
    dstate : (B, H) array, or (dh, dc) for the LSTM
        Gradient of the loss w.r.t. the state this step produced.
    cache : the step cache returned by ``step_forward``.

    Returns
    -------
    grads : dict with the keys and shapes of ``cell.params``
    dx : (B, D) array
    dstate_prev : (B, H) array, or (dh_prev, dc_prev) for the LSTM
    """
    dxa, dha, dstate_prev = core_backward(cell, dstate, cache)
    h_in, rh_in = recurrent_input(cell, cache)
    grads = {"W_x": dxa.T @ cache.x, "W_h": recurrent_weight_grad(cell, dha, h_in, rh_in),
             **bias_grads(cell, dxa, dha)}
    return grads, dxa @ cell.params["W_x"], dstate_prev
