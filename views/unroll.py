"""Unroll: a tiny RNN unrolled in time, stepped forward through t = 1..T, then back through BPTT.

Every number comes from rnn_core.unroll's Trace (the engine's own step functions); this page
only lays it out: controls, one cached engine call, then the equations (lab_ui.unroll_equations)
and figures (lab_ui.unroll_figures) built from that Trace.
"""
import inspect
import re

import pandas as pd
import streamlit as st

from lab_ui import state, widgets
from lab_ui.unroll_equations import backward_equations, forward_equations
from lab_ui.unroll_figures import cost_figure, graph_figure, grads_figure, step_vectors, vectors_figure
from rnn_core import cells
from rnn_core import unroll as U

CELLS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
ARCHS = {"many-to-many": "Many-to-many", "many-to-one": "Many-to-one", "one-to-many": "One-to-many",
         "output-to-hidden": "Output-to-hidden (RNN)"}
DEFAULTS = {"unroll_t": 1, "unroll_phase": "forward", "unroll_cell": "rnn", "unroll_arch": "many-to-many",
            "unroll_source": "word", "unroll_word": "hello", "unroll_input": 3, "unroll_length": 5,
            "unroll_hidden": 3, "unroll_depth": 1, "unroll_bidir": False, "unroll_trunc": False,
            "unroll_k1": 2, "unroll_k2": 2}
ALLOWED = {"unroll_t": (1, 8), "unroll_phase": ["forward", "backward"], "unroll_cell": list(CELLS),
           "unroll_arch": list(ARCHS), "unroll_source": ["word", "vectors"], "unroll_input": (2, 6),
           "unroll_length": (2, 8), "unroll_hidden": (2, 8), "unroll_depth": (1, 3),
           "unroll_k1": (1, 8), "unroll_k2": (1, 8)}

state.init_defaults(DEFAULTS, ALLOWED)


def unroll_controls():
    """The network and its input, as plain values for `compute`."""
    ss = st.session_state
    with st.container(border=True):
        net, seq, size, view = st.columns(4, gap="medium")
        net.radio("Cell", list(CELLS), format_func=CELLS.get, key="unroll_cell", horizontal=True)
        net.selectbox("Architecture", list(ARCHS), format_func=ARCHS.get, key="unroll_arch",
                      help="Many-to-many: an output and a loss at every step. Many-to-one: one output, at "
                           "the end. One-to-many: an input at t = 1 only, zero vectors after it. "
                           "Output-to-hidden: the recurrence reads the previous output o(t-1), not h(t-1) "
                           "(Goodfellow et al., fig. 10.4).")
        seq.radio("Input sequence", ["word", "vectors"], key="unroll_source", horizontal=True,
                  format_func={"word": "A word", "vectors": "Random vectors"}.get,
                  help="A word: one-hot characters, each predicting the next; the input size is the "
                       "vocabulary. Random vectors: Gaussian, the target at step t is the largest entry "
                       "of the next vector.")
        words = ss.unroll_source == "word"
        seq.text_input("Word (3-9 lowercase letters)", key="unroll_word", max_chars=9, disabled=not words)
        word = ss.unroll_word.strip()
        if words:
            letters = widgets.escape_markdown(", ".join(sorted(set(word))))  # typed by the user
            seq.caption(f"Vocabulary of *{widgets.escape_markdown(word)}*: {letters}, so $D = V = {len(set(word))}$.")
        size.slider("Hidden size H", 2, 8, key="unroll_hidden")
        d_col, t_col = size.columns(2)
        d_col.slider("Input size D", 2, 6, key="unroll_input", disabled=words, help="Random vectors only")
        t_col.slider("Length T", 2, 8, key="unroll_length", disabled=words, help="Random vectors only")
        o2h = ss.unroll_arch == "output-to-hidden"
        view.slider("Depth (layers)", 1, 3, key="unroll_depth", disabled=o2h)
        view.toggle("Bidirectional", key="unroll_bidir", disabled=o2h)
        deep = not o2h and (ss.unroll_depth > 1 or ss.unroll_bidir)
        view.toggle("Truncated BPTT", key="unroll_trunc", disabled=deep,
                    help="Shown on one layer, one direction (depth 1, not bidirectional).")
        truncate = ss.unroll_trunc and not deep
        k1_col, k2_col = view.columns(2)
        k1_col.slider("k1", 1, 8, key="unroll_k1", disabled=not truncate, help="Steps between updates")
        k2_col.slider("k2", 1, 8, key="unroll_k2", disabled=not truncate,
                      help="Steps back each update reaches; k2 >= T is full BPTT")
    if ss.unroll_source == "word" and not (re.fullmatch("[a-z]{3,9}", word) and 2 <= len(set(word)) <= 6):
        st.warning("The word must be 3 to 9 lowercase letters a-z, with 2 to 6 different letters "
                   "(the input size). Try *hello* or *banana*.")
        st.stop()
    if o2h and ss.unroll_cell != "rnn":
        st.info("The output-to-hidden recurrence, $h_t = \\tanh(W_x x_t + W_h o_{t-1} + b)$, is defined for "
                "the vanilla RNN cell: choose **RNN** to see it.", icon=":material/info:")
        st.stop()
    vectors = ss.unroll_source == "vectors"  # what the other mode's controls say does not matter
    return dict(kind=ss.unroll_cell, architecture=ss.unroll_arch, source=ss.unroll_source,
                word="" if vectors else word, input_size=ss.unroll_input if vectors else 0,
                length=ss.unroll_length if vectors else 0, hidden=ss.unroll_hidden,
                depth=1 if o2h else ss.unroll_depth, bidirectional=ss.unroll_bidir and not o2h,
                k1=ss.unroll_k1 if truncate else None, k2=ss.unroll_k2 if truncate else None,
                seed=int(ss.seed))


