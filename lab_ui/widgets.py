"""Widgets all pages share: the sidebar (seed, notation, exercise banner) and the notation card."""
from __future__ import annotations

import re
from typing import Any

import streamlit as st

from lab_ui import notation, state

# Characters that mean something to Streamlit's markdown: CommonMark punctuation, $ (LaTeX),
# ~ (strike-through), | (tables) and & (entities) get a backslash. The colon becomes an entity
# instead: Streamlit expands :smile: and :material/home: even when the colons are escaped.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$&])")


def sidebar() -> None:
    """Draw the shared sidebar. app.py calls this on every run, before the page runs."""
    state.init_defaults({})
    with st.sidebar:
        st.number_input(
            "Random seed", key="seed", min_value=0, max_value=state.SEED_MAX, step=1,
            help="Same seed, same weights and data: a result you can share by its link.",
        )
        st.selectbox(
            "Notation", options=list(notation.NOTATIONS), key="notation",
            format_func=lambda key: notation.NOTATIONS[key].label,
            help="How weights are named on every page: course, textbook or PyTorch.",
        )
        exercise_banner()


def sym(name: str, *, latex: bool = False) -> str:
    """The course symbol `name` ("W_x", "W_h", "b", "W_y", "c") in the student's chosen notation.

    `latex=True` gives the spelling for st.latex or $...$ in markdown.
    """
    chosen = st.session_state.get("notation", notation.DEFAULT_NOTATION)
    if chosen not in notation.NOTATIONS:
        chosen = notation.DEFAULT_NOTATION
    return notation.symbol(name, chosen, latex=latex)


def explain(what: str, try_this: str) -> None:
    """The two paragraphs beside every plot: what it shows, and something to try with it.

    W_h is spelled in the student's notation. The texts are the page's own, never user input.
    """
    W = sym("W_h")
    st.markdown(f"**What you see.** {what}".replace("W_h", W))
    st.markdown(f"**Try this.** {try_this}".replace("W_h", W))


def escape_markdown(text: str) -> str:
    """`text` with every markdown-active character neutralised, so that it is shown literally."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text).replace(":", "&#58;")


def exercise_banner() -> None:
    """Show the open exercise (st.session_state["exercise"]: a dict with "title", "instructions").

    The text comes from an exercise file, so it is escaped before markdown sees it.
    """
    exercise: Any = st.session_state.get("exercise")
    if not isinstance(exercise, dict):
        return
    title = escape_markdown(str(exercise.get("title", "")).strip() or "Exercise")
    instructions = escape_markdown(str(exercise.get("instructions", "")).strip())
    body = f"**{title}**\n\n{instructions}" if instructions else f"**{title}**"
    st.info(body, icon=":material/assignment:")


def notation_card() -> None:
    """The translation table between course, textbook and PyTorch names, and the equations."""
    chosen = st.session_state.get("notation", notation.DEFAULT_NOTATION)
    with st.container(border=True):
        st.markdown("**Notation card**")
        st.markdown(_card_table(chosen))
        for equation in notation.EQUATIONS:
            st.latex(equation)
        st.markdown("**GRU update**")
        st.latex(notation.GRU_UPDATE)
        st.caption(notation.GRU_NOTE)


def _card_table(chosen: str) -> str:
    headers = ["Meaning"] + [
        f"{_short_label(key)} (selected)" if key == chosen else _short_label(key)
        for key in notation.NOTATIONS
    ]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for name in notation.SYMBOLS:
        cells = [notation.MEANING[name]] + [
            f"`{notation.symbol(name, key)}`" for key in notation.NOTATIONS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _short_label(key: str) -> str:
    return notation.NOTATIONS[key].label.split(" (")[0]
