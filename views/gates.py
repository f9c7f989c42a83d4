"""Gates: inside the LSTM and GRU. Gates over time, the memory path, the forget-gate bias, the two
GRU conventions, and RNN, LSTM and GRU on identical inputs. Every number comes from rnn_core.gates
(the engine's forward caches and backward steps); this page lays it out: controls, one cached
engine call per tab, figures, the "what you see" text."""
import functools

import numpy as np
import streamlit as st

from lab_ui import notation, plots, state, widgets
from lab_ui.plots import line, on_log_axis
from rnn_core import gates as G

CELLS = {"lstm": "LSTM", "gru": "GRU, reset before W_h (Cho 2014)", "gru_after": "GRU, reset after W_h (PyTorch)"}
VARIANTS = {"lstm": ("lstm", False), "gru": ("gru", False), "gru_after": ("gru", True)}  # (kind, reset_after)
TABS = ["Gates over time", "Memory path", "Forget-gate bias", "GRU conventions", "RNN vs LSTM vs GRU"]
DEFAULTS = {"gates_cell": "lstm", "gates_hidden": 8, "gates_T": 100, "gates_scale": 1.0,
            "gates_bias": 1.0, "gates_unit": 1, "gates_tab": TABS[0]}
ALLOWED = {"gates_cell": list(CELLS), "gates_hidden": (4, 32), "gates_T": (10, 200),
           "gates_scale": (0.0, 3.0), "gates_bias": (0.0, 5.0), "gates_unit": (1, 32), "gates_tab": TABS}
URL = {key: key.removeprefix("gates_") for key in DEFAULTS} | {"gates_T": "length"}  # ?cell=gru&hidden=16
FAR_LAG = 50
COLORS = {"rnn": plots.OKABE_ITO[0], "lstm": plots.OKABE_ITO[1], "gru": plots.OKABE_ITO[2]}
NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
C_MEASURED, C_DIRECT, GREY = plots.OKABE_ITO[0], plots.OKABE_ITO[3], "#8C8C8C"  # grey: light and dark
# Each heatmap: its title, the caption saying what it does, and its colour scale ("gate" 0..1 for
# sigmoids, "tanh" -1..1, "signed" symmetric about 0; "log" is automatic).
PANELS = {
    "i": ("Input gate", "how much of the candidate g is written into the cell.", "gate"),
    "f": ("Forget gate", "how much of c(t−1) is kept (1: all of it).", "gate"),
    "g": ("Candidate", "what would be written into the cell, between −1 and 1.", "tanh"),
    "o": ("Output gate", "how much of tanh(c(t)) is shown as h(t).", "gate"),
    "c": ("Cell state", "the memory, not bounded by ±1.", "signed"),
    "r": ("Reset gate", "how much of h(t−1) the candidate n sees.", "gate"),
    "z": ("Update gate", "how much of h(t−1) is kept (1: all of it).", "gate"),
    "n": ("Candidate", "the proposed new state, between −1 and 1.", "tanh"),
    "h": ("Hidden state", "what the next step and the output read.", "tanh"),
}


# --- state and controls --------------------------------------------------------------------------

def init_state():
    linked = {key: state.parse_value(st.query_params.get(URL[key]), value, ALLOWED[key])
              for key, value in DEFAULTS.items()}
    state.init_defaults(linked, ALLOWED)


def sync_url():
    state.sync_query_params([])  # the shared seed
    for key, name in URL.items():
        text = state.format_value(st.session_state[key])
        if st.query_params.get(name) != text:
            st.query_params[name] = text


