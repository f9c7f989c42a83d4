"""Inside the LSTM and GRU: gate activations, the memory path, the forget-gate bias, and the two
GRU conventions, read from the engine's own forward caches and backward steps.

Symbols: T time steps, H hidden size, G gates (4 LSTM: i, f, g, o; 3 GRU: r, z, n). The cells
here read inputs of size D = H and run one sequence (batch B = 1). States are numbered as the
course writes them: h_0 (zeros) is the initial state and step t produces h_t, t = 1..T.

The *memory gate* is the gate on the direct path from one state to the next: the LSTM's forget
gate f (c_t = f_t * c_{t-1} + i_t * g_t) and the GRU's update gate z (h_t = (1 - z_t) * n_t +
z_t * h_{t-1}). Along that path alone, d(state_T)/d(state_k) = diag(prod_{s=k+1..T} gate_s).

No gate value is recomputed: they come from the step caches of ``sequence.forward``, and every
gradient from ``analysis.state_gradients`` / ``analysis.cell_profile`` (the engine's backward).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import analysis
from .cells import Cell, make_cell
from .sequence import SequenceCache, backward_projected, forward, forward_projected

GATE_NAMES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
MEMORY_GATE = {"lstm": "f", "gru": "z"}
# One seed, three independent streams: the weights use default_rng(seed), the inputs and the
# loss direction the streams below (else weights and inputs would be drawn from the same bits).
INPUT_STREAM, LOSS_STREAM = 1, 2


def _check_size(name, value, low=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")


def _check_finite(name, value):
    if not (isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value)):
        raise ValueError(f"{name} must be a finite number; got {value!r}")


# ---------------------------------------------------------------------------------------------
# The page's network and its input.

def gate_cell(kind, H, *, gate_bias=1.0, reset_after=False, seed=0) -> Cell:
    """A float64 cell of hidden size H reading inputs of size D = H, with PyTorch's default
    initialisation (``make_cell``) and the memory gate's bias set to ``gate_bias``.

    Parameters
    ----------
    kind : "rnn" (tanh), "lstm" or "gru"
    H : int, hidden size (and input size)
    gate_bias : float
        Bias of the memory gate: block 1 of b, the LSTM's f and the GRU's z (the other biases
        keep their random draw). Ignored for "rnn".
    reset_after : bool, GRU only: False as Cho et al. 2014, True as PyTorch and cuDNN.
    seed : int, seeds the weights (the same seed gives the same weights for every ``gate_bias``).
    """
    _check_size("H", H)
    _check_finite("gate_bias", gate_bias)
    options = {"reset_after": bool(reset_after)} if kind == "gru" else {}
    cell = make_cell(kind, H, H, seed=seed, dtype=np.float64, **options)
    if kind != "rnn":
        b = cell.params["b"].copy()
        b[H:2 * H] = gate_bias                   # block 1: f of (i, f, g, o), z of (r, z, n)
        cell.params["b"] = b
    return cell


def gate_inputs(T, H, input_scale, seed=0):
    """The page's input sequence and loss direction.

    Returns
    -------
    X : (T, 1, H) array of N(0, input_scale^2) entries
    v : (H,) unit vector, the direction of the probe loss L_T = v . h_T
    """
    _check_size("H", H)
    X = analysis.probe_inputs(T, H, input_scale, seed=[seed, INPUT_STREAM])
    return X, analysis.unit_vector(H, seed=[seed, LOSS_STREAM])


# ---------------------------------------------------------------------------------------------
# Gate activations over time.

class GateTrace(NamedTuple):
    """What one forward pass of an LSTM or GRU computed, step by step."""
    kind: str
    names: tuple            # gate names in the engine's order: (i, f, g, o) or (r, z, n)
    gates: np.ndarray       # (G, T, H) post-activation values, gates[j] is gate names[j]
    h: np.ndarray           # (T, H) hidden states h_1..h_T
    c: np.ndarray | None    # (T, H) LSTM cell states c_1..c_T, else None


def gate_trace(cell: Cell, cache: SequenceCache) -> GateTrace:
    """Gates and states of a batch-of-one ``cache`` (from ``rnn_core.forward``), by step."""
    if cell.kind not in GATE_NAMES:
        raise ValueError(f"gate traces need an LSTM or GRU; got kind {cell.kind!r}")
    analysis.check_cache(cell, cache)
    names = GATE_NAMES[cell.kind]

    def stacked(field):
        return np.concatenate([getattr(step, field) for step in cache.steps])  # (T, H)

    c = stacked("c") if cell.kind == "lstm" else None
    return GateTrace(cell.kind, names, np.stack([stacked(n) for n in names]), stacked("h"), c)


def memory_gate_products(trace: GateTrace, cache: SequenceCache):
    """prod_{s=k+1..T} of the memory gate per unit, (T + 1, H), k = 0..T; row T is ones.

    LSTM: ``analysis.forget_gate_products``, dc_T/dc_k along the cell path. GRU: the same
    product of update gates z, dh_T/dh_k along the direct path h_{t-1} -> z_t * h_{t-1}.
    """
    if trace.kind == "lstm":
        return analysis.forget_gate_products(cache)
    z = trace.gates[trace.names.index("z")]                   # (T, H)
    rev = np.cumprod(z[::-1], axis=0)[::-1]                   # [k] = prod_{s >= k + 1} z_s
    return np.vstack([rev, np.ones((1, z.shape[1]))])


# ---------------------------------------------------------------------------------------------
# The memory path: what the direct path alone carries back, against the measured gradient.

class MemoryPath(NamedTuple):
    """The gradient of L_T = v . h_T on the memory state (LSTM c, GRU h), by lag T - k."""
    state: str              # "c" (LSTM) or "h" (GRU)
    lags: np.ndarray        # (L,) lags T - k: 1..T for the LSTM, 0..T for the GRU
    measured: np.ndarray    # (L,) ||dL_T/d state_k|| from the engine's BPTT, all paths
    direct: np.ndarray      # (L,) the same gradient carried along the memory path alone
    products: np.ndarray    # (T + 1, H) memory_gate_products: [k, j] = prod_{s=k+1..T} gate_s[j]
    mean_gate: float        # mean of f (or z) over steps and units


def memory_path(cell: Cell, cache: SequenceCache, v) -> MemoryPath:
    """Measured and direct-path gradients of L_T = v . h_T on the memory state.

    Parameters
    ----------
    cell : an LSTM or GRU
    cache : SequenceCache of ``rnn_core.forward(cell, X)`` with X (T, 1, H)
    v : (H,) array, the loss direction

    LSTM: the engine's dL_T/dc_k is what reaches c_k through c_{k+1}, for k = 0..T-1 (the loss
    touches h_T, so the first gradient on the cell path is the one on c_{T-1}). Along the cell
    path alone it would be dL_T/dc_{T-1} * f_{k+1} ... f_{T-1} (elementwise).
    GRU: dL_T/dh_k for k = 0..T; along the direct path alone, v * z_{k+1} ... z_T.
    The two agree exactly when W_h = 0 (no path through h into the gates and candidate).
    """
    trace = gate_trace(cell, cache)
    T = trace.h.shape[0]
    grads = analysis.state_gradients(cell, cache, v)
    products = memory_gate_products(trace, cache)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        if cell.kind == "lstm":
            start = grads.dc[T - 1, 0]                        # (H,) dL_T/dc_{T-1}
            before_last = (analysis.forget_gate_products(cache._replace(steps=cache.steps[:-1]))
                           if T > 1 else np.ones((1, cell.hidden_size)))  # (T, H): prod f_{k+1..T-1}
            measured = grads.dc[:T, 0]                        # (T, H), k = 0..T-1
            direct = start * before_last
            lags = T - np.arange(T)
        else:
            measured, direct, lags = grads.dh[:, 0], np.asarray(v) * products, T - np.arange(T + 1)
        order = np.argsort(lags)                              # by lag, nearest first
        measured_norms = analysis.row_norms(measured)[order]
        direct_norms = analysis.row_norms(direct)[order]
    memory = trace.gates[trace.names.index(MEMORY_GATE[cell.kind])]
    return MemoryPath("c" if cell.kind == "lstm" else "h", lags[order],
                      analysis.overflowed_to_inf(measured_norms),
                      analysis.overflowed_to_inf(direct_norms), products, float(memory.mean()))


class GateView(NamedTuple):
    """Everything the first two views of the Gates page draw, from one forward pass."""
    trace: GateTrace
    path: MemoryPath


def gate_view(kind, H, T, input_scale, gate_bias=1.0, seed=0, reset_after=False) -> GateView:
    """Run ``gate_cell(kind, H, ...)`` on ``gate_inputs(T, H, input_scale, seed)`` once.

    Parameters
    ----------
    kind : "lstm" or "gru"
    H, T : int, hidden size and sequence length
    input_scale : float >= 0, std of the input entries
    gate_bias, seed, reset_after : as for ``gate_cell``

    Returns
    -------
    GateView: the gates over time (GateTrace, gates (G, T, H)) and the memory path of L_T = v . h_T.
    """
    if kind not in GATE_NAMES:
        raise ValueError(f"kind must be 'lstm' or 'gru'; got {kind!r}")
    cell = gate_cell(kind, H, gate_bias=gate_bias, reset_after=reset_after, seed=seed)
    X, v = gate_inputs(T, H, input_scale, seed)
    _, cache = forward(cell, X)
    return GateView(gate_trace(cell, cache), memory_path(cell, cache, v))


# ---------------------------------------------------------------------------------------------
# The memory gate's bias.

BIAS_GRID = np.linspace(0.0, 5.0, 21)  # the sweep's biases: 0 (PyTorch's default) to 5, step 0.25


class BiasSweep(NamedTuple):
    """How the memory gate's bias changes the gate and the gradient reaching far-back steps."""
    biases: np.ndarray      # (n,) gate_bias values, increasing
    mean_gate: np.ndarray   # (n,) mean f (or z) over steps and units
    lag: int                # the far-back lag of ``ratio`` (clipped to T)
    ratio: np.ndarray       # (n,) ||dL_T/dh_{T-lag}|| / ||dL_T/dh_T|| for L_T = v . h_T
    current: int            # index of the requested ``gate_bias`` in ``biases``


