"""Deep and bidirectional recurrent networks built from cells.

Symbols: T time steps, B batch, D input size, H hidden size, L layers, K directions (1 or 2).

Layer l reads the outputs of layer l-1 (the input X for l = 0). A bidirectional layer runs a
second cell over the reversed sequence and concatenates both states at each step, so its output
is (T, B, 2H). Parameters are named "l{layer}.{name}" and "l{layer}r.{name}" for the reverse
cell, one flat dict for the optimizers, as PyTorch's weight_ih_l0 / weight_ih_l0_reverse.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .cells import Cell, make_cell
from .sequence import backward, forward


@dataclass
class Stack:
    """L layers of K cells each: ``cells[l][0]`` runs forward in time, ``cells[l][1]`` backward."""

    cells: list
    bidirectional: bool

    @property
    def num_layers(self) -> int:
        return len(self.cells)

    @property
    def params(self) -> dict:
        """Every parameter under its layer prefix; the arrays are the cells' own (views, not copies)."""
        return {f"{prefix}.{name}": arr for prefix, cell in self.named_cells()
                for name, arr in cell.params.items()}

    def named_cells(self):
        for l, layer in enumerate(self.cells):
            for k, cell in enumerate(layer):
                yield f"l{l}{'r' if k else ''}", cell


class StackCache(NamedTuple):
    caches: list   # caches[l][k]: SequenceCache of that cell


def make_stack(kind, input_size, hidden_size, num_layers=1, *, bidirectional=False, seed=None,
               dtype=np.float32, **options) -> Stack:
    """A stack of ``num_layers`` cells (two per layer if bidirectional); options as ``make_cell``."""
    if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
        raise ValueError(f"num_layers must be a positive integer; got {num_layers!r}")
    rng = np.random.default_rng(seed)
    K = 2 if bidirectional else 1
    cells = [[make_cell(kind, input_size if l == 0 else K * hidden_size, hidden_size,
                        seed=rng.integers(2**32), dtype=dtype, **options) for _ in range(K)]
             for l in range(num_layers)]
    return Stack(cells, bool(bidirectional))


def _split_states(stack, states0):
    n = stack.num_layers * (2 if stack.bidirectional else 1)
    if states0 is None:
        return [None] * n
    if len(states0) != n:
        raise ValueError(f"states0 must hold L*K = {n} states (layer-major, as PyTorch's h0); "
                         f"got {len(states0)}")
    return list(states0)


def stack_forward(stack: Stack, X, states0=None):
    """Run the stack over X (T, B, D).

    states0 : None, or a list of L*K initial states in PyTorch's order (layer 0 forward,
        layer 0 reverse, layer 1 forward, ...), each as ``forward`` takes it.

    Returns Hs (T, B, K*H), the last layer's outputs, and a StackCache.
    """
    states = iter(_split_states(stack, states0))
    caches, inp = [], X
    for layer in stack.cells:
        H_fwd, c_fwd = forward(layer[0], inp, next(states))
        outs, layer_caches = [H_fwd], [c_fwd]
        if stack.bidirectional:
            H_rev, c_rev = forward(layer[1], np.asarray(inp)[::-1], next(states))
            outs.append(H_rev[::-1])
            layer_caches.append(c_rev)
        inp = np.concatenate(outs, axis=-1) if stack.bidirectional else H_fwd  # (T, B, K*H)
        caches.append(layer_caches)
    return inp, StackCache(caches)


def stack_backward(stack: Stack, dHs, cache: StackCache):
    """BPTT through every layer, last to first.

    Returns grads (flat dict, keys of ``stack.params``), dX (T, B, D) and the list of L*K
    initial-state gradients in the order of ``states0``.
    """
    grads, dstates, dout = {}, [], np.asarray(dHs)
    for l in range(stack.num_layers - 1, -1, -1):
        layer, H = stack.cells[l], stack.cells[l][0].hidden_size
        g, dinp, ds = backward(layer[0], dout[..., :H], cache.caches[l][0])
        grads.update({f"l{l}.{k}": v for k, v in g.items()})
        layer_dstates = [ds]
        if stack.bidirectional:
            g_r, dinp_r, ds_r = backward(layer[1], dout[..., H:][::-1], cache.caches[l][1])
            grads.update({f"l{l}r.{k}": v for k, v in g_r.items()})
            dinp = dinp + dinp_r[::-1]
            layer_dstates.append(ds_r)
        dstates = layer_dstates + dstates
        dout = dinp
    return {k: grads[k] for k in stack.params}, dout, dstates