def controls():
    """The cell and its input, in the sidebar; returns (kind, reset_after, engine arguments)."""
    ss = st.session_state
    with st.sidebar:
        st.subheader("Cell and input")
        st.radio("Cell", list(CELLS), key="gates_cell",
                 format_func=lambda cell: CELLS[cell].replace("W_h", widgets.sym("W_h")))
        st.slider("Hidden size H", 4, 32, key="gates_hidden")
        st.slider("Sequence length T", 10, 200, step=5, key="gates_T")
        st.slider("Input scale", 0.0, 3.0, step=0.1, key="gates_scale",
                  help="Standard deviation of every entry of x(t); the weights are PyTorch's default.")
        st.slider("Memory-gate bias: b_f (LSTM), b_z (GRU)", 0.0, 5.0, step=0.25, key="gates_bias",
                  help="The bias of the LSTM's forget gate f or the GRU's update gate z; PyTorch's is near 0.")
    kind, reset_after = VARIANTS[ss.gates_cell]
    return kind, reset_after, dict(H=ss.gates_hidden, T=ss.gates_T, input_scale=ss.gates_scale,
                                   gate_bias=ss.gates_bias, seed=int(ss.seed))


# --- compute: one cached engine call per tab -----------------------------------------------------

gate_view = st.cache_data(max_entries=32, show_spinner=False)(G.gate_view)
bias_sweep = st.cache_data(max_entries=32, show_spinner=False)(G.bias_sweep)
gru_conventions = st.cache_data(max_entries=16, show_spinner=False)(G.gru_conventions)
compare_kinds = st.cache_data(max_entries=16, show_spinner=False)(G.compare_kinds)


# --- equations: symbols only ---------------------------------------------------------------------

def gate_line(name, fn=r"\sigma", symbol=None):
    Wx, Wh = widgets.sym("W_x", latex=True), widgets.sym("W_h", latex=True)
    return rf"{symbol or name}_t = {fn}({Wx}^{{({name})}} x_t + {Wh}^{{({name})}} h_{{t-1}} + b_{name})"


def candidate(reset_after):
    Wx, Wh = widgets.sym("W_x", latex=True), widgets.sym("W_h", latex=True)
    if reset_after:
        return rf"n_t = \tanh({Wx}^{{(n)}} x_t + b_n + r_t \odot ({Wh}^{{(n)}} h_{{t-1}} + b_{{hn}}))"
    return rf"n_t = \tanh({Wx}^{{(n)}} x_t + b_n + {Wh}^{{(n)}} (r_t \odot h_{{t-1}}))"


def equations(kind, reset_after):
    if kind == "lstm":
        lines = [gate_line("i"), gate_line("f"), gate_line("g", r"\tanh"), gate_line("o", symbol=notation.OUTPUT_GATE),
                 r"c_t = f_t \odot c_{t-1} + i_t \odot g_t", rf"h_t = {notation.OUTPUT_GATE}_t \odot \tanh(c_t)"]
    else:
        lines = [gate_line("r"), gate_line("z"), candidate(reset_after), notation.GRU_UPDATE]
    return r"\begin{aligned}" + r" \\ ".join(line.replace("=", "&=", 1) for line in lines) + r"\end{aligned}"


# --- figures: built in one go from dicts (Plotly validates once: fast enough for a slider move) ---

figure = functools.partial(plots.figure, legend=dict(orientation="h", y=-0.3))
LOG = plots.LOG_AXIS


def heat(values, title, scale, x=None, xlabel="t", zlabel="", height=300):
    """values (T, H) as a units x time heatmap: unit 1 on top, time left to right."""
    T, H = values.shape
    trace = dict(type="heatmap", z=values.T, x=np.arange(1, T + 1) if x is None else x,
                 y=np.arange(1, H + 1), colorbar=dict(title=dict(text=zlabel)),
                 colorscale=plots.MAGNITUDE_SCALE if scale in ("gate", "log") else plots.SIGNED_SCALE,
                 hovertemplate=f"{xlabel} = %{{x}}, unit %{{y}}: %{{z:.3g}}<extra></extra>",
                 **{"gate": dict(zmin=0.0, zmax=1.0), "tanh": dict(zmin=-1.0, zmax=1.0),
                    "signed": dict(zmid=0.0), "log": {}}[scale])
    return figure([trace], title, xlabel, "unit", height=height, yaxis=dict(autorange="reversed"),
                  margin=dict(t=50, b=50))


