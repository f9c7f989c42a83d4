"""Unroll: a tiny RNN unrolled in time, stepped forward through t = 1..T, then back through BPTT.

Every number comes from rnn_core.unroll's Trace (the engine's own step functions); this page
only lays it out: controls, one cached engine call, the graph, equations, heatmaps, text.
"""
import inspect
import re

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from lab_ui import plots, state, widgets
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
OGATE = r"o^{\text{gate}}"  # the LSTM's output gate; o_t is the network's output, W_y h_t + c
GRAD, FWD = "#D55E00", "#0072B2"  # backward and forward highlights (Okabe-Ito)
EDGE = "#8C8C8C"                  # mid grey: visible on the light and the dark theme
NODE = {"x": ("#0072B2", "white"), "h": ("#009E73", "white"), "o": ("#E69F00", "black"),
        "L": ("#CC79A7", "black"), "h0": ("#999999", "black"), "o0": ("#999999", "black")}

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


# --- equations: st.latex with the Trace's numbers, rounded to 3 decimals ----------------------

def vec(v):
    return r"\begin{bmatrix}" + r" \\ ".join(f"{x + 0.0:.3f}" for x in v) + r"\end{bmatrix}"  # +0.0: no -0.000


def S(name, gate=""):
    """A weight in the chosen notation; with a gate, that gate's rows of it."""
    s = widgets.sym(name, latex=True)
    s = rf"\left({s}\right)" if "+" in s else f"{{{s}}}"
    return f"{s}^{{({gate})}}" if gate else s


def eq(lhs, symbolic, numbers):
    st.latex(rf"\begin{{aligned}} {lhs} &= {symbolic} \\ &= {numbers} \end{{aligned}}")


def letter(tr, index):
    return rf"\text{{“{tr.label(index)}”}}" if tr.vocab else tr.label(index)


def forward_equations(tr, t):
    s, prev = t - 1, "o" if tr.architecture == "output-to-hidden" else "h"
    act = {"tanh": r"\tanh", "sigmoid": r"\sigma", "relu": r"\mathrm{relu}", "linear": ""}
    one_hot = tr.vocab and tr.input_ids[s] >= 0
    what = rf"\text{{one-hot}}({letter(tr, tr.input_ids[s])}) = " if one_hot else ""
    st.latex(rf"x_{{{t}}} = {what}{vec(tr.X[s])}")
    for b in tr.blocks:
        gate, f = ("" if b.name == "h" else b.name), act[b.activation]
        rec = rf"{S('W_h', gate)} {prev}_{{{t - 1}}}"
        if tr.kind == "gru" and b.name == "n":  # the page's GRU resets before the product (Cho et al.)
            rec = rf"{S('W_h', 'n')} (r_{{{t}}} \odot h_{{{t - 1}}})"
        name = OGATE if (tr.kind, b.name) == ("lstm", "o") else b.name
        eq(f"{name}_{{{t}}}", rf"{f}\left({S('W_x', gate)} x_{{{t}}} + {rec} + {S('b', gate)}\right)",
           rf"{f}\left({vec(b.input[s])} + {vec(b.recurrent[s])} + {vec(b.bias)}\right) = {vec(b.value[s])}")
    if tr.kind == "lstm":
        i, f, g, o = (b.value[s] for b in tr.blocks)
        eq(f"c_{{{t}}}", rf"f_{{{t}}} \odot c_{{{t - 1}}} + i_{{{t}}} \odot g_{{{t}}}",
           rf"{vec(f)} \odot {vec(tr.c_prev[s])} + {vec(i)} \odot {vec(g)} = {vec(tr.c[s])}")
        eq(f"h_{{{t}}}", rf"{OGATE}_{{{t}}} \odot \tanh(c_{{{t}}})",
           rf"{vec(o)} \odot \tanh{vec(tr.c[s])} = {vec(tr.h[s])}")
    if tr.kind == "gru":
        _, z, n = (b.value[s] for b in tr.blocks)
        eq(f"h_{{{t}}}", rf"(1 - z_{{{t}}}) \odot n_{{{t}}} + z_{{{t}}} \odot h_{{{t - 1}}}",
           rf"\left(1 - {vec(z)}\right) \odot {vec(n)} + {vec(z)} \odot {vec(tr.h_prev[s])} = {vec(tr.h[s])}")
    if tr.has_loss[s]:
        h = rf"h^{{({tr.depth})}}_{{{t}}}" if tr.depth > 1 else f"h_{{{t}}}"
        if tr.bidirectional:
            h = rf"\begin{{bmatrix}} \overrightarrow{{{h}}} \\ \overleftarrow{{{h}}} \end{{bmatrix}}"
        st.latex(rf"o_{{{t}}} = {S('W_y')} {h} + {S('c')} = {vec(tr.o[s])}, \quad "
                 rf"y_{{{t}}} = \operatorname{{softmax}}(o_{{{t}}}) = {vec(tr.y[s])}")
        st.latex(rf"L_{{{t}}} = -\log y_{{{t}}}[{letter(tr, tr.targets[s])}] = {tr.losses[s]:.3f}")


