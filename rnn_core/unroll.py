"""A tiny network unrolled in time, step by step: every value the Unroll page shows.

Symbols: T time steps, D input size, H hidden size, V output size (classes), L layers,
K directions (1 or 2). The batch is one sequence; arrays below drop the batch axis.

The course's model and loss,

    h_t = tanh(W_x x_t + W_h h_{t-1} + b),  o_t = W_y h_t + c,  y_t = softmax(o_t),
    L = sum_t L_t,  L_t = -log y_t[target_t]

are run by the engine's own functions (``stack_forward``, ``step_backward``, ``linear_forward``,
``softmax_cross_entropy``); this module only records their per-step values. The backward pass
walks t = T .. 1 calling ``step_backward`` once per step, so the running sum of the per-step
weight gradients, from T down to 1, ends at the gradient of the shared weight.

Architectures (Goodfellow et al., ch. 10):

- "many-to-many": an output and a loss at every step.
- "many-to-one": one output and loss, at the last step.
- "one-to-many": the input only at t = 1, zero vectors after it (not the previous output fed
  back: that is sampling, shown on the Char-RNN page); an output and a loss at every step.
- "output-to-hidden": the recurrence goes through the previous output (fig. 10.4),
  h_t = tanh(W_x x_t + W_h o_{t-1} + b), W_h (H, V); vanilla RNN only, with its own explicit
  forward and backward below since the standard cells do not cover it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .cells import step_backward
from .gradcheck import numerical_gradient, relative_error
from .losses import linear_backward, linear_forward, softmax, softmax_cross_entropy
from .sequence import truncation_windows
from .stack import Stack, StackCache, make_stack, stack_backward, stack_forward

ARCHITECTURES = ("many-to-many", "many-to-one", "one-to-many", "output-to-hidden")
MAX_WORD = 32  # characters; the page asks for far fewer


# ---------------------------------------------------------------------------------------------
# Input sequences: T + 1 items, step t reads item t and predicts item t + 1.

def word_sequence(word):
    """One-hot inputs and next-character targets of a word.

    The vocabulary is the word's distinct characters, sorted ("hello" -> e, h, l, o), so
    D = V = vocabulary size. Returns (vocab tuple, X (T, V) one-hot of word[:-1],
    targets (T,) indices of word[1:]) with T = len(word) - 1.
    """
    if not isinstance(word, str) or not 2 <= len(word) <= MAX_WORD:
        raise ValueError(f"word must be a string of 2 to {MAX_WORD} characters; got {word!r}")
    vocab = tuple(sorted(set(word)))
    ids = np.array([vocab.index(ch) for ch in word])
    return vocab, np.eye(len(vocab))[ids[:-1]], ids[1:]  # (T, V)


def random_sequence(length, input_size, seed=0):
    """Standard-normal vectors for the "random vectors" mode: (length + 1, D), float64.

    The seed is mixed with a constant, so the vectors and the weights of ``unroll(seed=...)``
    are independent draws."""
    for name, value in (("length", length), ("input_size", input_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return np.random.default_rng([seed, 2]).standard_normal((length + 1, input_size))


def vector_sequence(vectors):
    """Inputs and targets of a vector sequence (T + 1, D): step t reads vectors[t] and its target is
    the index of the largest entry of vectors[t + 1] (V = D), as next-character prediction."""
    arr = np.asarray(vectors, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"vectors must be (T + 1, D) with T >= 1; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("vectors contains NaN or inf; inputs must be finite")
    return arr[:-1].copy(), np.argmax(arr[1:], axis=1)  # (T, D), (T,)


# ---------------------------------------------------------------------------------------------
# Output-to-hidden recurrence: h_t = tanh(W_x x_t + W_h o_{t-1} + b), o_t = W_y h_t + c.

class OutputRecurrentStep(NamedTuple):
    x: np.ndarray       # (B, D)
    o_prev: np.ndarray  # (B, V) what the recurrence reads
    a: np.ndarray       # (B, H) pre-activation
    h: np.ndarray       # (B, H)
    o: np.ndarray       # (B, V)


def output_recurrent_step_forward(params, x, o_prev):
    """One step of the output-to-hidden network; params W_x (H, D), W_h (H, V), b, W_y (V, H), c.

    Returns o (B, V) and the step cache."""
    a = x @ params["W_x"].T + o_prev @ params["W_h"].T + params["b"]  # (B, H)
    h = np.tanh(a)
    o = linear_forward(h, params["W_y"], params["c"])  # (B, V)
    return o, OutputRecurrentStep(x, o_prev, a, h, o)


def output_recurrent_step_backward(params, do, step):
    """Backward of one step given do (B, V), the gradient w.r.t. o_t from L_t and from step t + 1.

    Returns grads (keys of params), dx (B, D) and do_prev (B, V)."""
    dW_y, dc, dh = linear_backward(do, step.h, params["W_y"])
    da = dh * (1 - step.h * step.h)  # (B, H)
    grads = {"W_x": da.T @ step.x, "W_h": da.T @ step.o_prev, "b": da.sum(axis=0),
             "W_y": dW_y, "c": dc}
    return grads, da @ params["W_x"], da @ params["W_h"]


def output_recurrent_forward(params, X, o0=None):
    """Run over X (T, B, D) from o0 (B, V) (None: zeros). Returns Os (T, B, V) and the step caches."""
    o = np.zeros((X.shape[1], params["W_y"].shape[0])) if o0 is None else o0
    steps = []
    for x in X:
        o, step = output_recurrent_step_forward(params, x, o)
        steps.append(step)
    return np.stack([s.o for s in steps]), steps


def output_recurrent_backward(params, dOs, steps):
    """BPTT: dOs (T, B, V) is the gradient w.r.t. each o_t from its own loss only.

    Returns grads (keys of params), dX (T, B, D) and do0 (B, V)."""
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dX, carry = [], np.zeros_like(dOs[0])
    for t in range(len(steps) - 1, -1, -1):
        g, dx, carry = output_recurrent_step_backward(params, dOs[t] + carry, steps[t])
        grads = {k: grads[k] + g[k] for k in grads}
        dX.append(dx)
    return grads, np.stack(dX[::-1]), carry


# ---------------------------------------------------------------------------------------------
# The trace.

class Block(NamedTuple):
    """One gate (or the RNN's h) at every step: value = activation(input + recurrent + bias)."""
    name: str               # "h" (RNN), "i", "f", "g", "o" (LSTM), "r", "z", "n" (GRU)
    activation: str         # "tanh", "sigmoid", "relu" or "linear"
    input: np.ndarray       # (T, H) W_x x_t, this gate's rows
    recurrent: np.ndarray   # (T, H) W_h h_{t-1}; W_h o_{t-1} (output-to-hidden); GRU n: see below
    bias: np.ndarray        # (H,)
    pre: np.ndarray         # (T, H) input + recurrent + bias
    value: np.ndarray       # (T, H) read from the engine's step cache


class Model(NamedTuple):
    """What the loss depends on, to re-run it (finite differences)."""
    architecture: str
    stack: Stack | None      # standard cells
    params: dict             # output-to-hidden: W_x, W_h, b, W_y, c; otherwise W_y, c
    X: np.ndarray            # (T, D) as fed to the network
    targets: np.ndarray      # (T,)
    has_loss: np.ndarray     # (T,) bool


@dataclass
class Trace:
    """Every per-step value of one forward and backward pass (layer 1, forward direction).

    Steps are indexed 0 .. T-1 in arrays; the page labels them t = 1 .. T.
    """
    kind: str
    architecture: str
    depth: int
    bidirectional: bool
    vocab: tuple | None                 # characters (word mode) or None (vectors)
    X: np.ndarray                       # (T, D) inputs as fed (one-to-many: zeros after t = 1)
    targets: np.ndarray                 # (T,) class index wanted at each step
    has_loss: np.ndarray                # (T,) bool: step t has an output and a loss
    params: dict                        # layer 1's W_x, W_h, b (b_hn) and the output W_y, c
    h0: np.ndarray                      # (H,) zeros
    h_prev: np.ndarray                  # (T, H) h_{t-1}; output-to-hidden: o_{t-1}, (T, V)
    h: np.ndarray                       # (T, H)
    c_prev: np.ndarray | None           # (T, H) LSTM cell state c_{t-1}
    c: np.ndarray | None                # (T, H) LSTM cell state c_t
    blocks: list                        # list of Block, from the step caches
    layers: list                        # layers[l][k]: (T, H) states of layer l, direction k
    top: np.ndarray                     # (T, K*H) what the output layer reads
    o: np.ndarray                       # (T, V) W_y top_t + c; NaN where no output
    y: np.ndarray                       # (T, V) softmax(o_t); NaN where no output
    losses: np.ndarray                  # (T,) L_t, 0 where no loss
    loss: float                         # L = sum_t L_t
    dO: np.ndarray                      # (T, V) dL_t/do_t, 0 where no loss
    windows: list                       # truncation Windows (one window [0, T) for full BPTT)
    k1: int | None
    k2: int | None
    dh_from_output: np.ndarray          # (T, H) through o_t (from layer 2 when depth > 1)
    dh_from_next: np.ndarray            # (T, H) through step t + 1
    dc_from_next: np.ndarray | None     # (T, H) LSTM: dL/dc_t through step t + 1
    contributions: dict                 # name -> (T, *shape) step t's share of dname
    running: dict                       # name -> (T, *shape) sum of contributions from T down to t
    grads: dict                         # name -> shape: the gradient shown (truncated if k1, k2)
    full_grads: dict                    # name -> shape: full BPTT
    loss_used: np.ndarray               # (T,) bool: L_t sends gradient (truncation may drop it)
    step_used: np.ndarray               # (T,) bool: step t receives gradient
    edge_used: np.ndarray               # (T-1,) bool: gradient flows back from step t+1 into t
    model: Model

    @property
    def T(self) -> int:
        return self.X.shape[0]

    def label(self, index) -> str:
        """A class index as the page shows it: its character (word mode) or its number from 1."""
        return self.vocab[index] if self.vocab else str(int(index) + 1)

    @property
    def input_ids(self) -> np.ndarray:
        """(T,) the class of each input (word mode: the character read), -1 for a zero input."""
        return np.where(self.X.any(axis=1), self.X.argmax(axis=1), -1)

    @property
    def dh(self) -> np.ndarray:
        """(T, H) dL/dh_t = from o_t (or from above) + from step t + 1."""
        return self.dh_from_output + self.dh_from_next

    @property
    def cost(self) -> "Cost":
        H, D, V = self.h.shape[1], self.X.shape[1], self.o.shape[1]
        return cost(self.kind, D, H, V, self.T, self.depth, self.bidirectional, self.architecture)


def _check_choice(architecture, kind, depth, bidirectional, k1, k2, seed):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}; got {architecture!r}")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or not 1 <= depth <= 3:
        raise ValueError(f"depth must be 1, 2 or 3; got {depth!r}")
    if architecture == "output-to-hidden" and (kind != "rnn" or depth != 1 or bidirectional):
        raise ValueError("the output-to-hidden architecture is defined for a single-layer, "
                         "one-direction vanilla RNN: h_t = tanh(W_x x_t + W_h o_{t-1} + b); got "
                         f"kind={kind!r}, depth={depth}, bidirectional={bidirectional}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    if (k1 is None) != (k2 is None):
        raise ValueError(f"give both k1 and k2 for truncated BPTT, or neither; got k1={k1!r}, k2={k2!r}")
    if k1 is not None and (depth != 1 or bidirectional):
        raise ValueError("truncated BPTT is shown on a single-layer, one-direction network; "
                         f"got depth={depth}, bidirectional={bidirectional}")


def unroll(kind="rnn", *, word="hello", vectors=None, hidden_size=3, architecture="many-to-many",
           depth=1, bidirectional=False, k1=None, k2=None, seed=0, **options) -> Trace:
    """Run a tiny network over a sequence and record every step, forward and backward (float64).

    Parameters
    ----------
    kind : {"rnn", "lstm", "gru"}
    word : str
        The sequence when ``vectors`` is None: one-hot characters, predicting the next one.
    vectors : (T + 1, D) array or None
        A vector sequence instead (see ``vector_sequence``); ``random_sequence`` makes one.
    hidden_size : int
        H.
    architecture : one of ARCHITECTURES
    depth : 1, 2 or 3
        Layers; the records are layer 1's, ``layers`` holds every layer's states.
    bidirectional : bool
    k1, k2 : int or None
        Truncated BPTT(k1, k2) (see ``truncation_windows``): the gradient recorded is the
        truncated one; ``full_grads`` keeps full BPTT. Single layer, one direction only.
    seed : int
        Weights: the same seed gives the same layer-1 weights for every depth and direction.
    **options
        Cell options, as ``make_cell``.
    """
    _check_choice(architecture, kind, depth, bidirectional, k1, k2, seed)
    if vectors is None:
        vocab, X, targets = word_sequence(word)
    else:
        vocab, (X, targets) = None, vector_sequence(vectors)
    T, D = X.shape
    V = D
    if architecture == "one-to-many":
        X = np.concatenate([X[:1], np.zeros_like(X[1:])])
    has_loss = np.ones(T, bool) if architecture != "many-to-one" else np.arange(T) == T - 1

    stack = make_stack(kind, D, hidden_size, depth, bidirectional=bidirectional, seed=seed,
                       dtype=np.float64, **options)
    K = 2 if bidirectional else 1
    rng = np.random.default_rng([seed, 1])
    bound = 1.0 / np.sqrt(K * hidden_size)  # PyTorch's nn.Linear default
    out = {"W_y": rng.uniform(-bound, bound, (V, K * hidden_size)), "c": rng.uniform(-bound, bound, V)}
    if architecture == "output-to-hidden":
        cell = stack.cells[0][0]
        params = {"W_x": cell.params["W_x"], "W_h": rng.uniform(-bound, bound, (hidden_size, V)),
                  "b": cell.params["b"], **out}
        model = Model(architecture, None, params, X, targets, has_loss)
        return _trace_output_recurrent(model, kind, vocab, k1, k2)
    model = Model(architecture, stack, out, X, targets, has_loss)
    return _trace_cells(model, kind, depth, bidirectional, vocab, k1, k2)


def _output_losses(o, targets, has_loss):
    """L_t and dL_t/do_t per step, from the engine's softmax cross-entropy (sum reduction)."""
    T, V = o.shape
    losses, dO = np.zeros(T), np.zeros((T, V))
    for t in np.flatnonzero(has_loss):
        losses[t], dO[t] = softmax_cross_entropy(o[t:t + 1], targets[t:t + 1], reduction="sum")
    return losses, dO


def _outputs(o, has_loss):
    """(o, y = softmax(o)), both NaN at the steps that have no output."""
    shown = has_loss[:, None]
    return np.where(shown, o, np.nan), np.where(shown, softmax(o), np.nan)


def _windowed_backward(T, windows, inject, step_back, zero):
    """BPTT over truncation windows, one ``step_back`` call per step and window.

    inject(t): gradient w.r.t. the state at t from the loss at t; step_back(t, dstate) ->
    (grads of step t, dstate_prev). States are arrays, or (dh, dc) pairs for the LSTM.
    Returns per-step sums over windows: from_loss, from_next (state gradients) and grads.
    """
    def add(a, b):
        return tuple(x + y for x, y in zip(a, b)) if isinstance(a, tuple) else a + b

    from_loss, from_next, grads = [zero] * T, [zero] * T, [None] * T
    for w in windows:
        carry = zero
        for t in range(w.stop - 1, w.grad_start - 1, -1):
            own = inject(t) if t >= w.loss_start else zero
            from_loss[t], from_next[t] = add(from_loss[t], own), add(from_next[t], carry)
            g, carry = step_back(t, add(own, carry))
            grads[t] = g if grads[t] is None else {k: grads[t][k] + g[k] for k in g}
    return from_loss, from_next, grads


def _windows(T, k1, k2):
    return truncation_windows(T, T, T) if k1 is None else truncation_windows(T, k1, k2)


def _usage(T, windows, has_loss):
    loss_used, step_used, edge_used = np.zeros(T, bool), np.zeros(T, bool), np.zeros(max(T - 1, 0), bool)
    for w in windows:
        loss_used[max(w.loss_start, w.grad_start):w.stop] = True
        step_used[w.grad_start:w.stop] = True
        edge_used[w.grad_start:w.stop - 1] = True
    return loss_used & has_loss, step_used, edge_used


def _sums(contributions, like):
    """Stack per-step dicts (None: no gradient) into (T, ...) arrays; running sums from T down to t."""
    zeros = {k: np.zeros_like(v) for k, v in like.items()}
    per_step = {k: np.stack([(g or zeros)[k] for g in contributions]) for k in like}
    running = {k: np.cumsum(v[::-1], axis=0)[::-1] for k, v in per_step.items()}
    return per_step, running, {k: v[0].copy() for k, v in running.items()}


def _blocks(cell, steps):
    """The gate blocks of layer 1 from its step caches (the values) and its weights (the terms)."""
    p, H = cell.params, cell.hidden_size
    x = np.concatenate([s.x for s in steps])          # (T, D)
    h_prev = np.concatenate([s.h_prev for s in steps])  # (T, H)
    names = {"rnn": "h", "lstm": "ifgo", "gru": "rzn"}[cell.kind]
    blocks = []
    for j, name in enumerate(names):
        rows = slice(j * H, (j + 1) * H)
        inp, bias = x @ p["W_x"][rows].T, p["b"][rows]
        rec = h_prev @ p["W_h"][rows].T
        if cell.kind == "gru" and name == "n":
            hn = np.concatenate([s.hn for s in steps])   # W_hn (r * h_prev), or W_hn h_prev + b_hn
            r = np.concatenate([s.r for s in steps])
            rec = r * hn if cell.options["reset_after"] else hn
        if cell.kind == "rnn":
            act, value = cell.options["nonlinearity"], np.concatenate([s.h for s in steps])
        else:
            act = "tanh" if name in "gn" else "sigmoid"
            value = np.concatenate([getattr(s, name) for s in steps])
        blocks.append(Block(name, act, inp, rec, bias, inp + rec + bias, value))
    return blocks


def _stack_losses(model):
    """Forward through the stack and the output layer: (Hs (T, K*H), o (T, V), cache)."""
    top, cache = stack_forward(model.stack, model.X[:, None, :])  # (T, 1, K*H)
    return top[:, 0], linear_forward(top[:, 0], model.params["W_y"], model.params["c"]), cache


def _layer1_upstream(model, cache: StackCache, dtop):
    """dL/dh_t of layer 1 (forward direction) from above: the output layer, or layer 2."""
    stack, H = model.stack, model.stack.cells[0][0].hidden_size
    if stack.num_layers == 1:
        return dtop[:, :H]
    upper = Stack(stack.cells[1:], stack.bidirectional)
    _, dinput, _ = stack_backward(upper, dtop[:, None, :], StackCache(cache.caches[1:]))
    return dinput[:, 0, :H]


def _trace_cells(model, kind, depth, bidirectional, vocab, k1, k2):
    stack, T = model.stack, model.X.shape[0]
    top, o, cache = _stack_losses(model)
    losses, dO = _output_losses(o, model.targets, model.has_loss)
    cell, steps = stack.cells[0][0], cache.caches[0][0].steps
    H = cell.hidden_size
    dtop = dO @ model.params["W_y"]                       # (T, K*H)
    upstream = _layer1_upstream(model, cache, dtop)       # (T, H)

    zero = (np.zeros((1, H)), np.zeros((1, H))) if kind == "lstm" else np.zeros((1, H))

    def inject(t):
        dh = upstream[t:t + 1]
        return (dh, np.zeros((1, H))) if kind == "lstm" else dh

    def step_back(t, dstate):
        grads, _, dstate_prev = step_backward(cell, dstate, steps[t])
        return grads, dstate_prev

    def run(windows):
        from_loss, from_next, grads = _windowed_backward(T, windows, inject, step_back, zero)
        for t in range(T):  # the output layer is not recurrent: truncation does not touch it
            dW_y, dc, _ = linear_backward(dO[t:t + 1], top[t:t + 1], model.params["W_y"])
            grads[t] = {**(grads[t] or {k: np.zeros_like(v) for k, v in cell.params.items()}),
                        "W_y": dW_y, "c": dc}
        return from_loss, from_next, grads

    params = {**cell.params, **model.params}
    windows = _windows(T, k1, k2)
    from_loss, from_next, per_step = run(windows)
    contributions, running, grads = _sums(per_step, params)
    full_grads = grads if k1 is None else _sums(run(_windows(T, None, None))[2], params)[2]
    first = (lambda s: s[0]) if kind == "lstm" else (lambda s: s)
    loss_used, step_used, edge_used = _usage(T, windows, model.has_loss)
    o_shown, y = _outputs(o, model.has_loss)
    # layers[l][1], the reverse cell, ran on the reversed sequence: flip it back to t = 1 .. T
    layers = [[np.concatenate([s.h for s in c.steps])[::(-1 if k else 1)].copy()
               for k, c in enumerate(layer)] for layer in cache.caches]
    lstm = kind == "lstm"
    return Trace(
        kind=kind, architecture=model.architecture, depth=depth, bidirectional=bidirectional,
        vocab=vocab, X=model.X, targets=model.targets, has_loss=model.has_loss,
        params={k: v.copy() for k, v in params.items()}, h0=np.zeros(H),
        h_prev=np.concatenate([s.h_prev for s in steps]), h=np.concatenate([s.h for s in steps]),
        c_prev=np.concatenate([s.c_prev for s in steps]) if lstm else None,
        c=np.concatenate([s.c for s in steps]) if lstm else None,
        blocks=_blocks(cell, steps), layers=layers, top=top, o=o_shown, y=y, losses=losses,
        loss=float(losses.sum()), dO=dO, windows=windows, k1=k1, k2=k2,
        dh_from_output=np.concatenate([first(s) for s in from_loss]),
        dh_from_next=np.concatenate([first(s) for s in from_next]),
        dc_from_next=np.concatenate([s[1] for s in from_next]) if lstm else None,
        contributions=contributions, running=running, grads=grads, full_grads=full_grads,
        loss_used=loss_used, step_used=step_used, edge_used=edge_used, model=model)


def _trace_output_recurrent(model, kind, vocab, k1, k2):
    p, T = model.params, model.X.shape[0]
    _, steps = output_recurrent_forward(p, model.X[:, None, :])
    o = np.concatenate([s.o for s in steps])                  # (T, V)
    losses, dO = _output_losses(o, model.targets, model.has_loss)
    H, V = p["W_x"].shape[0], o.shape[1]

    def step_back(t, do):
        grads, _, do_prev = output_recurrent_step_backward(p, do, steps[t])
        return grads, do_prev

    def run(windows):
        return _windowed_backward(T, windows, lambda t: dO[t:t + 1], step_back, np.zeros((1, V)))

    windows = _windows(T, k1, k2)
    from_loss, from_next, per_step = run(windows)
    contributions, running, grads = _sums(per_step, p)
    full_grads = grads if k1 is None else _sums(run(_windows(T, None, None))[2], p)[2]
    loss_used, step_used, edge_used = _usage(T, windows, model.has_loss)
    h = np.concatenate([s.h for s in steps])
    x, o_prev = np.concatenate([s.x for s in steps]), np.concatenate([s.o_prev for s in steps])
    inp, rec = x @ p["W_x"].T, o_prev @ p["W_h"].T
    block = Block("h", "tanh", inp, rec, p["b"], inp + rec + p["b"], h)
    o_shown, y = _outputs(o, model.has_loss)
    return Trace(
        kind=kind, architecture=model.architecture, depth=1, bidirectional=False, vocab=vocab,
        X=model.X, targets=model.targets, has_loss=model.has_loss,
        params={k: v.copy() for k, v in p.items()}, h0=np.zeros(H), h_prev=o_prev, h=h,
        c_prev=None, c=None, blocks=[block], layers=[[h]], top=h, o=o_shown, y=y, losses=losses,
        loss=float(losses.sum()), dO=dO, windows=windows, k1=k1, k2=k2,
        # Both sources reach h_t through o_t: dh_t = W_y^T (dL_t/do_t + dL/do_t via step t + 1).
        dh_from_output=np.concatenate(from_loss) @ p["W_y"],     # (T, V) -> (T, H)
        dh_from_next=np.concatenate(from_next) @ p["W_y"], dc_from_next=None,
        contributions=contributions, running=running, grads=grads, full_grads=full_grads,
        loss_used=loss_used, step_used=step_used, edge_used=edge_used, model=model)


# ---------------------------------------------------------------------------------------------
# The unrolled graph as nodes and edges, for drawing.

class Node(NamedTuple):
    name: str        # "x", "h", "o", "L"; "h0" / "o0" for the initial state
    t: int           # step, 0 .. T-1 (the initial state: -1, or T for a reverse direction)
    row: int         # 0 inputs, 1 .. L*K hidden (layer-major, reverse above forward), outputs, losses
    layer: int       # 0-based layer of a hidden node, -1 otherwise
    direction: int   # 0 forward in time, 1 reverse
    active: bool     # a real input (one-to-many: only t = 1), an output that has a loss
    used: bool       # receives gradient under the chosen truncation


class Edge(NamedTuple):
    src: int         # index into nodes
    dst: int
    weight: str      # the shared weight it applies: "W_x", "W_h", "W_y", or "" (softmax + loss)
    kind: str        # "input", "recurrent", "up" (layer to layer), "output", "loss"
    used: bool       # the backward pass sends gradient along it


def graph(trace: Trace):
    """The unrolled computational graph of ``trace``: (list of Node, list of Edge).

    Layer 1 of a deep network reads x_t with W_x; the layers above read the layer below with
    their own input weights, also drawn as "W_x". Gradient flags follow the truncation windows
    (layer 1; deep and bidirectional views are never truncated).
    """
    T, L, K = trace.T, trace.depth, 2 if trace.bidirectional else 1
    o2h = trace.architecture == "output-to-hidden"
    has_out, one_input = trace.has_loss, trace.architecture != "one-to-many"
    nodes, index = [], {}

    def add(name, t, row, layer=-1, direction=0, active=True, used=True):
        index[name, t, layer, direction] = len(nodes)
        nodes.append(Node(name, t, row, layer, direction, active, used))

    o_row, l_row = L * K + 1, L * K + 2
    for t in range(T):
        add("x", t, 0, active=one_input or t == 0, used=bool(trace.step_used[t]))
        for l in range(L):
            for k in range(K):
                add("h", t, 1 + l * K + k, l, k, used=bool(trace.step_used[t]) or l > 0 or k > 0)
        if has_out[t] or o2h:
            add("o", t, o_row, active=bool(has_out[t]), used=bool(trace.step_used[t]))
        if has_out[t]:
            add("L", t, l_row, used=bool(trace.loss_used[t]))
    if o2h:
        add("o0", -1, o_row, used=bool(trace.step_used[0]))
    else:
        for l in range(L):
            for k in range(K):
                add("h0", T if k else -1, 1 + l * K + k, l, k, used=bool(trace.step_used[0] or l or k))

    edges = []

    def link(src, dst, weight, kind, used=True):
        edges.append(Edge(index[src], index[dst], weight, kind, bool(used)))

    for t in range(T):
        step = bool(trace.step_used[t])
        for l in range(L):
            for k in range(K):
                h = ("h", t, l, k)
                if l == 0:
                    link(("x", t, -1, 0), h, "W_x", "input", step or k)
                else:
                    for kk in range(K):
                        link(("h", t, l - 1, kk), h, "W_x", "up")
                if o2h:
                    prev = ("o", t - 1, -1, 0) if t else ("o0", -1, -1, 0)
                    link(prev, h, "W_h", "recurrent", trace.edge_used[t - 1] if t else step)
                else:
                    s = t + 1 if k else t - 1
                    prev = ("h", s, l, k) if 0 <= s < T else ("h0", s, l, k)
                    used = (trace.edge_used[t - 1] if t else step) if (l, k) == (0, 0) else True
                    link(prev, h, "W_h", "recurrent", used)
        if has_out[t] or o2h:
            for k in range(K):
                link(("h", t, L - 1, k), ("o", t, -1, 0), "W_y", "output", step if o2h else has_out[t])
        if has_out[t]:
            link(("o", t, -1, 0), ("L", t, -1, 0), "", "loss", trace.loss_used[t])
    return nodes, edges


# ---------------------------------------------------------------------------------------------
# Finite-difference check of the full BPTT gradient.

class GradientCheck(NamedTuple):
    analytic: np.ndarray   # (n,) full BPTT, at the checked entries
    numeric: np.ndarray    # (n,) central differences, same entries
    shown: np.ndarray      # (n,) the gradient the page shows (truncated if k1, k2)
    entries: int           # n, how many entries were checked
    size: int              # entries in the parameter
    error: float           # relative_error(analytic, numeric): ~1e-9 in float64
    shown_error: float     # relative_error(shown, numeric): far from 0 under truncation


def model_loss(model: Model) -> float:
    """L = sum_t L_t of the model as it stands (re-reads the weights on every call)."""
    if model.stack is None:
        Os, _ = output_recurrent_forward(model.params, model.X[:, None, :])
        o = Os[:, 0]
    else:
        o = _stack_losses(model)[1]
    loss, _ = softmax_cross_entropy(o[model.has_loss], model.targets[model.has_loss], reduction="sum")
    return loss


def gradient_check(trace: Trace, eps=1e-5, max_entries=24, seed=0) -> dict:
    """Central differences of L against BPTT for layer 1's weights and the output layer's.

    Every entry of a parameter is checked when it has at most ``max_entries``, otherwise a
    random sample of that many (each entry costs two forward passes). eps = 1e-5 balances the
    O(eps^2) truncation error against rounding, O(1e-16 L / eps). Works on copies: the trace
    is unchanged. Returns {name: GradientCheck} for the names of ``trace.grads``.
    """
    m = trace.model
    if m.stack is None:
        model = m._replace(params={k: v.copy() for k, v in m.params.items()})
        arrays = model.params
    else:
        cells = [[c.copy() for c in layer] for layer in m.stack.cells]
        model = m._replace(stack=Stack(cells, m.stack.bidirectional),
                           params={k: v.copy() for k, v in m.params.items()})
        arrays = {**cells[0][0].params, **model.params}
    rng = np.random.default_rng(seed)
    result = {}
    for name in trace.grads:
        arr = arrays[name]
        flat = np.arange(arr.size)
        if arr.size > max_entries:
            flat = np.sort(rng.choice(arr.size, max_entries, replace=False))
        idx = [np.unravel_index(i, arr.shape) for i in flat]
        numeric = numerical_gradient(lambda: model_loss(model), arr, eps, idx).reshape(-1)[flat]
        analytic, shown = trace.full_grads[name].reshape(-1)[flat], trace.grads[name].reshape(-1)[flat]
        result[name] = GradientCheck(analytic, numeric, shown, len(flat), arr.size,
                                     relative_error(analytic, numeric), relative_error(shown, numeric))
    return result


# ---------------------------------------------------------------------------------------------
# Cost: what BPTT keeps and computes, per step and over T steps.

class Cost(NamedTuple):
    T: int
    floats_per_step: int    # values the backward pass keeps per step (step caches + outputs)
    floats: int             # kept over the whole sequence, before the backward pass starts
    macs_per_step: int      # multiply-adds of the matrix products of one forward step
    forward_macs: int
    backward_macs: int      # each product has two in the backward (the input's and the weight's)
    sequential_steps: int   # the longest chain of steps that must wait for each other: T + L - 1


# Per-step cache sizes: the NamedTuple fields of cells.py, without h_prev (and c_prev), which are
# the previous step's own arrays.
_CACHE = {"rnn": lambda D, H: D + 2 * H,   # x, a, h
          "lstm": lambda D, H: D + 7 * H,  # x, i, f, g, o, c, tanh_c, h
          "gru": lambda D, H: D + 5 * H}   # x, r, z, n, hn, h


def cost(kind, input_size, hidden_size, output_size, T, depth=1, bidirectional=False,
         architecture="many-to-many") -> Cost:
    """Memory and time of BPTT for a batch of one, from the sizes: both are a fixed amount per
    step times T (plus one output for many-to-one), so they grow linearly in T."""
    D, H, V, L = input_size, hidden_size, output_size, depth
    K = 2 if bidirectional else 1
    if architecture == "output-to-hidden":
        # cache x, a, h, o (o_prev is the previous o); the output layer is inside the step
        step_floats, step_macs, out_macs = D + 2 * H + V, H * (D + V) + V * H, 0
    else:
        G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
        inputs = [D] + [K * H] * (L - 1)  # what each layer reads
        step_floats = sum(K * _CACHE[kind](d, H) for d in inputs)
        step_macs = sum(K * G * H * (d + H) for d in inputs)
        out_macs = V * K * H
    # An output keeps y_t (V values) for dL/do_t = y_t - onehot(target_t).
    if architecture == "many-to-one":
        once_floats, once_macs = V, out_macs
    else:
        once_floats, once_macs = 0, 0
        step_floats, step_macs = step_floats + V, step_macs + out_macs
    forward_macs = T * step_macs + once_macs
    return Cost(T, step_floats, T * step_floats + once_floats, step_macs, forward_macs,
                2 * forward_macs, T + L - 1)