def path_figure(path, gate):
    s = path.state
    return figure([line(path.lags, path.measured, f"measured ‖∂L_T/∂{s}_k‖ (BPTT, every path)", C_MEASURED),
                   line(path.lags, path.direct, f"along the {gate} path only", C_DIRECT, "dash")],
                  f"Gradient on {s}_k from the loss at step T", "lag T − k", "norm (log scale)", yaxis=LOG)


def products_figure(path, gate):
    with np.errstate(divide="ignore"):  # a product that underflowed to 0 is drawn as a gap
        logs = np.log10(on_log_axis(path.products[::-1]))  # (T + 1, H), by lag 0..T
    return heat(logs, f"log₁₀ of {gate}_(k+1) ⋯ {gate}_T, each unit", "log", x=np.arange(logs.shape[0]),
                xlabel="lag T − k", zlabel="log₁₀", height=440)


def bias_figures(sweep, gate):
    b, i = f"b_{gate}", sweep.current
    band = [dict(type="rect", xref="x", x0=1, x1=2, yref="y domain", y0=0, y1=1, line=dict(width=0),
                 fillcolor=GREY, opacity=0.2, layer="below")] if gate == "f" else []  # the usual b_f

    def bias_figure(y, shown, title, ylabel, yaxis):
        marker = dict(type="scatter", x=[sweep.biases[i]], y=[y[i]], mode="markers+text", text=[shown],
                      textposition="top left", marker=dict(size=14, color=C_DIRECT), cliponaxis=False)
        return figure([line(sweep.biases, y, ylabel, C_MEASURED, log=False), marker], title, b, ylabel,
                      yaxis=yaxis, shapes=band, showlegend=False)

    return (bias_figure(sweep.mean_gate, f"{sweep.mean_gate[i]:.2f}", f"Mean {gate} over all steps and units",
                        f"mean {gate}", dict(range=[0, 1.12])),
            bias_figure(on_log_axis(sweep.ratio), f"{sweep.ratio[i]:.2g}",
                        f"Gradient {sweep.lag} steps back, relative to the last step",
                        f"‖∂L_T/∂h_(T−{sweep.lag})‖ / ‖∂L_T/∂h_T‖", LOG))


def compare_figures(runs, unit):
    lags = np.arange(runs[0].profile.dh.size)
    steps = np.arange(1, runs[0].h.shape[0] + 1)
    states = figure([line(steps, r.h[:, unit - 1], NAMES[r.kind], COLORS[r.kind], log=False) for r in runs],
                    f"Hidden unit {unit}, same inputs", "t", f"h_t[{unit}]")
    grads = figure([line(lags, r.profile.dh, f"{NAMES[r.kind]} ‖∂L_T/∂h‖", COLORS[r.kind]) for r in runs]
                   + [line(lags, runs[1].profile.dc, "LSTM ‖∂L_T/∂c‖", COLORS["lstm"], "dot")],
                   "Gradient reaching h_(T−lag)", "lag", "norm (log scale)", yaxis=LOG)
    return states, grads


# --- tabs ----------------------------------------------------------------------------------------

def gates_tab(view, kind, reset_after):
    trace, gate = view.trace, G.MEMORY_GATE[kind]
    st.latex(equations(kind, reset_after))
    values = {**dict(zip(trace.names, trace.gates)), "c": trace.c, "h": trace.h}
    panels = [*trace.names, *(["c"] if kind == "lstm" else []), "h"]
    for row in range(0, len(panels), 2):
        for col, name in zip(st.columns(2, gap="large"), panels[row:row + 2]):
            with col:
                title, caption, scale = PANELS[name]
                plots.show(heat(values[name], f"{title} {name}_t", scale), key=f"gates_fig_{name}")
                st.caption(f"{title} {name}: {caption}")
    widgets.explain(f"One forward pass of the engine over T = {trace.h.shape[0]} random inputs: each row is a unit, "
                    "each column a step t. Gates are sigmoids between 0 (closed) and 1 (open): each one scales what "
                    f"flows through it. Here the mean {gate} is {view.path.mean_gate:.2f}.",
                    "Raise the input scale to 3: the gates saturate into stripes of 0 and 1, switches rather than "
                    f"dimmers. Then set the memory-gate bias to 4 and watch the {gate} map turn uniformly open.")


