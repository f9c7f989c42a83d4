"""The "cliff" of a single-unit RNN: its loss surface and gradient descent on it.

After Pascanu, Mikolov and Bengio 2013 (Section 3, the error surface figure), with the engine's
own cell: one tanh unit, no input, weight w and bias b,

    h_t = tanh(w h_{t-1} + b),   t = 1..T,   L(w, b) = (h_T - target)^2.

For w > 1 the map has two stable fixed points; which one h_T ends near depends on which side of
the unstable one h_0 starts. Crossing that boundary in (w, b) flips h_T, so after many steps the
loss has a near-vertical wall: the gradient there is of order (w tanh')^T. A gradient step that
lands on the wall is thrown far away; clipping the gradient norm keeps the step to lr * threshold.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .cells import make_cell
from .sequence import backward, forward

DEFAULTS = {"T": 50, "h0": 0.5, "target": 0.6}


class Surface(NamedTuple):
    w: np.ndarray      # (n_w,) grid of recurrent weights
    b: np.ndarray      # (n_b,) grid of biases
    loss: np.ndarray   # (n_b, n_w): loss[i, j] = L(w[j], b[i])


def cliff_loss(w, b, T=50, h0=0.5, target=0.6):
    """L(w, b) evaluated elementwise on broadcastable arrays (vectorised over a whole grid)."""
    h = np.full(np.broadcast(w, b).shape, float(h0))
    for _ in range(T):
        h = np.tanh(w * h + b)
    return (h - target) ** 2


def surface(w_range=(0.5, 3.5), b_range=(-1.0, 0.5), n=121, T=50, h0=0.5, target=0.6) -> Surface:
    """The loss on an n x n grid over ``w_range`` x ``b_range``."""
    if not (isinstance(n, (int, np.integer)) and n >= 2):
        raise ValueError(f"n must be an integer >= 2; got {n!r}")
    w = np.linspace(*w_range, n)
    b = np.linspace(*b_range, n)
    return Surface(w, b, cliff_loss(w[None, :], b[:, None], T, h0, target))


def _unit(w, b):
    cell = make_cell("rnn", 1, 1, dtype=np.float64, nonlinearity="tanh")
    cell.params.update(W_x=np.zeros((1, 1)), W_h=np.array([[w]], dtype=np.float64),
                       b=np.array([b], dtype=np.float64))
    return cell


def loss_and_grad(w, b, T=50, h0=0.5, target=0.6):
    """L(w, b) and its gradient (dL/dw, dL/db), by the engine's forward and BPTT.

    Returns
    -------
    loss : float
    grad : (2,) array [dL/dw, dL/db]
    """
    cell = _unit(w, b)
    X = np.zeros((T, 1, 1))
    with np.errstate(over="ignore", invalid="ignore"):
        Hs, cache = forward(cell, X, np.array([[h0]]))
        err = Hs[-1, 0, 0] - target
        dHs = np.zeros_like(Hs)
        dHs[-1] = 2 * err
        grads, _, _ = backward(cell, dHs, cache)
    return float(err * err), np.array([grads["W_h"][0, 0], grads["b"][0]])


class Path(NamedTuple):
    points: np.ndarray     # (n + 1, 2) the iterates (w, b), starting point first
    losses: np.ndarray     # (n + 1,) loss at each iterate
    grad_norms: np.ndarray  # (n,) ||grad|| before clipping, at each step taken
    step_norms: np.ndarray  # (n,) length of each step actually taken


def descent_path(start, lr=0.1, n_steps=40, threshold=None, T=50, h0=0.5, target=0.6) -> Path:
    """Gradient descent from ``start`` = (w, b), with the gradient's norm clipped to ``threshold``
    (g <- threshold * g / ||g|| when ||g|| > threshold) or unclipped when ``threshold`` is None.

    Stops early if an iterate or gradient stops being finite.
    """
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number; got {lr!r}")
    if threshold is not None and not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a positive number or None; got {threshold!r}")
    p = np.asarray(start, dtype=np.float64)
    if p.shape != (2,) or not np.all(np.isfinite(p)):
        raise ValueError(f"start must be a finite pair (w, b); got {start!r}")
    loss, grad = loss_and_grad(*p, T, h0, target)
    points, losses, grad_norms, step_norms = [p], [loss], [], []
    for _ in range(n_steps):
        norm = float(np.hypot(*grad))
        if not np.isfinite(norm):
            break
        if threshold is not None and norm > threshold:
            grad = grad * (threshold / norm)
        step = -lr * grad
        p = p + step
        if not np.all(np.isfinite(p)):
            break
        loss, grad = loss_and_grad(*p, T, h0, target)
        points.append(p)
        losses.append(loss)
        grad_norms.append(norm)
        step_norms.append(float(np.hypot(*step)))
    return Path(np.array(points), np.array(losses), np.array(grad_norms), np.array(step_norms))
