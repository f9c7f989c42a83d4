"""A character language model: one-hot input, a stack of recurrent layers, a softmax output.

Symbols: T time steps, B streams (batch), V characters in the vocabulary, H hidden size,
L layers, G gates per cell (1 RNN, 4 LSTM, 3 GRU).

    x_t = onehot(id_t)                      (V,)
    h_t = cell(W_x x_t + b, h_{t-1})        layer 0; layer l > 0 reads layer l-1's h_t
    o_t = W_y h_t + c,  y_t = softmax(o_t)  L = mean over (t, b) of -log y_t[target_t]

W_x x_t with a one-hot x_t is column id_t of W_x, so layer 0 gathers columns instead of
multiplying by one-hot vectors, and its gradient dW_x = dXA^T onehot is one small product.
The parameters form one flat dict ("l0.W_x", ..., "W_y", "c") for the optimizers.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import init as _init
from .losses import linear_backward, linear_forward, softmax_cross_entropy
from .optim import clip_grad_norm, global_norm
from .sequence import backward_projected, final_state, forward_projected
from .stack import Stack, make_stack


@dataclass
class CharModel:
    """Recurrent layers and the output layer; ``params`` is the one flat dict optimizers update."""

    stack: Stack
    params: dict

    @property
    def cells(self):
        return [layer[0] for layer in self.stack.cells]

    @property
    def kind(self) -> str:
        return self.cells[0].kind

    @property
    def vocab_size(self) -> int:
        return self.params["W_y"].shape[0]

    @property
    def hidden_size(self) -> int:
        return self.cells[0].hidden_size

    @property
    def num_layers(self) -> int:
        return self.stack.num_layers

    @property
    def dtype(self):
        return self.cells[0].dtype

    def load_params(self, params):
        """Copy arrays into the model's own (in place, so an optimizer holding them stays valid)."""
        missing, extra = set(self.params) - set(params), set(params) - set(self.params)
        if missing or extra:
            raise ValueError(f"params must have the model's keys: missing {sorted(missing)}, "
                             f"unexpected {sorted(extra)}")
        for key, arr in self.params.items():
            new = np.asarray(params[key])
            if new.shape != arr.shape or new.dtype != arr.dtype:
                raise ValueError(f"params[{key!r}] must be {arr.dtype} of shape {arr.shape}; "
                                 f"got {new.dtype} {new.shape}")
        for key, arr in self.params.items():
            arr[...] = params[key]