def path_tab(view, kind):
    path, gate = view.path, G.MEMORY_GATE[kind]
    left, right = st.columns(2, gap="large")
    with left:
        plots.show(path_figure(path, gate), key="gates_fig_path")
    with right:
        plots.show(products_figure(path, gate), key="gates_fig_products")
    if kind == "lstm":
        what = ("c_t = f_t ⊙ c_(t−1) + i_t ⊙ g_t gives the gradient a path whose Jacobian is diagonal: along "
                "it ∂c_T/∂c_k = diag(f_(k+1) ⊙ ⋯ ⊙ f_T), with no W_h and no tanh′. Dashed: what that path alone "
                "carries back, the engine's ∂L_T/∂c_(T−1) times the forget gates. Solid: the engine's full BPTT "
                "gradient on c_k, which also collects what loops through h and the gates.")
    else:
        what = ("h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_(t−1) gives the gradient a path whose Jacobian is diag(z_t): "
                "along it ∂h_T/∂h_k = diag(z_(k+1) ⊙ ⋯ ⊙ z_T). Dashed: v ⊙ that product, for the loss "
                "L_T = v·h_T. Solid: the engine's full BPTT gradient ∂L_T/∂h_k, which also goes through n, r, z.")
    widgets.explain(what + f" Right: the product for every unit (mean {gate} = {path.mean_gate:.2f}).",
                    f"Set the memory-gate bias to 0: {gate} is about one half, the product halves at every step, and "
                    "the solid line lies far above the dashed one (the other paths carry more). Then try 3: the dashed "
                    "line flattens and the two lines meet, because the direct path now dominates.")


def bias_tab(controls, kind, reset_after):
    sweep = bias_sweep(kind, **controls, lag=FAR_LAG, reset_after=reset_after)
    gate, i = G.MEMORY_GATE[kind], sweep.current
    st.info(f"With b_{gate} = {sweep.biases[i]:g}, the mean {gate} is **{sweep.mean_gate[i]:.2f}** and the "
            f"gradient {sweep.lag} steps back is **{sweep.ratio[i]:.2g} times** the one at the last step.")
    for col, fig, key in zip(st.columns(2, gap="large"), bias_figures(sweep, gate), ("mean", "far")):
        with col:
            plots.show(fig, key=f"gates_fig_bias_{key}")
    widgets.explain(f"The same weights and inputs with every bias from 0 to 5; the marker is the sidebar's value. At "
                    f"initialisation the other weights are small, so {gate} ≈ σ(b_{gate}): PyTorch's default bias near 0 "
                    "starts every unit half-forgetting, and the gradient along the memory path shrinks like a power of "
                    "one half. Gers, Schmidhuber and Cummins (2000), who added the forget gate to the LSTM, started it "
                    "open with a positive bias; Jozefowicz, Zaremba and Sutskever (2015) found that a forget-gate bias "
                    "of 1 closes the gap between the LSTM and the GRU. Hence b_f ≈ 1 to 2 (shaded): the cell "
                    "remembers for tens of steps from the start, while the gate sits where the sigmoid is still steep "
                    "enough to learn when to forget. Near 5 it is flat: the gate hardly learns, and c piles up inputs.",
                    "Set T = 200 and move the bias from 0 to 2: the far-back gradient grows by many orders of magnitude. "
                    + ("Then switch the cell to a GRU: its update-gate bias b_z plays the same role." if gate == "f" else
               "Then switch the cell to the LSTM: its forget-gate bias b_f plays the same role."))