def backward_equations(tr, t):
    s, d = t - 1, (lambda v: rf"\frac{{\partial L}}{{\partial {v}}}")
    if tr.has_loss[s] and tr.loss_used[s]:
        st.latex(rf"\frac{{\partial L_{{{t}}}}}{{\partial o_{{{t}}}}} = y_{{{t}}} - \text{{one-hot}}"
                 rf"({letter(tr, tr.targets[s])}) = {vec(tr.dO[s])}")
    parts = [(tr.dh_from_output[s], rf"h^{{(2)}}_{{{t}}}" if tr.depth > 1 else f"o_{{{t}}}")] \
        if tr.has_loss[s] or tr.depth > 1 else []
    parts += [(tr.dh_from_next[s], rf"\text{{step }} {t + 1}")] if t < tr.T else []
    st.latex(rf"{d(f'h_{{{t}}}')} = " + " + ".join(rf"\underbrace{{{vec(v)}}}_{{\text{{from }} {src}}}"
                                                   for v, src in parts) + f" = {vec(tr.dh[s])}")
    if tr.kind == "lstm" and t < tr.T:
        st.latex(rf"{d(f'c_{{{t}}}')}\Big|_{{\text{{from step }} {t + 1}}} = {vec(tr.dc_from_next[s])}")
    if tr.kind == "rnn":
        st.latex(rf"\delta_{{{t}}} = {d(f'a_{{{t}}}')} = {d(f'h_{{{t}}}')} \odot (1 - h_{{{t}}}^2) = "
                 rf"{vec(tr.contributions['b'][s])}")
        prev = "o" if tr.architecture == "output-to-hidden" else "h"
        adds = rf"&\mathrel{{+}}= \delta_{{{t}}}"  # what step t adds to each gradient
        st.latex(rf"\begin{{aligned}} \partial L / \partial {S('W_x')} {adds} x_{{{t}}}^\top \\ "
                 rf"\partial L / \partial {S('W_h')} {adds} {prev}_{{{t - 1}}}^\top \\ "
                 rf"\partial L / \partial {S('b')} {adds} \end{{aligned}}")
    dW = rf"\partial L / \partial {S('W_h')}"
    part = rf"\left.{dW}\right|_{{\text{{step }} s}}"
    st.latex(rf"\begin{{aligned}} {dW} &= \textstyle\sum_{{s=1}}^{{{tr.T}}} {part} \\ \text{{so far}} &= "
             rf"\textstyle\sum_{{s={t}}}^{{{tr.T}}} {part} \end{{aligned}}")


# --- figures: traces are dicts passed to go.Figure once (each Plotly add_*/update_* call re-validates
# the whole figure: quadratic in the number of arrows, slow with many panels) ---------------------

@st.cache_data(show_spinner=False)
def base_layout():
    """lab_ui.plots' look as a plain layout dict, computed once."""
    return {**plots.style(go.Figure()).layout.to_plotly_json(), "template": plots.TEMPLATE_NAME}


def figure(traces, height, **layout):
    base = base_layout()
    axes = {k: {**base[k[0] + "axis"], **v} for k, v in layout.items() if re.fullmatch(r"[xy]axis\d*", k)}
    return go.Figure(traces, {**base, "height": height, **layout, **axes})


