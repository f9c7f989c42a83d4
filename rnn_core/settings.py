"""Every setting of every page: one key, one default, one limit, declared once.

The key is also the setting's name in the URL (``/gradient-flow?gf_rho=1.05``), in session state
and in exercise files (``[settings] gf_rho = 1.05``). A value outside the limit is never used: a
link falls back to the default, an exercise file is refused. Pure data and parsing, no Streamlit:
the pages draw their widgets from these declarations, and ``rnn_core.exercises`` checks files
and computes goals against them.

Symbols: a limit is a ``Range(lo, hi, step)`` of numbers (inclusive; ints when ``lo`` and the
default are ints), a ``Choices(values)`` tuple, a ``Text(max_chars, pattern)`` or a ``Flag()``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, NamedTuple


class Range(NamedTuple):
    lo: float
    hi: float
    step: float | None = None   # the widget's step; None: integers step by 1

    def admits(self, value: Any) -> bool:
        return _is_number(value) and math.isfinite(value) and self.lo <= value <= self.hi


class Choices(NamedTuple):
    values: tuple

    def admits(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) or _same_number(value, v) for v in self.values)


class Text(NamedTuple):
    max_chars: int
    pattern: str = r".*"        # re.fullmatch; the default admits any text up to max_chars

    def admits(self, value: Any) -> bool:
        return (isinstance(value, str) and len(value) <= self.max_chars
                and re.fullmatch(self.pattern, value, flags=re.DOTALL) is not None)


class Flag(NamedTuple):
    def admits(self, value: Any) -> bool:
        return isinstance(value, bool)


Limit = Range | Choices | Text | Flag


@dataclass(frozen=True)
class Setting:
    """One control's value: `key` (session state, URL and exercise files), `default`, `limit`."""
    key: str
    default: Any
    limit: Limit
    label: str                  # what the widget says, for the instructors' guide and errors
    in_url: bool = True         # False: too long or private to travel in a link

    def __post_init__(self):
        if not self.limit.admits(self.default):
            raise ValueError(f"setting {self.key}: default {self.default!r} is outside {self.limit}")

    def parse(self, raw: str | None) -> Any:
        """`raw` (a URL value) read as this setting; the default if missing, malformed or outside."""
        if raw is None:
            return self.default
        value = _parse(raw.strip() if not isinstance(self.limit, Text) else raw, self.default)
        return value if value is not None and self.limit.admits(value) else self.default

    def coerce(self, value: Any) -> Any:
        """`value` (from TOML or session state) as this setting's type, or raise ValueError."""
        if isinstance(self.default, bool) or isinstance(self.limit, Flag):
            if not isinstance(value, bool):
                raise ValueError(f"{self.key} must be true or false; got {value!r}")
        elif isinstance(self.default, Integral):
            if isinstance(value, bool) or not (isinstance(value, Integral)
                                               or isinstance(value, float) and value.is_integer()):
                raise ValueError(f"{self.key} must be a whole number; got {value!r}")
            value = int(value)
        elif isinstance(self.default, Real):
            if isinstance(value, bool) or not isinstance(value, (Integral, Real)):
                raise ValueError(f"{self.key} must be a number; got {value!r}")
            value = float(value)
        elif isinstance(self.default, str) and not isinstance(value, str):
            raise ValueError(f"{self.key} must be text; got {value!r}")
        if not self.limit.admits(value):
            raise ValueError(f"{self.key} = {value!r} is outside its limit: {describe(self.limit)}")
        return value


def format_value(value: Any) -> str | None:
    """The URL spelling of `value` that `Setting.parse` reads back; None if there is none."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (Integral, Real)):
        return repr(value.item() if hasattr(value, "item") else value)
    if isinstance(value, str):
        return value
    return None


def describe(limit: Limit) -> str:
    """A limit in words, for error messages and the instructors' guide."""
    if isinstance(limit, Range):
        return f"from {limit.lo:g} to {limit.hi:g}" + (f" in steps of {limit.step:g}" if limit.step else "")
    if isinstance(limit, Choices):
        return "one of " + ", ".join(format_value(v) or repr(v) for v in limit.values)
    if isinstance(limit, Text):
        return f"text of at most {limit.max_chars} characters" + (
            f" matching {limit.pattern}" if limit.pattern != r".*" else "")
    return "true or false"


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _parse(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        lowered = raw.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else None
    if isinstance(default, Integral):
        try:
            return int(raw)
        except ValueError:
            return None
    if isinstance(default, Real):
        try:
            number = float(raw)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    if isinstance(default, str):
        return raw
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (Integral, Real)) and not isinstance(value, bool)


