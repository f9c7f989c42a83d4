"""Session-state defaults and the URL: a deep link gives a page its initial values, and the URL
keeps reproducing the current state.

Every page starts with

    state.init_defaults({"hidden": 4, "cell": "rnn"}, allowed={"hidden": (2, 8)})

before it draws anything, then creates its widgets with `key=` and no `value=`/`index=` (the value
is already in session state), and ends with `state.sync_query_params(["hidden", "cell"])`.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from numbers import Integral, Real
from typing import Any

import streamlit as st

from lab_ui.notation import DEFAULT_NOTATION, NOTATIONS

SEED_MAX = 2**31 - 1  # fits np.random.default_rng, RandomState and a JavaScript number
MAX_TEXT = 200        # a longer string in a URL is not a control value

# State every page shares; the sidebar draws these widgets.
SHARED_DEFAULTS = {"seed": 0, "notation": DEFAULT_NOTATION}
SHARED_ALLOWED = {"seed": (0, SEED_MAX), "notation": list(NOTATIONS)}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def init_defaults(page_defaults: Mapping[str, Any],
                  allowed: Mapping[str, Any] | None = None) -> None:
    """Give every key of `page_defaults` (and the shared seed and notation) a value, once.

    A key already in session state is left alone, so a user's choice survives reruns and trips to
    other pages. A new key takes its value from the query parameter of the same name when that
    parses as the default's type (bool, int, float, str, or a tuple of numbers written "a,b") and
    is allowed; otherwise the value the student last left it at, or the default. `allowed[key]` is a `(lo, hi)` tuple of inclusive bounds for numbers, or a list/set/
    range of permitted values. A bad query value is ignored, never an exception.
    """
    defaults = {**SHARED_DEFAULTS, **page_defaults}
    limits = {**SHARED_ALLOWED, **(allowed or {})}
    # Streamlit forgets a widget's value once a run does not draw it (a closed tab, another
    # page): the key vanishes, or falls back to the value code last wrote to it. So each run
    # writes the page's current values back (the shared ones are drawn by the sidebar on every
    # run, before this call), and keeps a plain copy for when the key has vanished.
    for key, default in defaults.items():
        if key in st.session_state:
            if key in page_defaults:
                st.session_state[key] = st.session_state[key]
        else:
            fallback = st.session_state.get(_kept(key), default)
            st.session_state[key] = parse_value(st.query_params.get(key), fallback, limits.get(key))
        st.session_state[_kept(key)] = st.session_state[key]


def sync_query_params(keys: Iterable[str]) -> None:
    """Write the current values of `keys` (and the seed) into the URL, so that it reproduces them.

    Other query parameters (e.g. `exercise`) are left as they are.
    """
    for key in ("seed", *keys):
        if key not in st.session_state:
            continue
        text = format_value(st.session_state[key])
        if text is not None and st.query_params.get(key) != text:
            st.query_params[key] = text


def parse_value(raw: str | None, default: Any, allowed: Any = None) -> Any:
    """`raw` parsed as the type of `default`; `default` if missing, malformed or not allowed."""
    if raw is None:
        return default
    value = _parse(raw.strip(), default)
    if value is None or not _is_allowed(value, allowed):
        return default
    return value


def format_value(value: Any) -> str | None:
    """The query-string spelling of `value` that `parse_value` reads back; None if there is none."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (Integral, Real)):
        return repr(value.item() if hasattr(value, "item") else value)
    if isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)) and all(_is_number(v) for v in value):
        return ",".join(format_value(v) for v in value)
    return None


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
        return raw if len(raw) <= MAX_TEXT else None
    if isinstance(default, tuple) and default and all(_is_number(v) for v in default):
        parts = raw.split(",")
        if len(parts) != len(default):
            return None
        values = tuple(_parse(part.strip(), d) for part, d in zip(parts, default))
        return None if any(v is None for v in values) else values
    return None  # a type a URL cannot carry: keep the default


def _is_allowed(value: Any, allowed: Any) -> bool:
    if allowed is None:
        return True
    if isinstance(allowed, tuple) and len(allowed) == 2 and all(_is_number(v) for v in allowed):
        lo, hi = allowed
        items = value if isinstance(value, tuple) else (value,)
        return all(_is_number(v) and lo <= v <= hi for v in items)
    if isinstance(allowed, Collection) and not isinstance(allowed, str):
        return value in allowed
    return False


def _kept(key: str) -> str:
    return f"_kept.{key}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (Integral, Real)) and not isinstance(value, bool)