def arrows(segments, color, width, opacity=1.0, name="arrows"):
    """One trace drawing every segment ((x0, y0), (x1, y1)) as an arrow; its head is a marker turned
    along the segment (angleref "previous"). Segments should already stop short of the nodes."""
    x, y, size = [], [], []
    for (x0, y0), (x1, y1) in segments:
        x += [x0, x1, None]
        y += [y0, y1, None]
        size += [0, 4 * width + 3, 0]
    return dict(type="scatter", x=x, y=y, mode="lines+markers", name=name, hoverinfo="skip", showlegend=False,
                opacity=opacity, line=dict(color=color, width=width),
                marker=dict(symbol="arrow", angleref="previous", size=size, color=color))


def graph_figure(tr, t, phase):
    """The unrolled graph: nodes at (step, row), arrows labelled with the shared weights; in the
    backward phase, the gradient (orange) flows right to left from the losses down to step t."""
    nodes, edges = U.graph(tr)
    gap = 1.4 if tr.bidirectional else 1.0  # rows per layer; a reverse direction sits up and to the right
    top = 1 + gap * (tr.depth - 1) + 0.7 * tr.bidirectional
    rows = {"x": 0, "o": top + 1, "o0": top + 1, "L": top + 2}
    xy = [(n.t + 1 + 0.33 * n.direction, rows.get(n.name, 1 + gap * n.layer + 0.7 * n.direction))
          for n in nodes]
    back, bottom = phase == "backward", -0.8 - 0.3 * (len(tr.windows) - 1) if tr.k1 else -0.5
    height = int(150 + 90 * (top + 3))
    px = (1050 / (tr.T + 1 + tr.bidirectional), (height - 50) / (top + 2.5 - bottom))  # pixels/unit, roughly

    def short(p, q, beside_px=0):
        """The segment p -> q cut 24 px short at both ends; beside_px > 0 moves it to the left of an
        upward edge and below a rightward one (where the gradient arrow goes)."""
        dx, dy = q[0] - p[0], q[1] - p[1]
        length = ((dx * px[0]) ** 2 + (dy * px[1]) ** 2) ** 0.5
        ox, oy = -beside_px * dy * px[1] / length / px[0], -beside_px * dx * px[0] / length / px[1]
        f = 24 / length
        return (p[0] + f * dx + ox, p[1] + f * dy + oy), (q[0] - f * dx + ox, q[1] - f * dy + oy)

    shapes = [dict(type="rect", x0=t - 0.45, x1=t + 0.45, y0=0, y1=1, yref="paper", line=dict(width=0),
                   fillcolor=GRAD if back else FWD, opacity=0.12)]
    shapes += [dict(type="rect", x0=w.grad_start + 0.65, x1=w.stop + 0.35, y0=-0.5 - 0.3 * j,
                    y1=-0.7 - 0.3 * j, fillcolor=GRAD, opacity=0.4, line=dict(width=0))  # windows, under x
               for j, w in enumerate(tr.windows if tr.k1 else [])]
    solid, faded, grads, labels = [], [], [], {True: [], False: []}
    for e in edges:
        p, q, src, dst = xy[e.src], xy[e.dst], nodes[e.src], nodes[e.dst]
        cut = tr.k1 and not e.used
        (faded if cut else solid).append(short(p, q))
        if e.weight and src.direction == dst.direction and (e.kind != "up" or src.t == 0):  # fewer labels
            name = re.sub(r"^(\w)_(\w)$", r"\1<sub>\2</sub>", widgets.sym(e.weight))
            name += f" ({dst.layer + 1})" if e.kind == "up" else ""
            where = "top center" if p[1] == q[1] else "middle right"
            labels[not cut].append(((p[0] + q[0]) / 2, (p[1] + q[1]) / 2, name, where))
        if back and e.used and e.kind != "input" and dst.t >= t - 1 and src.direction == dst.direction == 0:
            grads.append(short(p, q, beside_px=10)[::-1])  # beside the edge, pointing back
    traces = [arrows(solid, EDGE, 2, 0.9), arrows(faded, EDGE, 2, 0.25, "cut"),
              arrows(grads, GRAD, 2.5, name="gradient")]
    for shown, items in labels.items():
        traces.append(dict(type="scatter", mode="text", x=[i[0] for i in items], y=[i[1] for i in items],
                           text=[i[2] for i in items], textposition=[i[3] for i in items], hoverinfo="skip",
                           showlegend=False, opacity=1 if shown else 0.35, textfont=dict(size=14),
                           name="labels"))
    for kind, (fill, ink) in NODE.items():
        idx = [i for i, n in enumerate(nodes) if n.name == kind]
        traces.append(dict(
            type="scatter", x=[xy[i][0] for i in idx], y=[xy[i][1] for i in idx], mode="markers+text",
            name=kind,
            text=[f"{kind[0]}<sub>{0 if kind.endswith('0') else nodes[i].t + 1}</sub>" for i in idx],
            hovertext=[node_hover(tr, nodes[i]) for i in idx], hoverinfo="text", showlegend=False,
            textfont=dict(color=ink, size=15), marker=dict(size=40, color=fill, opacity=[
                1 if nodes[i].active and (nodes[i].used or not tr.k1) else 0.3 for i in idx])))
    here = [i for i, n in enumerate(nodes) if n.t == t - 1 and not (back and n.name == "x")]
    traces.append(dict(type="scatter", x=[xy[i][0] for i in here], y=[xy[i][1] for i in here], mode="markers",
                       name="current", hoverinfo="skip", showlegend=False, marker=dict(
                           size=52, color="rgba(0,0,0,0)", line=dict(width=4, color=GRAD if back else FWD))))
    ticks = {0: "inputs x", top + 1: "outputs o", top + 2: "losses L"}
    for l in range(tr.depth):
        for k in range(1 + tr.bidirectional):
            name = f"layer {l + 1}" if tr.depth > 1 or tr.bidirectional else "hidden h"
            ticks[1 + gap * l + 0.7 * k] = name + (" ←" if k else " →") * tr.bidirectional
    xaxis = dict(tickvals=list(range(tr.T + 1)), ticktext=["start"] + [f"t={s}" for s in range(1, tr.T + 1)],
                 range=[-0.5, tr.T + 0.5 + tr.bidirectional], showgrid=False, zeroline=False)
    yaxis = dict(tickvals=list(ticks), ticktext=list(ticks.values()), showgrid=False, zeroline=False,
                 range=[bottom, top + 2.5])
    return figure(traces, height, shapes=shapes, xaxis=xaxis, yaxis=yaxis,
                  margin=dict(t=20, b=30, l=90, r=20))


