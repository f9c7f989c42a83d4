"""Long-lag tasks, generated on the fly, and a small training loop for the clipping demo.

Symbols: T time steps, B batch, D input size, H hidden size, V output size.

* **Adding problem** (Hochreiter and Schmidhuber 1997; the two-marker form of Le et al. 2015):
  each step carries a value in [0, 1) and a marker; exactly two steps are marked, one in each
  half, and the target is the sum of their values. Predicting the mean, 1, scores MSE 1/6.
* **Remember the first symbol**: T symbols out of K, one-hot; the target is the first one.
  A guess that ignores the input scores cross-entropy ln K (accuracy 1/K).

The training loop is pure: ``train_chunk(run, n)`` returns a new ``ClipRun`` and never touches
the one it was given, so a page can keep the old state until the new one is ready and two
runs that differ only in clipping see the same batches (they are drawn from (seed, step)).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import init
from .cells import Cell, make_cell
from .losses import linear_backward, linear_forward, softmax_cross_entropy
from .optim import SGD, NonFiniteGradientError, clip_grad_norm, clip_grad_value, global_norm
from .sequence import backward, forward

TASKS = ("adding", "remember")
CLIP_MODES = ("off", "norm", "value")


class Batch(NamedTuple):
    X: np.ndarray   # (T, B, D) inputs
    y: np.ndarray   # (B,) float targets (adding) or integer symbols (remember)


def _check_size(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def adding_problem(T, B, rng, dtype=np.float32) -> Batch:
    """X (T, B, 2): channel 0 values U(0, 1), channel 1 the markers (one in each half of the
    sequence); y (B,) the sum of the two marked values."""
    _check_size("T", T, 2)
    _check_size("B", B, 1)
    values = rng.uniform(0.0, 1.0, size=(T, B))
    first = rng.integers(0, T // 2, size=B)
    second = rng.integers(T // 2, T, size=B)
    markers = np.zeros((T, B))
    cols = np.arange(B)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    X = np.stack([values, markers], axis=-1).astype(dtype)     # (T, B, 2)
    y = (values[first, cols] + values[second, cols]).astype(dtype)
    return Batch(X, y)


def remember_first(T, B, rng, n_symbols=4, dtype=np.float32) -> Batch:
    """X (T, B, K) one-hot symbols drawn uniformly from K = ``n_symbols``; y (B,) the first one.
    Every later symbol is a distractor from the same alphabet."""
    _check_size("T", T, 1)
    _check_size("B", B, 1)
    _check_size("n_symbols", n_symbols, 2)
    symbols = rng.integers(0, n_symbols, size=(T, B))
    X = np.eye(n_symbols, dtype=dtype)[symbols]                  # (T, B, K)
    return Batch(X, symbols[0])


def task_sizes(task, n_symbols=4):
    """(D, V): input and output sizes of a task."""
    if task == "adding":
        return 2, 1
    if task == "remember":
        return n_symbols, n_symbols
    raise ValueError(f"task must be one of {TASKS}; got {task!r}")


def make_batch(task, T, B, rng, n_symbols=4) -> Batch:
    if task == "adding":
        return adding_problem(T, B, rng)
    task_sizes(task)  # raises for an unknown task
    return remember_first(T, B, rng, n_symbols)


def baseline_loss(task, n_symbols=4):
    """Loss of the best input-blind guess: MSE 1/6 when always predicting 1 (the variance of a
    sum of two U(0, 1)); cross-entropy ln K for a uniform guess among K symbols."""
    task_sizes(task)
    return 1.0 / 6.0 if task == "adding" else math.log(n_symbols)


def task_loss(task, O, y):
    """Loss of the outputs O (B, V) of the last step and its gradient dO (B, V).

    adding: mean squared error of O[:, 0]; remember: mean softmax cross-entropy.
    """
    if task == "adding":
        err = O[:, 0] - y
        return float(np.mean(err * err)), (2.0 / err.size * err)[:, None].astype(O.dtype)
    return softmax_cross_entropy(O, y)


# ---------------------------------------------------------------------------------------------
# The clipping demo: a vanilla RNN reading the sequence, a linear readout of h_T, plain SGD.

class ClipConfig(NamedTuple):
    task: str = "adding"
    T: int = 50
    hidden: int = 32
    batch: int = 32
    lr: float = 0.1
    rho: float = 1.2          # spectral radius of the initial W_h (a scaled orthogonal matrix)
    clip: str = "off"          # "off", "norm" (global norm) or "value" (element-wise)
    threshold: float = 1.0
    seed: int = 0
    n_symbols: int = 4


class ClipRun(NamedTuple):
    """One training run: its config, parameters and history (one entry per step)."""
    config: ClipConfig
    params: dict               # W_x, W_h, b (the cell) and W_y, c (the readout); float32
    step: int
    losses: np.ndarray         # (n,) training loss of each step's batch, before the update
    norms: np.ndarray          # (n,) global gradient norm before clipping
    clipped_norms: np.ndarray  # (n,) global norm of the gradient actually applied
    max_abs: np.ndarray        # (n,) largest |entry| of the gradient actually applied
    status: str                # "" while healthy; a message once a step was refused


def check_config(config: ClipConfig) -> ClipConfig:
    """``config`` unchanged, or a ValueError naming the first field out of range."""
    task_sizes(config.task, config.n_symbols)
    for name, minimum in (("T", 2), ("hidden", 1), ("batch", 1), ("n_symbols", 2)):
        _check_size(name, getattr(config, name), minimum)
    for name in ("lr", "rho", "threshold"):
        value = getattr(config, name)
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number; got {value!r}")
    if config.clip not in CLIP_MODES:
        raise ValueError(f"clip must be one of {CLIP_MODES}; got {config.clip!r}")
    return config


def new_run(config: ClipConfig) -> ClipRun:
    """Fresh parameters from ``config.seed``: W_h = rho * (random orthogonal), the rest PyTorch's
    default; two configs with the same seed, sizes and rho start from identical weights."""
    config = check_config(config)
    D, V = task_sizes(config.task, config.n_symbols)
    H = config.hidden
    rng = np.random.default_rng(config.seed)
    cell = make_cell("rnn", D, H, seed=config.seed, dtype=np.float32)
    params = dict(cell.params)
    params["W_h"] = init.orthogonal(H, rng, dtype=np.float32, gain=config.rho)
    params["W_y"] = init.pytorch_uniform((V, H), H, rng, np.float32)
    params["c"] = np.zeros(V, dtype=np.float32)
    empty = np.empty(0)
    return ClipRun(config, params, 0, empty, empty, empty, empty, "")


def _cell(config, params) -> Cell:
    D, _ = task_sizes(config.task, config.n_symbols)
    cell_params = {k: params[k] for k in ("W_x", "W_h", "b")}
    dtype = params["W_h"].dtype  # float32 for training; float64 lets a test check gradients
    return Cell("rnn", D, config.hidden, dtype, {"nonlinearity": "tanh"}, cell_params)


def loss_and_grads(config: ClipConfig, params, batch: Batch):
    """Forward the batch, loss on the last step's output, BPTT: (loss, grads with params' keys)."""
    cell = _cell(config, params)
    with np.errstate(over="ignore", invalid="ignore"):
        Hs, cache = forward(cell, batch.X)                           # (T, B, H)
        O = linear_forward(Hs[-1], params["W_y"], params["c"])       # (B, V)
        loss, dO = task_loss(config.task, O, batch.y)
        dW_y, dc, dh_T = linear_backward(dO, Hs[-1], params["W_y"])
        dHs = np.zeros_like(Hs)
        dHs[-1] = dh_T
        grads, _, _ = backward(cell, dHs, cache)
    return loss, {**grads, "W_y": dW_y, "c": dc}


def clip(grads, mode, threshold):
    """The gradient to apply: unchanged, rescaled to global norm <= threshold, or clamped entry-wise."""
    if mode == "off":
        return grads
    if mode == "norm":
        return clip_grad_norm(grads, threshold)[0]
    return clip_grad_value(grads, threshold)


def batch_for_step(config: ClipConfig, step) -> Batch:
    """The batch of a given step: drawn from (seed, step), identical for runs sharing a seed."""
    rng = np.random.default_rng([config.seed, step])
    return make_batch(config.task, config.T, config.batch, rng, config.n_symbols)


def train_chunk(run: ClipRun, n_steps) -> ClipRun:
    """``n_steps`` more SGD steps; returns a new ClipRun (``run`` is left as it was).

    A step whose loss or gradient is not finite is refused: the parameters stay at the last good
    values, ``status`` says what happened, and later calls return the run unchanged.
    """
    _check_size("n_steps", n_steps, 0)
    if run.status:
        return run
    config = run.config
    params = {k: v.copy() for k, v in run.params.items()}
    optimizer = SGD(params, config.lr)
    history = {"losses": [], "norms": [], "clipped_norms": [], "max_abs": []}
    step, status = run.step, ""
    for _ in range(n_steps):
        loss, grads = loss_and_grads(config, params, batch_for_step(config, step))
        norm = global_norm(grads)
        if not (np.isfinite(loss) and np.isfinite(norm)):
            status = (f"stopped at step {step}: the loss or the gradient overflowed "
                      f"(loss {loss:.3g}, gradient norm {norm:.3g}); the weights are those of step {step}")
            break
        applied = clip(grads, config.clip, config.threshold)
        last_good = {k: v.copy() for k, v in params.items()}
        try:
            optimizer.step(applied)
        except NonFiniteGradientError as exc:
            status = f"stopped at step {step}: {exc}"
            break
        if not all(np.all(np.isfinite(p)) for p in params.values()):
            for k, v in last_good.items():
                params[k][...] = v
            status = f"stopped at step {step}: the update overflowed the weights; kept those of step {step}"
            break
        history["losses"].append(loss)
        history["norms"].append(norm)
        history["clipped_norms"].append(global_norm(applied))
        history["max_abs"].append(max(float(np.max(np.abs(g))) for g in applied.values()))
        step += 1
    return ClipRun(config, params, step,
                   *(np.concatenate([getattr(run, k), np.asarray(v, dtype=np.float64)])
                     for k, v in history.items()), status)
