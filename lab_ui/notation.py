"""The notation card as data: one symbol, three spellings (course, textbook, PyTorch).

No Streamlit here, so the table can be tested and reused on its own.
"""
from __future__ import annotations

from typing import NamedTuple


class Notation(NamedTuple):
    label: str                # shown in the sidebar selector
    symbols: dict[str, str]   # plain-text spelling of each course symbol
    latex: dict[str, str]     # the same, for st.latex and $...$ in markdown


# The course symbols, in the order the card lists them.
SYMBOLS = ("W_x", "W_h", "b", "W_y", "c")

# What each symbol is, in one phrase, for the card's first column.
MEANING = {
    "W_x": "input weights",
    "W_h": "recurrent weights",
    "b": "hidden bias",
    "W_y": "output weights",
    "c": "output bias",
}

NOTATIONS = {
    "course": Notation(
        "Course (W_x, W_h, W_y)",
        {s: s for s in SYMBOLS},
        {"W_x": "W_x", "W_h": "W_h", "b": "b", "W_y": "W_y", "c": "c"},
    ),
    "textbook": Notation(
        "Textbook (U, W, V)",
        {"W_x": "U", "W_h": "W", "b": "b", "W_y": "V", "c": "c"},
        {"W_x": "U", "W_h": "W", "b": "b", "W_y": "V", "c": "c"},
    ),
    # PyTorch's nn.RNN has two biases that always appear summed, and no output layer:
    # W_y and c live in a separate nn.Linear, here called fc.
    "pytorch": Notation(
        "PyTorch (weight_ih_l0, ...)",
        {
            "W_x": "weight_ih_l0",
            "W_h": "weight_hh_l0",
            "b": "bias_ih_l0 + bias_hh_l0",
            "W_y": "fc.weight",
            "c": "fc.bias",
        },
        {
            "W_x": r"\mathrm{weight\_ih\_l0}",
            "W_h": r"\mathrm{weight\_hh\_l0}",
            "b": r"\mathrm{bias\_ih\_l0} + \mathrm{bias\_hh\_l0}",
            "W_y": r"\mathrm{fc.weight}",
            "c": r"\mathrm{fc.bias}",
        },
    ),
}

DEFAULT_NOTATION = "course"

EQUATIONS = (
    r"h_t = \tanh(W_x x_t + W_h h_{t-1} + b)",
    r"o_t = W_y h_t + c",
    r"y_t = \operatorname{softmax}(o_t)",
)

GRU_UPDATE = r"h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}"
OUTPUT_GATE = r"o^{\text{gate}}"  # the LSTM's output gate: o_t is already the network's output, W_y h_t + c
GRU_NOTE = (
    "GRU update as in PyTorch: z close to 1 keeps the old state. "
    "Some slides write the update with z and 1 - z swapped; the meaning of z is then reversed."
)


def symbol(name: str, notation: str = DEFAULT_NOTATION, *, latex: bool = False) -> str:
    """Spell the course symbol `name` ("W_x", "W_h", "b", "W_y" or "c") in `notation`."""
    if notation not in NOTATIONS:
        raise ValueError(f"notation must be one of {sorted(NOTATIONS)}; got {notation!r}")
    if name not in SYMBOLS:
        raise ValueError(f"name must be one of {list(SYMBOLS)}; got {name!r}")
    table = NOTATIONS[notation].latex if latex else NOTATIONS[notation].symbols
    return table[name]