def make_char_model(kind, vocab_size, hidden_size, num_layers=1, *, seed=None,
                    dtype=np.float32, **options) -> CharModel:
    """A character model with PyTorch's default initialisation.

    Parameters
    ----------
    kind : {"rnn", "lstm", "gru"}
    vocab_size, hidden_size, num_layers : int
        V, H, L.
    seed : int or None
    dtype : np.float32 or np.float64
    **options : cell options, as ``make_cell``.

    Returns
    -------
    CharModel with params l{l}.W_x (G*H, V or H), l{l}.W_h (G*H, H), l{l}.b (G*H,),
    W_y (V, H) and c (V,).
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 2:
        raise ValueError(f"vocab_size must be an integer >= 2; got {vocab_size!r}")
    rng = np.random.default_rng(seed)
    stack = make_stack(kind, int(vocab_size), hidden_size, num_layers, seed=rng.integers(2**32),
                       dtype=dtype, **options)
    H = stack.cells[0][0].hidden_size
    params = dict(stack.params)
    # nn.Linear's default: U(-1/sqrt(H), 1/sqrt(H)) for the weight and the bias.
    params["W_y"] = _init.pytorch_uniform((vocab_size, H), H, rng, dtype)
    params["c"] = _init.pytorch_uniform((vocab_size,), H, rng, dtype)
    return CharModel(stack, params)


class CharCache(NamedTuple):
    ids: np.ndarray       # (T, B) input ids
    layers: list          # L SequenceCaches, bottom to top
    Hs: np.ndarray        # (T, B, H) top layer's states, the output layer's input


def check_ids(name, ids, V):
    """Token ids as a (T, B) integer array with values in [0, V)."""
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty (T, B) integer array; got {ids.dtype} {ids.shape}")
    if ids.min() < 0 or ids.max() >= V:
        raise ValueError(f"{name} must hold ids in [0, {V}); got values from {ids.min()} to {ids.max()}")
    return ids


def zero_states(model: CharModel, batch_size):
    """The L initial states (h, or (h, c) for the LSTM), all zeros, each (B, H)."""
    def zeros():
        return np.zeros((batch_size, model.hidden_size), model.dtype)
    return [(zeros(), zeros()) if model.kind == "lstm" else zeros() for _ in range(model.num_layers)]


def char_forward(model: CharModel, ids, states0=None):
    """Logits of the next character at every position.

    Parameters
    ----------
    ids : (T, B) int
    states0 : list of L states ((B, H), or (h, c) for the LSTM), or None for zeros.

    Returns
    -------
    logits : (T, B, V)
    states : list of L final states, to carry into the next window (truncated BPTT)
    cache : CharCache, for ``char_backward``
    """
    ids = check_ids("ids", ids, model.vocab_size)
    T, B = ids.shape
    if states0 is None:
        states0 = zero_states(model, B)
    elif len(states0) != model.num_layers:
        raise ValueError(f"states0 must hold one state per layer, L = {model.num_layers}; got {len(states0)}")
    caches, states, inp = [], [], None
    for l, cell in enumerate(model.cells):
        W_x, b = cell.params["W_x"], cell.params["b"]
        if l == 0:
            table = W_x.T + b                                    # (V, G*H): row v = W_x onehot(v) + b
            XA = table[ids]                                      # (T, B, G*H)
        else:
            XA = (inp.reshape(T * B, -1) @ W_x.T + b).reshape(T, B, -1)  # (T, B, G*H)
        Hs, cache = forward_projected(cell, inp, XA, states0[l])
        caches.append(cache)
        states.append(final_state(cell, cache))
        inp = Hs
    logits = linear_forward(inp, model.params["W_y"], model.params["c"])  # (T, B, V)
    return logits, states, CharCache(ids, caches, inp)


def char_backward(model: CharModel, dlogits, cache: CharCache):
    """BPTT through the output layer and every recurrent layer, top to bottom.

    The state entering the window is treated as a constant (truncated BPTT: no gradient flows
    into the previous window).

    Parameters
    ----------
    dlogits : (T, B, V) gradient of the loss w.r.t. the logits

    Returns
    -------
    grads : dict with the keys and shapes of ``model.params``
    """
    T, B = cache.ids.shape
    V = model.vocab_size
    grads = {}
    grads["W_y"], grads["c"], dHs = linear_backward(dlogits, cache.Hs, model.params["W_y"])
    for l in range(model.num_layers - 1, -1, -1):
        cell = model.cells[l]
        dXA, dW_h, bias, _ = backward_projected(cell, dHs, cache.layers[l])
        dXA2 = dXA.reshape(T * B, -1)                                # (T*B, G*H)
        if l == 0:
            onehot = np.zeros((T * B, V), dtype=dXA.dtype)
            onehot[np.arange(T * B), cache.ids.reshape(-1)] = 1
            dW_x = dXA2.T @ onehot                                  # (G*H, V)
        else:
            dW_x = dXA2.T @ cache.layers[l].X.reshape(T * B, -1)    # (G*H, H)
            dHs = (dXA2 @ cell.params["W_x"]).reshape(T, B, -1)     # (T, B, H) into layer l-1
        grads.update({f"l{l}.W_x": dW_x, f"l{l}.W_h": dW_h, **{f"l{l}.{k}": v for k, v in bias.items()}})
    return {k: grads[k] for k in model.params}


def char_loss(model: CharModel, ids, targets, states0=None):
    """Mean cross-entropy of the next-character predictions and its gradients.

    Parameters
    ----------
    ids, targets : (T, B) int

    Returns
    -------
    loss : float, mean negative log-likelihood per character (nats)
    grads : dict keyed like ``model.params``
    states : list of L final states
    """
    logits, states, cache = char_forward(model, ids, states0)
    targets = check_ids("targets", targets, model.vocab_size)
    if targets.shape != cache.ids.shape:
        raise ValueError(f"targets must have the shape of ids, {cache.ids.shape}; got {targets.shape}")
    loss, dlogits = softmax_cross_entropy(logits, targets)
    return loss, char_backward(model, dlogits, cache), states


class StepResult(NamedTuple):
    loss: float        # mean NLL of the window, before the update
    grad_norm: float   # global gradient norm before clipping
    seconds: float     # wall time of the whole step
    states: list       # final states, to carry into the next window


class NonFiniteStepError(FloatingPointError):
    """The loss or the gradient of a step was NaN or inf; the update was not applied."""

    def __init__(self, loss, grad_norm):
        self.loss, self.grad_norm = float(loss), float(grad_norm)
        super().__init__(f"non-finite training step (loss {self.loss:.4g}, gradient norm "
                         f"{self.grad_norm:.4g}); the parameters were left unchanged")


def train_step(model: CharModel, optimizer, ids, targets, states0=None, clip=None) -> StepResult:
    """One step: forward, loss, BPTT, clipping by global norm, optimizer update (in place).

    Parameters
    ----------
    optimizer : an ``rnn_core.optim`` optimizer built on ``model.params``
    ids, targets : (T, B) int
    states0 : carried states from the previous window, or None for zeros
    clip : float or None, the global-norm threshold

    Raises
    ------
    NonFiniteStepError
        If the loss or the gradient norm is NaN or inf; nothing is updated. (An update that
        overflows the weights shows up as a non-finite loss at the next step.)
    """
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite values are checked instead
        loss, grads, states = char_loss(model, ids, targets, states0)
        if clip is None:
            norm = global_norm(grads)
        else:
            grads, norm = clip_grad_norm(grads, clip)
        if not (np.isfinite(loss) and np.isfinite(norm)):
            raise NonFiniteStepError(loss, norm)
        optimizer.step(grads)
    return StepResult(loss, norm, time.perf_counter() - start, states)


def mean_loss(model: CharModel, ids, targets, states0=None):
    """Mean NLL per character without gradients; returns (loss, final states)."""
    logits, states, _ = char_forward(model, ids, states0)
    loss, _ = softmax_cross_entropy(logits, targets)
    return loss, states
