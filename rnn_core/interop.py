"""The one place that maps RNN Lab's parameters to PyTorch's names and back (no torch import).

PyTorch keeps two biases, bias_ih + bias_hh; RNN Lab keeps their sum b. Going to PyTorch, b
goes into bias_ih and bias_hh is zero, except the GRU with reset_after=True, whose bias_hh
holds b_hn in its candidate block (there the two biases are not interchangeable: r multiplies
W_hn h + b_hn only).
"""
from __future__ import annotations

import numpy as np


def to_pytorch(cell, suffix="_l0"):
    """{'weight_ih_l0': W_x, 'weight_hh_l0': W_h, 'bias_ih_l0': ..., 'bias_hh_l0': ...} as NumPy arrays."""
    p = cell.params
    bias_hh = np.zeros_like(p["b"])
    if "b_hn" in p:
        bias_hh[2 * cell.hidden_size:] = p["b_hn"]
    return {f"weight_ih{suffix}": p["W_x"].copy(), f"weight_hh{suffix}": p["W_h"].copy(),
            f"bias_ih{suffix}": p["b"].copy(), f"bias_hh{suffix}": bias_hh}


def from_pytorch(cell, tensors, suffix="_l0"):
    """RNN Lab parameters from PyTorch's (arrays, e.g. ``t.detach().numpy()``): inverse of ``to_pytorch``."""
    H = cell.hidden_size
    b_ih, b_hh = tensors[f"bias_ih{suffix}"], tensors[f"bias_hh{suffix}"]
    out = {"W_x": tensors[f"weight_ih{suffix}"], "W_h": tensors[f"weight_hh{suffix}"]}
    if "b_hn" in cell.params:
        out["b"] = np.concatenate([b_ih[:2 * H] + b_hh[:2 * H], b_ih[2 * H:]])
        out["b_hn"] = b_hh[2 * H:]
    else:
        out["b"] = b_ih + b_hh
    return {k: np.asarray(v, dtype=cell.dtype) for k, v in out.items()}


def grads_from_pytorch(cell, grads, suffix="_l0"):
    """RNN Lab gradients from PyTorch's: db is d bias_ih (b enters wherever bias_ih does)."""
    H = cell.hidden_size
    out = {"W_x": grads[f"weight_ih{suffix}"], "W_h": grads[f"weight_hh{suffix}"],
           "b": grads[f"bias_ih{suffix}"]}
    if "b_hn" in cell.params:
        out["b_hn"] = grads[f"bias_hh{suffix}"][2 * H:]
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}