def bias_sweep(kind, H, T, input_scale, gate_bias, seed=0, lag=50, reset_after=False,
               grid=BIAS_GRID) -> BiasSweep:
    """The page's cell with each memory-gate bias of ``grid`` and ``gate_bias``, on one input.

    Parameters
    ----------
    kind, H, T, input_scale, seed, reset_after : as for ``gate_view``
    gate_bias : float, the bias the page shows; it joins the grid (``BiasSweep.current``)
    lag : int >= 1, how far back the gradient is measured (clipped to T)
    grid : (m,) array of biases

    Returns
    -------
    BiasSweep over the n <= m + 1 distinct biases, increasing.

    The biases differ only in the input projection xa_t = W_x x_t + b, so the n sequences run
    as one batch: one forward (``sequence.forward_projected``) and one backward over the last
    ``lag`` steps (``sequence.backward_projected``) for all of them. Each row equals a separate
    run of ``gate_cell(kind, H, gate_bias=bias, seed=seed)``.
    """
    if kind not in GATE_NAMES:
        raise ValueError(f"kind must be 'lstm' or 'gru'; got {kind!r}")
    _check_finite("gate_bias", gate_bias)
    _check_size("lag", lag)
    biases = np.unique(np.append(np.asarray(grid, dtype=np.float64), gate_bias))  # (n,)
    if not np.all(np.isfinite(biases)):
        raise ValueError("grid must hold finite numbers")
    cell = gate_cell(kind, H, gate_bias=0.0, reset_after=reset_after, seed=seed)
    X, v = gate_inputs(T, H, input_scale, seed)                      # (T, 1, H), (H,)
    n = biases.size
    b = np.tile(cell.params["b"], (n, 1))                             # (n, G*H)
    b[:, H:2 * H] = biases[:, None]                                   # the memory gate's block
    XA = X @ cell.params["W_x"].T + b                                 # (T, n, G*H), as forward does per row
    zeros = np.zeros((n, H))
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        _, cache = forward_projected(cell, np.broadcast_to(X, (T, n, H)), XA,
                                     (zeros, zeros) if kind == "lstm" else zeros)
        lag = int(min(lag, T))
        dHs = np.zeros((T, n, H))
        dHs[-1] = v                                                   # L_T = v . h_T, every row
        *_, dstate = backward_projected(cell, dHs, cache, start=T - lag)
        dh = dstate[0] if kind == "lstm" else dstate                  # (n, H) dL_T/dh_{T-lag}
        ratio = analysis.overflowed_to_inf(analysis.row_norms(dh) / np.linalg.norm(v))
    memory = np.stack([getattr(step, MEMORY_GATE[kind]) for step in cache.steps])  # (T, n, H)
    return BiasSweep(biases, memory.mean(axis=(0, 2)), lag, ratio,
                     int(np.searchsorted(biases, gate_bias)))