@st.cache_data(max_entries=64, show_spinner=False)
def compute(kind, architecture, source, word, input_size, length, hidden, depth, bidirectional, k1, k2, seed):
    vectors = None if source == "word" else U.random_sequence(length, input_size, seed)
    return U.unroll(kind, word=word, vectors=vectors, hidden_size=hidden, architecture=architecture,
                    depth=depth, bidirectional=bidirectional, k1=k1, k2=k2, seed=seed)


@st.cache_data(max_entries=16, show_spinner="Finite differences...")
def check(**controls):
    return U.gradient_check(compute(**controls))


def timeline(T):
    """The story in order: forward t = 1..T, then backward t = T..1."""
    return [("forward", t) for t in range(1, T + 1)] + [("backward", t) for t in range(T, 0, -1)]


def move(action, T):
    order = timeline(T)
    i = order.index((st.session_state.unroll_phase, st.session_state.unroll_t))
    i = {"first": 0, "back": i - 1, "next": i + 1, "last": len(order) - 1}[action]
    st.session_state.unroll_phase, st.session_state.unroll_t = order[max(0, min(i, len(order) - 1))]


def stepper(T):
    """Step buttons and the phase switch; the position lives in session state and the URL."""
    st.session_state.unroll_t = max(1, min(st.session_state.unroll_t, T))
    i = timeline(T).index((st.session_state.unroll_phase, st.session_state.unroll_t))
    cols = st.columns([1, 1, 1, 1, 2.4], vertical_alignment="bottom")
    for col, action, label, icon in zip(cols, ["first", "back", "next", "last"],
                                        ["First step", "Back one", "Forward one", "Last step"],
                                        ["first_page", "chevron_left", "chevron_right", "last_page"]):
        at_end = i == 0 if action in ("first", "back") else i == 2 * T - 1
        col.button(label, key=f"unroll_{action}", icon=f":material/{icon}:", on_click=move,
                   args=(action, T), disabled=at_end, width="stretch")
    cols[4].radio("Phase", ["forward", "backward"], key="unroll_phase", horizontal=True,
                  format_func={"forward": "Forward pass", "backward": "Backward pass (BPTT)"}.get)
    return st.session_state.unroll_t, st.session_state.unroll_phase


def check_panel(controls, tr):
    checks = check(**controls)
    st.table(pd.DataFrame({
        "parameter": [widgets.sym(n) for n in checks],
        "entries checked": [f"{c.entries} of {c.size}" for c in checks.values()],
        "full BPTT vs finite differences": [f"{c.error:.1e}" for c in checks.values()],
        **({"truncated vs finite differences": [f"{c.shown_error:.1e}" for c in checks.values()]}
           if tr.k1 else {}),
        "an entry: BPTT": [f"{c.analytic[0]:.8f}" for c in checks.values()],
        "same entry: finite differences": [f"{c.numeric[0]:.8f}" for c in checks.values()],
    }).set_index("parameter"))
    worst = max(c.error for c in checks.values())
    if worst < 1e-6:
        st.success(f"The summed BPTT gradient and central finite differences agree: largest relative "
                   f"error {worst:.1e} (float64).", icon=":material/check_circle:")
    else:
        st.warning(f"Largest relative error {worst:.1e}, above the expected 1e-6.")
    if tr.k1:
        st.info(f"Truncated BPTT({tr.k1}, {tr.k2}) is not the gradient of L: here it is off by up to "
                f"{max(c.shown_error for c in checks.values()):.0%}. The output layer is exact: it is not "
                "recurrent.")


# --- the page --------------------------------------------------------------------------------
st.title("Unroll")
st.markdown("A recurrent network applies **the same weights at every step**. Written out step by step, the "
            "recurrence becomes an ordinary graph as deep as the sequence is long. Step through the forward "
            "pass, then backpropagate through time (BPTT) from the last step to the first.")