def _same_number(a: Any, b: Any) -> bool:
    return _is_number(a) and _is_number(b) and not isinstance(b, str) and a == b


# --- the settings, page by page ------------------------------------------------------------
# Page names are the pages' URL paths ("" is Home). Order: as the page draws them.

SEED_MAX = 2**31 - 1  # fits np.random.default_rng, RandomState and a JavaScript number
NOTATIONS = ("course", "textbook", "pytorch")

SHARED = (
    Setting("seed", 0, Range(0, SEED_MAX), "Random seed"),
    Setting("notation", "course", Choices(NOTATIONS), "Notation"),
)

UNROLL = (
    Setting("unroll_cell", "rnn", Choices(("rnn", "lstm", "gru")), "Cell"),
    Setting("unroll_arch", "many-to-many",
            Choices(("many-to-many", "many-to-one", "one-to-many", "output-to-hidden")), "Architecture"),
    Setting("unroll_source", "word", Choices(("word", "vectors")), "Input sequence"),
    Setting("unroll_word", "hello", Text(9, r"[a-z]{0,9}"), "Word (3-9 lowercase letters)"),
    Setting("unroll_hidden", 3, Range(2, 8), "Hidden size H"),
    Setting("unroll_input", 3, Range(2, 6), "Input size D"),
    Setting("unroll_length", 5, Range(2, 8), "Length T"),
    Setting("unroll_depth", 1, Range(1, 3), "Depth (layers)"),
    Setting("unroll_bidir", False, Flag(), "Bidirectional"),
    Setting("unroll_trunc", False, Flag(), "Truncated BPTT"),
    Setting("unroll_k1", 2, Range(1, 8), "k1"),
    Setting("unroll_k2", 2, Range(1, 8), "k2"),
    Setting("unroll_phase", "forward", Choices(("forward", "backward")), "Phase"),
    Setting("unroll_t", 1, Range(1, 8), "Step t"),
)

GF_TABS = ("Gradient by lag", "Non-normal W_h", "Clipping", "RNN vs LSTM vs GRU")
GF_LRS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
GF_THRESHOLDS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
GF_STEPS = (50, 100, 200, 300, 500, 1000)
GF_MAX_PAIRS, GF_MAX_REALS = 3, 2

GRADIENT_FLOW = (
    Setting("gf_construction", "orthogonal",
            Choices(("gaussian", "orthogonal", "identity", "eigenvalues")), "Construction"),
    Setting("gf_rho", 0.9, Range(0.1, 2.0, 0.05), "Spectral radius ρ"),
    Setting("gf_pairs", 1, Range(0, GF_MAX_PAIRS), "Complex pairs"),
    *(Setting(f"gf_mag{i}", m, Range(0.0, 2.0, 0.01), f"|λ| pair {i}")
      for i, m in zip(range(1, 4), (0.97, 0.8, 0.6))),
    *(Setting(f"gf_angle{i}", a, Range(0.0, 180.0, 1.0), f"angle {i} (°)")
      for i, a in zip(range(1, 4), (20.0, 90.0, 150.0))),
    Setting("gf_reals", 1, Range(0, GF_MAX_REALS), "Real eigenvalues"),
    Setting("gf_real1", 0.9, Range(-2.0, 2.0, 0.01), "λ real 1"),
    Setting("gf_real2", -0.5, Range(-2.0, 2.0, 0.01), "λ real 2"),
    Setting("gf_skew", 1.0, Range(1.0, 10.0, 0.5), "Eigenvector skew (condition number)"),
    Setting("gf_hidden", 64, Range(2, 128), "Hidden size H"),
    Setting("gf_T", 200, Range(10, 300), "Sequence length T"),
    Setting("gf_nonlin", "tanh", Choices(("tanh", "relu", "linear")), "Nonlinearity"),
    Setting("gf_input", 0.1, Range(0.0, 3.0, 0.05), "Input scale"),
    Setting("gf_tab", GF_TABS[0], Choices(GF_TABS), "Tab"),
    Setting("gf_nn_rho", 0.9, Range(0.5, 0.99, 0.01), "Eigenvalue ρ (all of them)"),
    Setting("gf_nn_shear", 3.0, Range(0.0, 5.0, 0.1), "Shear s"),
    Setting("gf_task", "remember", Choices(("remember", "adding")), "Task"),
    Setting("gf_clip_T", 50, Range(10, 100, 5), "Sequence length"),
    Setting("gf_clip_rho", 1.5, Range(0.5, 2.0, 0.05), "ρ of the initial W_h"),
    Setting("gf_lr", 0.05, Choices(GF_LRS), "Learning rate"),
    Setting("gf_clip", "norm", Choices(("norm", "value")), "Clipping of the second run"),
    Setting("gf_threshold", 1.0, Choices(GF_THRESHOLDS), "Threshold"),
    Setting("gf_steps", 300, Choices(GF_STEPS), "Steps"),
    Setting("gf_w0", 2.2, Range(0.5, 3.5, 0.05), "Start w"),
    Setting("gf_b0", -0.8, Range(-1.0, 0.5, 0.05), "Start b"),
    Setting("gf_cliff_lr", 0.5, Range(0.05, 2.0, 0.05), "Step size"),
    Setting("gf_gate_bias", 2.0, Range(-2.0, 5.0, 0.5), "Memory-gate bias (LSTM forget f, GRU update z)"),
)

