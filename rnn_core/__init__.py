"""rnn_core: recurrent networks in NumPy with explicit backpropagation through time.

    cell = make_cell("lstm", input_size=3, hidden_size=5, seed=0, dtype=np.float64)
    Hs, cache = forward(cell, X)                 # X (T, B, D) -> Hs (T, B, H)
    grads, dX, dstate0 = backward(cell, dHs, cache)

No Streamlit here: the engine is usable on its own, from a notebook or a script.
"""
from . import checkpoint, corpora, init, ngram, optim, text
from .cells import Cell, GRUStep, LSTMStep, RNNStep, make_cell, step_backward, step_forward
from .gradcheck import check_cell, numerical_gradient, relative_error
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .init import matrix_from_eigenvalues, scale_to_spectral_radius, spectrum
from .losses import linear_backward, linear_forward, perplexity, softmax, softmax_cross_entropy
from .sequence import (SequenceCache, Window, backward, final_state, forward, truncated_backward,
                       truncation_windows)
from .optim import (SGD, Adagrad, Adam, NonFiniteGradientError, clip_grad_norm, clip_grad_value,
                    global_norm, make_optimizer)
from .stack import Stack, make_stack, stack_backward, stack_forward

__all__ = [
    "Cell", "RNNStep", "LSTMStep", "GRUStep", "make_cell", "step_forward", "step_backward",
    "SequenceCache", "Window", "forward", "backward", "final_state", "truncated_backward",
    "truncation_windows", "Stack", "make_stack", "stack_forward", "stack_backward",
    "linear_forward", "linear_backward", "softmax", "softmax_cross_entropy", "perplexity",
    "check_cell", "numerical_gradient", "relative_error",
    "SGD", "Adagrad", "Adam", "make_optimizer", "NonFiniteGradientError", "clip_grad_norm",
    "clip_grad_value", "global_norm", "matrix_from_eigenvalues", "scale_to_spectral_radius",
    "spectrum", "save_checkpoint", "load_checkpoint", "CheckpointError",
    "checkpoint", "corpora", "init", "ngram", "optim", "text",
]