def node_hover(tr, n):
    values = {"x": tr.X, "o": tr.o, "L": tr.losses[:, None],
              "h": tr.layers[n.layer][n.direction] if n.layer >= 0 else None}.get(n.name)
    if values is None:
        return "initial state: zeros"
    return f"{n.name}_{n.t + 1} = [" + ", ".join(f"{v:.3f}" for v in values[n.t]) + "]"


def grid(cells, titles, rows=1, height=300, gap=0.03, matrix=True, **layout):
    """Panels in `rows` rows (a light make_subplots): cells are trace dicts, row-major; `matrix`
    hides the axes and puts row 0 at the top."""
    cols = len(cells) // rows
    width, tall = (1 - gap * (cols - 1)) / cols, (1 - 0.16 * (rows - 1)) / rows
    axes = dict(visible=False) if matrix else {}
    notes = []
    for i, (trace, title) in enumerate(zip(cells, titles)):
        r, c, n = divmod(i, cols) + (i + 1,)
        x0, y1 = c * (width + gap), 1 - r * (tall + 0.16)
        trace.update(xaxis=f"x{n}", yaxis=f"y{n}")
        layout[f"xaxis{n}"] = dict(domain=[max(0, x0), min(1, x0 + width)], anchor=f"y{n}", **axes)
        layout[f"yaxis{n}"] = dict(domain=[max(0, y1 - tall), min(1, y1)], anchor=f"x{n}", **axes,
                                   **({"autorange": "reversed"} if matrix else {}))
        notes.append(dict(text=title, x=x0 + width / 2, y=y1, xref="paper", yref="paper", showarrow=False,
                          xanchor="center", yanchor="bottom", font=dict(size=14)))
    return figure(cells, height, annotations=notes, **layout)