def conventions_tab(controls):
    conv = gru_conventions(**controls)
    for col, trace, after in zip(st.columns(2, gap="large"), (conv.before, conv.after), (False, True)):
        with col:
            st.markdown("**Reset after the matrix (PyTorch, cuDNN)**" if after
                        else "**Reset before the matrix (Cho et al. 2014, the course slides)**")
            st.latex(candidate(after))
            plots.show(heat(trace.gates[trace.names.index("n")], "Candidate n_t", "tanh"),
                       key=f"gates_fig_n_{'after' if after else 'before'}")
    st.info(f"The same W_x, W_h, b and inputs, with b_hn = 0. The candidates first differ at "
            f"t = {conv.first_step} (at t = 1 both see h_0 = 0); the largest difference is {conv.max_dn:.3g} in n and "
            f"{conv.max_dh:.3g} in h.".replace("W_x", widgets.sym("W_x")).replace("W_h", widgets.sym("W_h")))
    for col, diff, name in zip(st.columns(2, gap="large"), (conv.dn, conv.dh), ("n", "h")):
        with col:
            plots.show(heat(diff, f"{name}_t after − {name}_t before", "signed"), key=f"gates_fig_d{name}")
    widgets.explain("Both share r, z and the update h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_(t−1); only where r enters the "
                    "candidate differs. Before: r picks which parts of h_(t−1) the matrix sees. After: r scales what the "
                    "matrix produced, unit by unit, so W_h h_(t−1) is one product for all three gates (what cuDNN "
                    "exploits). The two agree only when r is the same for every unit; otherwise they are different "
                    "functions of the same weights, so weights do not carry over from one convention to the other.",
                    "Raise the input scale: r varies more from unit to unit and the candidates drift apart. Set it to 0: "
                    "the difference shrinks but does not vanish, because the random biases still differ between units.")


def compare_tab(controls, reset_after):
    runs, ss = compare_kinds(**controls, reset_after=reset_after), st.session_state
    ss.gates_unit = min(ss.gates_unit, controls["H"])  # a smaller H has fewer units
    left, right = st.columns(2, gap="large")
    with left:
        st.slider("Hidden unit shown", 1, controls["H"], key="gates_unit")
        states, grads = compare_figures(runs, ss.gates_unit)
        plots.show(states, key="gates_fig_states")
    with right:
        plots.show(grads, key="gates_fig_compare")
    widgets.explain("A tanh RNN, an LSTM and a GRU of the same hidden size, PyTorch's initialisation from one seed, "
                    "read the same inputs. Left: one unit of each hidden state. Right: the engine's ‖∂L_T/∂h_k‖ for the "
                    "loss L_T = v·h_T, and for the LSTM the gradient on the cell state c (dotted).",
                    "The RNN's gradient falls like a power of its W_h, far faster than the gated cells'. Raise the "
                    "memory-gate bias to 3: the LSTM and GRU carry it across the whole sequence. Set it to 0: they lose "
                    "much of their lead.")


def render():
    init_state()
    st.title("Gates")
    st.markdown("An LSTM or GRU decides at every step, with gates between 0 and 1, what to write, keep and "
                "show. The gate that keeps the past (the LSTM's forget gate f, the GRU's update gate z) also "
                "decides how far back the gradient reaches. Every number below is the engine's own.")
    kind, reset_after, ctl = controls()
    tabs = st.tabs(TABS, key="gates_tab", on_change="rerun")
    bodies = (lambda: gates_tab(gate_view(kind, **ctl, reset_after=reset_after), kind, reset_after),
              lambda: path_tab(gate_view(kind, **ctl, reset_after=reset_after), kind),
              lambda: bias_tab(ctl, kind, reset_after), lambda: conventions_tab(ctl),
              lambda: compare_tab(ctl, reset_after))
    for tab, body in zip(tabs, bodies):
        if tab.open:
            with tab:
                body()
    sync_url()


if __name__ == "__main__":
    render()