# ---------------------------------------------------------------------------------------------
# The two GRU conventions.

def reset_after_twin(cell: Cell) -> Cell:
    """The GRU with ``cell``'s W_x, W_h and b that applies the reset gate after W_hn (PyTorch,
    cuDNN) instead of before it (Cho et al. 2014), with b_hn = 0 so that no weight differs:

        before: n = tanh(W_xn x + b_n + W_hn (r * h_prev))
        after:  n = tanh(W_xn x + b_n + r * (W_hn h_prev + b_hn))
    """
    if cell.kind != "gru" or cell.options["reset_after"]:
        raise ValueError("cell must be a GRU with reset_after=False (Cho et al. 2014)")
    params = {name: value.copy() for name, value in cell.params.items()}
    params["b_hn"] = np.zeros(cell.hidden_size, dtype=cell.dtype)
    return Cell("gru", cell.input_size, cell.hidden_size, cell.dtype, {"reset_after": True}, params)


class Conventions(NamedTuple):
    """One GRU's weights and one input run with the reset gate before and after W_hn."""
    before: GateTrace       # reset_after=False (Cho et al. 2014, the course slides)
    after: GateTrace        # reset_after=True (PyTorch, cuDNN), b_hn = 0
    dn: np.ndarray          # (T, H) n_after - n_before
    dh: np.ndarray          # (T, H) h_after - h_before
    max_dn: float           # max |dn|
    max_dh: float           # max |dh|
    first_step: int         # first step t (1-based) where the candidates differ; 0 if they never do