def vectors_figure(columns):
    """Column vectors side by side as heatmaps, one diverging scale centred at 0."""
    bound = max(float(abs(v).max()) for _, v in columns) or 1.0
    few = len(columns) <= 6  # room to write the numbers in the cells
    cells = [dict(type="heatmap", z=v.reshape(-1, 1), zmin=-bound, zmax=bound, zmid=0, name=name,
                  showscale=j == len(columns) - 1, colorscale=plots.SIGNED_SCALE,
                  texttemplate="%{z:.2f}" if few else None, textfont=dict(size=12),
                  hovertemplate=f"{name}[%{{y}}] = %{{z:.6f}}<extra></extra>")
             for j, (name, v) in enumerate(columns)]
    return grid(cells, [name for name, _ in columns], height=110 + 34 * max(len(v) for _, v in columns),
                gap=0.05 if few else 0.025, margin=dict(t=60, b=10, l=10, r=10))


def step_vectors(tr, t, phase):
    s, sub = t - 1, (lambda name, k: f"{name}<sub>{k}</sub>")
    if phase == "backward":
        cols = [(f"∂L{sub('', t)}/∂{sub('o', t)}", tr.dO[s])] if tr.has_loss[s] else []
        cols += [("from<br>above" if tr.depth > 1 else f"from<br>{sub('o', t)}", tr.dh_from_output[s]),
                 (f"from<br>step {t + 1}", tr.dh_from_next[s]), (f"∂L/∂{sub('h', t)}", tr.dh[s])]
        return cols + ([(sub("δ", t), tr.contributions["b"][s])] if tr.kind == "rnn" else [])
    prev = "o" if tr.architecture == "output-to-hidden" else "h"
    cols = [(sub("x", t), tr.X[s]), (sub(prev, t - 1), tr.h_prev[s])]
    cols += [(sub("c", t - 1), tr.c_prev[s])] if tr.kind == "lstm" else []
    cols += [(sub("a", t), b.pre[s]) if b.name == "h" else
             (sub("o<sup>gate</sup>" if (tr.kind, b.name) == ("lstm", "o") else b.name, t), b.value[s])
             for b in tr.blocks]
    cols += [(sub("c", t), tr.c[s])] if tr.kind == "lstm" else []
    return cols + [(sub("h", t), tr.h[s])] + ([(sub("y", t), tr.y[s])] if tr.has_loss[s] else [])


def grads_figure(tr, t):
    """Per parameter: what step t adds (top row) and the running sum from T down to t (bottom)."""
    names, cells = list(tr.grads), []
    for label, arrays in (("step", tr.contributions), ("sum", tr.running)):
        for n in names:
            bound = float(max(abs(tr.running[n]).max(), abs(tr.contributions[n]).max())) or 1.0
            z = arrays[n][t - 1].reshape(len(arrays[n][t - 1]), -1)
            cells.append(dict(type="heatmap", z=z, zmin=-bound, zmax=bound, zmid=0,
                              colorscale=plots.SIGNED_SCALE, showscale=False, name=f"{label} d{n}", textfont=dict(size=11),
                              texttemplate="%{z:.2f}" if z.shape[0] <= 8 else None,  # gated cells: 4H rows
                              hovertemplate=f"d{n}[%{{y}},%{{x}}] = %{{z:.6f}}<extra>{label}</extra>"))
    titles = [f"∂L/∂{widgets.sym(n)}<br>step {t} adds" for n in names]
    titles += [f"sum of steps<br>{t}..{tr.T}" for _ in names]
    return grid(cells, titles, rows=2, height=480, margin=dict(t=60, b=10, l=10, r=10))


def cost_figure(tr):
    lengths = list(range(1, 4 * tr.T + 1))
    costs = [U.cost(tr.kind, tr.X.shape[1], tr.h.shape[1], tr.o.shape[1], T, tr.depth, tr.bidirectional,
                    tr.architecture) for T in lengths]
    cells = [dict(type="scatter", x=lengths, y=ys, mode="lines+markers", line=dict(width=3), showlegend=False,
                  marker=dict(size=[14 if T == tr.T else 0 for T in lengths]))
             for ys in ([c.floats for c in costs], [c.forward_macs + c.backward_macs for c in costs])]
    fig = grid(cells, ["values kept for the backward pass", "multiply-adds, forward + backward"], height=330,
               gap=0.1, matrix=False)
    return fig.update_xaxes(title_text="sequence length T (marker: this sequence)")


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