controls = unroll_controls()
trace = compute(**controls)
t, phase = stepper(trace.T)
state.sync_query_params(DEFAULTS)

Wx, Wh, Wy = (widgets.sym(n, latex=True) for n in ("W_x", "W_h", "W_y"))
st.plotly_chart(graph_figure(trace, t, phase), theme="streamlit", width="stretch", key="unroll_graph")
deep = trace.depth > 1 or trace.bidirectional
st.caption(" ".join([
    f"**What you see:** the network unrolled over $T = {trace.T}$ steps. Arrows with the same label apply the "
    f"same matrix: ${Wx}$ reads the input, ${Wh}$ carries the state, ${Wy}$ makes the output"
    + (" (each layer and direction has its own)." if deep else "."),
    f"The ring marks step {t}.",
    f"Orange arrows are the gradient, flowing right to left from the losses back to step {t}."
    if phase == "backward" else "Hover a node for its values.",
    "Faded arrows and nodes are what truncated BPTT ignores; the orange bars under the inputs are its windows, "
    "how far back each update reaches." if trace.k1 else ""]))

eq_col, vec_col = st.columns([3, 2], gap="large")
with eq_col:
    st.subheader(f"Step {t}: {phase}")
    if deep:
        st.caption("The equations follow layer 1, forward direction; the graph shows every layer.")
    (forward_equations if phase == "forward" else backward_equations)(trace, t)
with vec_col:
    st.plotly_chart(vectors_figure(step_vectors(trace, t, phase)), theme="streamlit", width="stretch",
                    key="unroll_vectors")
    st.caption("**What you see:** this step's full vectors (red positive, blue negative); the equations show "
               "them rounded. " + ("$\\partial L/\\partial h_t$ is the sum of its two sources: the output at $t$ "
                                   "(or the layer above) and step $t+1$." if phase == "backward" else ""))

if phase == "backward":
    st.subheader("The gradient of a shared weight is a sum over steps")
    st.plotly_chart(grads_figure(trace, t), theme="streamlit", width="stretch", key="unroll_grads")
    st.caption(f"**What you see:** top, what step {t} adds to each gradient; bottom, the running sum from step "
               f"{trace.T} down to {t}. At $t = 1$ the bottom row is the whole gradient"
               + (", the truncated one." if trace.k1 else "."))
    if t == 1:
        st.subheader("Check: BPTT against finite differences")
        check_panel(controls, trace)
    else:
        st.caption("Step back to $t = 1$ for the check against finite differences.")

with st.expander("What BPTT costs: memory and time grow as O(T), one step after another"):
    cost = trace.cost
    a, b, c = st.columns(3)
    a.metric("Values kept for the backward pass", f"{cost.floats:,}", help=f"{cost.floats_per_step} per step")
    b.metric("Multiply-adds, forward + backward", f"{cost.forward_macs + cost.backward_macs:,}")
    c.metric("Steps that must wait for each other", cost.sequential_steps)
    st.plotly_chart(cost_figure(trace), theme="streamlit", width="stretch", key="unroll_cost")
    st.markdown(f"**What you see:** straight lines. Each step keeps its cache (input, gates, state) until the "
                f"backward pass reads it, and does the same matrix products, so both grow linearly in $T$. The "
                f"steps cannot run in parallel: $h_t$ needs $h_{{t-1}}$, which needs $h_{{t-2}}$, ... Only the "
                f"input products ${Wx} x_t$ are independent (the engine does all $T$ in one matrix product); the "
                f"recurrent ones form a chain of $T$ dependent products. A stack of $L$ layers can pipeline, so "
                f"its chain is $T + L - 1$ steps long.")

with st.expander("Try this", expanded=True):
    st.markdown("- Step forward with **LSTM** and watch the forget gate $f$ decide how much of $c_{t-1}$ "
                "survives.\n"
                "- In the backward pass of **many-to-one**, $\\partial L/\\partial h_t$ has a single source "
                "before the last step: everything arrives from step $t+1$.\n"
                "- Turn on **truncated BPTT** with $k_1 = k_2 = 2$: an arrow fades, and the check panel shows "
                "the truncated gradient is no longer the true one.\n"
                "- Switch the sidebar **Notation** to Textbook or PyTorch: every label follows.\n"
                "- **Depth 3, bidirectional**: the same graph with more rows. Open the cost panel.")

with st.expander("The engine code that ran for this step"):
    if trace.architecture == "output-to-hidden":
        functions = [getattr(U, f"output_recurrent_step_{phase}")]
    else:  # the single-step API, then the cell's own math
        functions = [getattr(cells, f"step_{phase}"), getattr(cells, f"{trace.kind}_core_{phase}")]
    st.code("\n\n".join(inspect.getsource(f) for f in functions), language="python")