GATES_TABS = ("Gates over time", "Memory path", "Forget-gate bias", "GRU conventions", "RNN vs LSTM vs GRU")

GATES = (
    Setting("gates_cell", "lstm", Choices(("lstm", "gru", "gru_after")), "Cell"),
    Setting("gates_hidden", 8, Range(4, 32), "Hidden size H"),
    Setting("gates_T", 100, Range(10, 200, 5), "Sequence length T"),
    Setting("gates_scale", 1.0, Range(0.0, 3.0, 0.1), "Input scale"),
    Setting("gates_bias", 1.0, Range(0.0, 5.0, 0.25), "Memory-gate bias: b_f (LSTM), b_z (GRU)"),
    Setting("gates_unit", 1, Range(1, 32), "Hidden unit shown"),
    Setting("gates_tab", GATES_TABS[0], Choices(GATES_TABS), "Tab"),
)

CHAR_CORPORA = ("stories", "python", "arithmetic")

CHAR_RNN = (
    Setting("char_corpus", "stories", Choices((*CHAR_CORPORA, "upload")), "Text to learn"),
    Setting("char_cell", "lstm", Choices(("rnn", "lstm", "gru")), "Cell"),
    Setting("char_hidden", 128, Choices((32, 64, 128, 256)), "Hidden size H"),
    Setting("char_layers", 1, Choices((1, 2, 3)), "Layers"),
    Setting("char_seq", 64, Choices((16, 32, 64, 128)), "Sequence length T (truncated BPTT)"),
    Setting("char_batch", 32, Choices((8, 16, 32, 64)), "Batch size B"),
    Setting("char_optimizer", "adam", Choices(("sgd", "momentum", "adagrad", "adam")), "Optimizer"),
    Setting("char_lr", 2e-3, Choices((1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)),
            "Learning rate"),
    Setting("char_clip", 5.0, Choices((0.0, 0.25, 1.0, 5.0, 25.0)), "Clip gradient norm at"),
    Setting("char_steps", 2000, Choices((300, 1000, 2000, 5000, 10000)), "Steps"),
    Setting("char_metric", "perplexity", Choices(("perplexity", "loss")), "Show"),
    Setting("char_temperature", 0.8, Range(0.0, 2.0, 0.05), "Temperature"),
    Setting("char_prime", "", Text(200), "Priming text"),
    Setting("char_length", 300, Range(10, 2000, 50), "Length"),
)

PAGES: dict[str, tuple[Setting, ...]] = {
    "": (),
    "unroll": UNROLL,
    "gradient-flow": GRADIENT_FLOW,
    "gates": GATES,
    "char-rnn": CHAR_RNN,
    "exercises": (),
}


def page_settings(page: str) -> dict[str, Setting]:
    """The settings a page reads, shared ones (seed, notation) first, by key."""
    if page not in PAGES:
        raise ValueError(f"unknown page {page!r}; pages: {', '.join(repr(p) for p in PAGES)}")
    return {s.key: s for s in (*SHARED, *PAGES[page])}


def defaults(page: str) -> dict[str, Any]:
    """Every setting of `page` at its default."""
    return {key: s.default for key, s in page_settings(page).items()}


def find(key: str) -> tuple[str, Setting]:
    """The page that owns setting `key`, and the setting ("" for the shared seed and notation)."""
    for s in SHARED:
        if s.key == key:
            return "", s
    for page, group in PAGES.items():
        for s in group:
            if s.key == key:
                return page, s
    raise KeyError(key)
