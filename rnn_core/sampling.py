"""What a trained character model says: samples, next-character probabilities, hidden units.

Symbols: N characters of text, V vocabulary size, H hidden size, L layers.

Generation runs the model one character at a time: the state after the priming text is the
model's summary of it, and every sampled character is fed back as the next input.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .cells import core_forward
from .charmodel import CharModel, char_forward
from .text import Vocab, sample_from_probs, softmax_with_temperature


def _encode_prime(vocab: Vocab, prime):
    if not isinstance(prime, str) or not prime:
        raise ValueError("the priming text must have at least one character")
    return vocab.encode(prime)


def read(model: CharModel, ids):
    """Run the model over a text (N,) of ids in one pass.

    Returns
    -------
    logits : (N, V) next-character logits after each character
    states : list of L states after the last character (batch of 1)
    """
    logits, states, _ = char_forward(model, np.asarray(ids).reshape(-1, 1))  # (N, 1, V)
    return logits[:, 0], states


def _step(model: CharModel, char_id, states):
    """One character through every layer; returns the logits (V,) and the new states."""
    inp, new_states = None, []
    for l, cell in enumerate(model.cells):
        W_x, b = cell.params["W_x"], cell.params["b"]
        xa = (W_x[:, char_id] + b)[None] if l == 0 else inp @ W_x.T + b  # (1, G*H)
        state, step = core_forward(cell, None, xa, states[l])
        new_states.append(state)
        inp = step.h
    return (inp @ model.params["W_y"].T + model.params["c"])[0], new_states


def sample_text(model: CharModel, vocab: Vocab, prime, length, temperature=1.0, rng=None):
    """Continue a priming text by ``length`` characters sampled at a temperature.

    Parameters
    ----------
    prime : str, at least one character, all in the vocabulary
    length : int >= 0, characters to generate
    temperature : float >= 0; 0 is greedy (always the most likely character)
    rng : np.random.Generator, or an int seed, or None

    Returns
    -------
    str, the generated characters only (without the prime)
    """
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"length must be a non-negative integer; got {length!r}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    logits, states = read(model, _encode_prime(vocab, prime))
    logits = logits[-1]
    out = np.empty(length, dtype=np.int64)
    for k in range(length):
        out[k] = sample_from_probs(softmax_with_temperature(logits, temperature), rng)
        logits, states = _step(model, out[k], states)
    return vocab.decode(out)


def next_char_probs(model: CharModel, vocab: Vocab, context, temperature=1.0):
    """Probabilities (V,) of the character that follows ``context`` (float64, sums to 1)."""
    logits, _ = read(model, _encode_prime(vocab, context))
    return softmax_with_temperature(logits[-1], temperature)


class Activations(NamedTuple):
    h: np.ndarray          # (N, H) hidden state after each character
    c: np.ndarray | None   # (N, H) LSTM cell state after each character, else None


def hidden_activations(model: CharModel, vocab: Vocab, text, layer=-1) -> Activations:
    """Hidden states of one layer while the model reads ``text`` (for colouring text by a unit)."""
    L = model.num_layers
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -L <= layer < L:
        raise ValueError(f"layer must be an integer in [{-L}, {L}); got {layer!r}")
    ids = _encode_prime(vocab, text).reshape(-1, 1)  # (N, 1)
    _, _, cache = char_forward(model, ids)
    steps = cache.layers[layer].steps
    h = np.stack([s.h[0] for s in steps])  # (N, H)
    c = np.stack([s.c[0] for s in steps]) if model.kind == "lstm" else None
    return Activations(h, c)


def most_variable_units(h, k=8):
    """Indices of the ``k`` units whose activations vary most over a text, h (N, H), largest first."""
    h = np.asarray(h)
    if h.ndim != 2:
        raise ValueError(f"h must be (N, H); got shape {h.shape}")
    return [int(i) for i in np.argsort(-h.std(axis=0), kind="stable")[:k]]
