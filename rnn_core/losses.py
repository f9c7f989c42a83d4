"""Output layer, softmax cross-entropy and perplexity.

Symbols: N positions (T*B flattened, or B for many-to-one), H hidden size, V output size.
    o_t = W_y h_t + c,  y_t = softmax(o_t),  L = -sum_t log y_t[target_t]   (or its mean)
"""
from __future__ import annotations

import numpy as np


def linear_forward(Hs, W_y, c):
    """o = W_y h + c for every leading index: Hs (..., H) -> (..., V)."""
    return Hs @ W_y.T + c


def linear_backward(dO, Hs, W_y):
    """Gradients of the output layer: dO (..., V), Hs (..., H) -> (dW_y (V, H), dc (V,), dHs (..., H))."""
    V, H = W_y.shape
    dO2, Hs2 = dO.reshape(-1, V), Hs.reshape(-1, H)
    return dO2.T @ Hs2, dO2.sum(axis=0), dO @ W_y


def softmax(o, axis=-1):
    """Numerically stable softmax (subtracts the max, so exp never overflows)."""
    e = np.exp(o - o.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(o, axis=-1):
    shifted = o - o.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_cross_entropy(logits, targets, reduction="mean"):
    """Cross-entropy of softmax(logits) against integer targets, and its gradient.

    Parameters
    ----------
    logits : (..., V) array
    targets : (...) integer array, each in [0, V)
    reduction : "mean" (over all positions) or "sum" (the course's L = sum_t L_t)

    Returns
    -------
    loss : float
    dlogits : (..., V) array, gradient of ``loss``: softmax(logits) - onehot(targets), scaled.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum'; got {reduction!r}")
    logits = np.asarray(logits)
    targets = np.asarray(targets)
    V = logits.shape[-1]
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have the shape of logits without the last axis, "
                         f"{logits.shape[:-1]}; got {targets.shape}")
    if not np.issubdtype(targets.dtype, np.integer) or targets.size and (targets.min() < 0 or targets.max() >= V):
        raise ValueError(f"targets must be integers in [0, {V})")
    logp = log_softmax(logits).reshape(-1, V)
    rows = np.arange(logp.shape[0])
    flat = targets.reshape(-1)
    nll = -logp[rows, flat]
    scale = 1.0 / max(flat.size, 1) if reduction == "mean" else 1.0
    dlogits = np.exp(logp)
    dlogits[rows, flat] -= 1
    dlogits *= scale
    return float(nll.sum() * scale), dlogits.reshape(logits.shape)


def perplexity(mean_nll):
    """exp of the mean negative log-likelihood per token; a uniform model over V symbols gives V.

    A float for one loss; element-wise for an array of losses (a training curve).
    """
    p = np.exp(np.asarray(mean_nll, dtype=np.float64))
    return float(p) if p.ndim == 0 else p