def compare_conventions(cell: Cell, X) -> Conventions:
    """Run a Cho GRU ``cell`` and its ``reset_after_twin`` on the same X (T, 1, D)."""
    twin = reset_after_twin(cell)
    before = gate_trace(cell, forward(cell, X)[1])
    after = gate_trace(twin, forward(twin, X)[1])
    n = before.names.index("n")
    dn = after.gates[n] - before.gates[n]
    differs = np.any(dn != 0, axis=1)
    dh = after.h - before.h
    return Conventions(before, after, dn, dh, float(np.abs(dn).max()), float(np.abs(dh).max()),
                       int(np.argmax(differs)) + 1 if differs.any() else 0)


def gru_conventions(H, T, input_scale, gate_bias=1.0, seed=0) -> Conventions:
    """``compare_conventions`` for the page's GRU (``gate_cell``) and input (``gate_inputs``)."""
    cell = gate_cell("gru", H, gate_bias=gate_bias, reset_after=False, seed=seed)
    return compare_conventions(cell, gate_inputs(T, H, input_scale, seed)[0])


# ---------------------------------------------------------------------------------------------
# RNN, LSTM and GRU on identical inputs.

class KindRun(NamedTuple):
    kind: str
    h: np.ndarray                       # (T, H) hidden states h_1..h_T
    profile: analysis.CellProfile       # gradient norms of L_T = v . h_T by lag


def compare_kinds(H, T, input_scale, gate_bias=1.0, seed=0, reset_after=False) -> list[KindRun]:
    """A tanh RNN, an LSTM and a GRU of hidden size H (``gate_cell``, one seed) fed the same
    inputs ``gate_inputs(T, H, input_scale, seed)``, with the same loss direction v.

    Returns
    -------
    [KindRun] for "rnn", "lstm", "gru": hidden states (T, H) and ``analysis.cell_profile``
    (per-lag norms (T + 1,)); ``gate_bias`` and ``reset_after`` apply to the gated cells.
    """
    X, v = gate_inputs(T, H, input_scale, seed)
    runs = []
    for kind in ("rnn", "lstm", "gru"):
        cell = gate_cell(kind, H, gate_bias=gate_bias, reset_after=reset_after, seed=seed)
        Hs, _ = forward(cell, X)
        runs.append(KindRun(kind, Hs[:, 0], analysis.cell_profile(cell, X, v)))
    return runs
