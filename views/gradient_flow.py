"""Gradient flow: why gradients vanish or explode over long lags, and what clipping does.

The figures and the readout live in lab_ui.gradient_flow_figures; this page lays out the
controls and the four tabs, and runs the clipping comparison live in a fragment.
"""
import numpy as np
import streamlit as st

from lab_ui import plots, state, widgets
from lab_ui.gradient_flow_figures import (clip_charts, cliff_figure, compare_figure, lag_figures,
                                          non_normal_figure, readout, run_names)
from rnn_core import analysis as A
from rnn_core import cliff, tasks

CONSTRUCTIONS = {"gaussian": "Random Gaussian, scaled", "orthogonal": "Orthogonal, scaled",
                 "identity": "Identity, scaled", "eigenvalues": "Eigenvalues placed by hand"}
NONLINS = {"tanh": "tanh", "relu": "ReLU", "linear": "linear"}
TABS = ["Gradient by lag", "Non-normal W_h", "Clipping", "RNN vs LSTM vs GRU"]
MAX_PAIRS, MAX_REALS = 3, 2
LRS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
THRESHOLDS = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
STEPS = [50, 100, 200, 300, 500, 1000]
DEFAULTS = {"gf_rho": 0.9, "gf_construction": "orthogonal", "gf_hidden": 64, "gf_T": 200,
            "gf_nonlin": "tanh", "gf_input": 0.1, "gf_pairs": 1, "gf_reals": 1, "gf_skew": 1.0,
            **{f"gf_mag{i}": m for i, m in zip(range(1, 4), (0.97, 0.8, 0.6))},
            **{f"gf_angle{i}": a for i, a in zip(range(1, 4), (20.0, 90.0, 150.0))},
            "gf_real1": 0.9, "gf_real2": -0.5, "gf_tab": TABS[0],
            "gf_nn_rho": 0.9, "gf_nn_shear": 3.0, "gf_gate_bias": 2.0,
            "gf_task": "remember", "gf_clip_T": 50, "gf_clip_rho": 1.5, "gf_lr": 0.05,
            "gf_clip": "norm", "gf_threshold": 1.0, "gf_steps": 300,
            "gf_w0": 2.2, "gf_b0": -0.8, "gf_cliff_lr": 0.5}
ALLOWED = {"gf_rho": (0.1, 2.0), "gf_construction": list(CONSTRUCTIONS), "gf_hidden": (2, 128),
           "gf_T": (10, 300), "gf_nonlin": list(NONLINS), "gf_input": (0.0, 3.0),
           "gf_pairs": (0, MAX_PAIRS), "gf_reals": (0, MAX_REALS), "gf_skew": (1.0, 10.0),
           **{f"gf_mag{i}": (0.0, 2.0) for i in range(1, 4)},
           **{f"gf_angle{i}": (0.0, 180.0) for i in range(1, 4)},
           "gf_real1": (-2.0, 2.0), "gf_real2": (-2.0, 2.0), "gf_tab": TABS,
           "gf_nn_rho": (0.5, 0.99), "gf_nn_shear": (0.0, 5.0), "gf_gate_bias": (-2.0, 5.0),
           "gf_task": list(tasks.TASKS), "gf_clip_T": (10, 100), "gf_clip_rho": (0.5, 2.0),
           "gf_lr": LRS, "gf_clip": ["norm", "value"], "gf_threshold": THRESHOLDS, "gf_steps": STEPS,
           "gf_w0": (0.5, 3.5), "gf_b0": (-1.0, 0.5), "gf_cliff_lr": (0.05, 2.0)}
LINKED = ["gf_rho", "gf_construction", "gf_hidden", "gf_T", "gf_nonlin", "gf_input", "gf_tab"]
LINKED_BY_HAND = ["gf_pairs", "gf_reals", "gf_skew", "gf_mag1", "gf_angle1", "gf_mag2", "gf_angle2",
                  "gf_mag3", "gf_angle3", "gf_real1", "gf_real2"]
CHUNK_WORK = 500              # T x steps per fragment run: ~70 ms for both clipping runs at H = 32
REFRESH = 0.3                 # seconds between training chunks


# --- controls ------------------------------------------------------------------------------

def w_h_controls():
    """The recurrent matrix and the probe sequence, in the sidebar; returns plain values."""
    ss, W = st.session_state, widgets.sym("W_h")
    with st.sidebar:
        st.subheader(f"Recurrent matrix {W}")
        st.selectbox("Construction", list(CONSTRUCTIONS), format_func=CONSTRUCTIONS.get,
                     key="gf_construction")
        by_hand = ss.gf_construction == "eigenvalues"
        st.slider("Spectral radius ρ", 0.1, 2.0, step=0.05, key="gf_rho", disabled=by_hand,
                  help="Largest |eigenvalue|. Placed by hand, ρ is the largest magnitude you place.")
        pairs, reals = (), ()
        if by_hand:
            st.slider("Complex pairs", 0, MAX_PAIRS, key="gf_pairs")
            for i in range(1, ss.gf_pairs + 1):
                left, right = st.columns(2)
                left.slider(f"|λ| pair {i}", 0.0, 2.0, step=0.01, key=f"gf_mag{i}")
                right.slider(f"angle {i} (°)", 0.0, 180.0, step=1.0, key=f"gf_angle{i}")
            st.slider("Real eigenvalues", 0, MAX_REALS, key="gf_reals")
            for i in range(1, ss.gf_reals + 1):
                st.slider(f"λ real {i}", -2.0, 2.0, step=0.01, key=f"gf_real{i}")
            st.slider("Eigenvector skew (condition number)", 1.0, 10.0, step=0.5, key="gf_skew",
                      help="1: orthogonal eigenvectors (a normal matrix). More: non-normal.")
            pairs = tuple((ss[f"gf_mag{i}"], np.radians(ss[f"gf_angle{i}"])) for i in range(1, ss.gf_pairs + 1))
            reals = tuple(ss[f"gf_real{i}"] for i in range(1, ss.gf_reals + 1))
        st.slider("Hidden size H", 2, 128, key="gf_hidden")
        if 2 * len(pairs) + len(reals) > ss.gf_hidden:  # a matrix of size H has H eigenvalues
            pairs = pairs[:ss.gf_hidden // 2]
            reals = reals[:ss.gf_hidden - 2 * len(pairs)]
            st.warning(f"H = {ss.gf_hidden} has room for {ss.gf_hidden} eigenvalues: only the first "
                       f"{2 * len(pairs) + len(reals)} placed are used.", icon=":material/warning:")
        st.slider("Sequence length T", 10, 300, key="gf_T")
        st.radio("Nonlinearity", list(NONLINS), format_func=NONLINS.get, key="gf_nonlin", horizontal=True)
        st.slider("Input scale", 0.0, 3.0, step=0.05, key="gf_input",
                  help="Std of the drive W_x x_t. Large inputs push tanh into its flat tails.")
    return dict(construction=ss.gf_construction, H=ss.gf_hidden, rho=ss.gf_rho, pairs=pairs,
                reals=reals, skew=ss.gf_skew if by_hand else 1.0, nonlinearity=ss.gf_nonlin,
                T=ss.gf_T, input_scale=ss.gf_input, seed=int(ss.seed))


# --- compute -------------------------------------------------------------------------------

flow_summary = st.cache_data(max_entries=32, show_spinner=False)(A.flow_summary)
compare_cells = st.cache_data(max_entries=16, show_spinner=False)(A.compare_cells)
non_normal_summary = st.cache_data(max_entries=16, show_spinner=False)(A.non_normal_summary)


@st.cache_data(max_entries=16, show_spinner=False)
def cliff_view(w0, b0, lr, threshold):
    return (cliff.surface(n=121), cliff.descent_path((w0, b0), lr, 30),
            cliff.descent_path((w0, b0), lr, 30, threshold=threshold))


# --- tabs ----------------------------------------------------------------------------------

def lag_tab(controls):
    view = flow_summary(**controls)
    figs = lag_figures(view)
    {"vanishing": st.info, "exploding": st.warning, "preserved": st.success}[view.ratio.verdict](readout(view))
    left, right = st.columns(2, gap="large")
    with left:
        plots.show(figs["eigen"], key="gf_fig_eigen")
        widgets.explain("Each dot is an eigenvalue λ of W_h. Inside the unit circle a direction shrinks at every "
                        "step, outside it grows. The dotted circle has the radius of the largest singular value: "
                        "no vector is stretched more than that in one step.",
                        "Switch to *Eigenvalues placed by hand*, put one pair just outside the circle (|λ| = 1.05) "
                        "and watch the lag plot below turn upward at long lags.")
    with right:
        plots.show(figs["sv"], key="gf_fig_sv")
        widgets.explain("The singular values are how much W_h stretches its most and least favoured directions. "
                        "Pascanu et al. (2013): with |φ′| ≤ γ, σ_max < 1/γ is enough for the gradient to vanish.",
                        "Compare *Orthogonal* (all σ equal to ρ) with *Random Gaussian* at the same ρ: the "
                        "Gaussian matrix has σ_max ≈ 2ρ, so the bound no longer settles the question.")
    st.divider()
    plots.show(figs["lag"], key="gf_fig_lag")
    widgets.explain("The measured norm of ∂L_T/∂h_k, the gradient that the loss at the last step sends back to "
                    "the state k steps earlier, computed by the engine's own BPTT, against ρ^lag (exact for a "
                    "linear RNN with a normal W_h) and the (γσ_max)^lag bound, which it never crosses.",
                    "Set the nonlinearity to linear: the measured line sits on ρ^lag. Back on tanh, raise the "
                    "input scale: tanh saturates and the gradient dies faster than ρ^lag.")
    st.divider()
    left, right = st.columns(2, gap="large")
    with left:
        plots.show(figs["heat"], key="gf_fig_heat")
        widgets.explain("With a loss at every step t, row t is the gradient that L_t sends back to each earlier "
                        "state h_k. The colour changes along the diagonals: only the distance t − k matters much.",
                        "Move ρ from 0.9 to 1.1 and watch the top-left corner, the longest lags (late losses, "
                        "early states), go from dark to bright.")
    with right:
        plots.show(figs["share"], key="gf_fig_share")
        near = A.share_within(view.share, 9)
        story = {"vanishing": "with vanishing gradients, W_h is trained almost only on short-range "
                              "dependencies",
                 "exploding": "with exploding gradients the longest lags dominate the update and drown "
                              "the short-range structure",
                 "preserved": "with the gradient preserved, every distance has its say"}[view.ratio.verdict]
        widgets.explain(f"∂L/∂W_h is a sum over all pairs (t, k) of per-step parts. Here {near:.0%} of it comes "
                        f"from steps at most 9 steps before their loss: {story}.",
                        "Find the ρ at which far-back steps (distance > 50) start to carry a visible share.")
    st.divider()
    left, right = st.columns(2, gap="large")
    with left:
        plots.show(figs["factors"], key="gf_fig_factors")
    with right:
        s = view.saturation
        widgets.explain(f"Every step multiplies the gradient by diag(φ′(a_t)) W_h^T. These are those φ′ factors "
                        f"for every step and unit: mean {s.mean:.2f}, {s.saturated:.0%} below 0.1 (saturated)"
                        + (f", {s.dead:.0%} exactly 0 (ReLU units switched off)" if s.dead else "") + ". "
                        "Each saturated unit cuts its path of the gradient.",
                        "Raise the input scale from 0.1 to 2 with tanh: the histogram piles up near 0 and the "
                        "lag plot collapses, even with ρ = 1.")


def non_normal_tab(controls):
    left, right = st.columns(2)
    left.slider("Eigenvalue ρ (all of them)", 0.5, 0.99, step=0.01, key="gf_nn_rho")
    right.slider("Shear s", 0.0, 5.0, step=0.1, key="gf_nn_shear")
    ss = st.session_state
    spec, measured, worst = non_normal_summary(controls["H"], controls["T"], ss.gf_nn_rho, ss.gf_nn_shear,
                                            controls["seed"])
    peak = int(np.argmax(worst))
    plots.show(non_normal_figure(spec, measured, worst), key="gf_fig_nonnormal")
    widgets.explain(f"W_h = Q J Qᵀ with 2×2 blocks [[ρ, s], [0, ρ]]: every eigenvalue is ρ = {spec.spectral_radius:.2f} < 1, "
                    f"yet σ_max = {spec.max_singular_value:.2f}. The block sends part of one coordinate into the "
                    f"other at every step, so ‖W^l‖ ≈ l·s·ρ^(l−1) first grows (peak {worst[peak]:.3g} at lag {peak}) "
                    "and only then decays as ρ^l. The eigenvalues tell where the gradient ends up; the singular "
                    "values tell what can happen on the way. Pascanu's ρ < 1 is sufficient for vanishing "
                    "*eventually*, not at every lag.",
                    "Set the shear to 0: the matrix is normal again and all four lines meet ρ^lag. Then raise "
                    "the shear to 5 with ρ = 0.95.")


def clip_configs():
    ss = st.session_state
    with st.container(border=True):
        cols = st.columns(4)
        cols[0].selectbox("Task", list(tasks.TASKS), key="gf_task",
                          format_func={"remember": "Remember the first symbol", "adding": "Adding problem"}.get)
        cols[0].slider("Sequence length", 10, 100, step=5, key="gf_clip_T")
        cols[1].slider(f"ρ of the initial {widgets.sym('W_h')}", 0.5, 2.0, step=0.05, key="gf_clip_rho")
        cols[1].select_slider("Learning rate", LRS, key="gf_lr")
        cols[2].radio("Clipping of the second run", ["norm", "value"], key="gf_clip", horizontal=True,
                      format_func={"norm": "global norm", "value": "by value"}.get)
        cols[2].select_slider("Threshold", THRESHOLDS, key="gf_threshold")
        cols[3].select_slider("Steps", STEPS, key="gf_steps")
    base = tasks.ClipConfig(task=ss.gf_task, T=ss.gf_clip_T, rho=ss.gf_clip_rho, lr=ss.gf_lr,
                            threshold=ss.gf_threshold, seed=int(ss.seed))
    return base._replace(clip="off"), base._replace(clip=ss.gf_clip)


def reset_runs(configs):
    st.session_state.gf_runs = tuple(tasks.new_run(c) for c in configs)
    st.session_state.gf_training = False


def set_training(on):
    st.session_state.gf_training = on


def training_panel():
    """Runs inside a fragment: one chunk of both runs per call, then the plots."""
    ss = st.session_state
    runs = ss.gf_runs
    if ss.gf_training:
        n = min(max(1, CHUNK_WORK // runs[0].config.T), ss.gf_steps - runs[1].step)
        runs = ss.gf_runs = tuple(tasks.train_chunk(r, n) for r in runs)
        if runs[1].step >= ss.gf_steps or runs[1].status:
            ss.gf_training = False
            st.rerun(scope="app")  # re-register the fragment without its timer
    st.progress(runs[1].step / ss.gf_steps, text=f"step {runs[1].step} of {ss.gf_steps}")
    for r, name in zip(runs, run_names(runs)):
        if r.status:
            st.warning(f"Run *{name}* {r.status}.", icon=":material/warning:")
    if runs[1].step:
        cfg = runs[1].config
        loss, norm = clip_charts(runs, tasks.baseline_loss(cfg.task, cfg.n_symbols))
        left, right = st.columns(2, gap="large")
        left.vega_lite_chart(*loss, key="gf_chart_clip_loss", width="stretch")
        right.vega_lite_chart(*norm, key="gf_chart_clip_norm", width="stretch")


def clipping_tab():
    ss = st.session_state
    st.markdown("Two vanilla RNNs (H = 32, plain SGD) start from the same weights and see the same "
                "batches; the only difference is that the second clips its gradient.")
    configs = clip_configs()
    if "gf_runs" not in ss or ss.gf_runs[1].config != configs[1]:
        reset_runs(configs)
    cols = st.columns([1, 1, 1, 3])
    done = ss.gf_runs[1].step >= ss.gf_steps or bool(ss.gf_runs[1].status)
    # Callbacks run before the script, so every button below is drawn with the new state.
    cols[0].button("Train", key="gf_train", icon=":material/play_arrow:", disabled=ss.gf_training or done,
                   on_click=set_training, args=(True,))
    cols[1].button("Stop", key="gf_stop", icon=":material/stop:", disabled=not ss.gf_training,
                   on_click=set_training, args=(False,))
    cols[2].button("Reset", key="gf_reset", icon=":material/restart_alt:", on_click=reset_runs, args=(configs,))
    st.fragment(training_panel, run_every=REFRESH if ss.gf_training else None)()
    widgets.explain("Left: the loss of both runs, with the loss of the best guess that ignores the input. Right: "
                    "the gradient norm each step *before* clipping, the threshold, and what the clipped run "
                    "actually applied. Clipping by norm rescales g ← threshold · g/‖g‖ when ‖g‖ > threshold, "
                    "keeping its direction; clipping by value clamps every entry, which can turn it.",
                    "Train with the defaults (remember the first symbol, ρ = 1.5): the unclipped run's rare huge "
                    "gradients throw it off, the clipped one learns. Then try ρ = 0.9: no spikes, and clipping "
                    "changes nothing, because vanishing gradients are not what clipping fixes.")
    st.subheader("Pascanu's cliff")
    cols = st.columns(3)
    cols[0].slider("Start w", 0.5, 3.5, step=0.05, key="gf_w0")
    cols[1].slider("Start b", -1.0, 0.5, step=0.05, key="gf_b0")
    cols[2].slider("Step size", 0.05, 2.0, step=0.05, key="gf_cliff_lr")
    surf, off, on = cliff_view(ss.gf_w0, ss.gf_b0, ss.gf_cliff_lr, ss.gf_threshold)
    plots.show(cliff_figure(surf, off, on), key="gf_fig_cliff")
    hit = int(np.argmax(off.grad_norms)) + 1 if off.grad_norms.size else 0  # 1-based, as in the figure
    widgets.explain(f"The loss (h_50 − 0.6)² of one unit h_t = tanh(w h_(t−1) + b) from h_0 = 0.5. Where h_0 "
                    "switches between the two attractors the loss jumps: a wall whose gradient grows like "
                    f"(w·tanh′)^50. Unclipped, step {hit} met a gradient of "
                    f"{off.grad_norms.max() if off.grad_norms.size else 0:.3g} and ended at "
                    f"(w, b) = ({off.points[-1, 0]:.3g}, {off.points[-1, 1]:.3g}); clipped at the threshold "
                    f"{ss.gf_threshold:g} above, every step is at most {ss.gf_cliff_lr * ss.gf_threshold:.3g} long.",
                    "Move the start a little: paths that miss the wall behave alike; the ones that land on it "
                    "are thrown far away unless clipped.")


def compare_tab(controls):
    st.slider("Memory-gate bias (LSTM forget f, GRU update z)", -2.0, 5.0, step=0.5, key="gf_gate_bias")
    profiles = compare_cells(**controls, gate_bias=st.session_state.gf_gate_bias)
    plots.show(compare_figure(profiles), key="gf_fig_compare")
    widgets.explain("The same inputs and the same W_h (in the LSTM's g block and the GRU's n block) feed all three "
                    "cells; solid lines are ‖∂L_T/∂h_k‖. The LSTM's cell state, c_t = f ⊙ c_(t−1) + i ⊙ g, gives the "
                    "gradient a path whose only factor is the forget gate: the dotted line is the product of f along it, "
                    "with no W_h and no tanh′ to shrink it. The gradient also loops through h and the gates, which "
                    "adds to f: here the LSTM's gradient survives for hundreds of steps where the RNN's vanished, and "
                    "may even grow slowly (the forget gate cures vanishing, not exploding). The GRU's "
                    "h_t = (1 − z) n + z h_(t−1) has a direct path with factor z.",
                    "Set the gate bias to 0 (PyTorch's default): f ≈ 0.5 and the LSTM forgets about as fast as the "
                    "RNN. Then try 1, 2 and 3, and watch the dotted product of forget gates flatten.")


def render():
    state.init_defaults(DEFAULTS, ALLOWED)  # also keeps values of widgets a run did not draw
    st.title("Gradient flow")
    st.markdown("How much of the loss at step T reaches a state k steps back? The gradient is "
                "multiplied by diag(φ′(a_t)) W_hᵀ at every step on its way, so it shrinks or grows "
                "roughly like a power of W_h. Everything below is measured with the engine's own "
                "BPTT.".replace("W_h", widgets.sym("W_h")))
    controls = w_h_controls()
    tabs = st.tabs(TABS, key="gf_tab", on_change="rerun")
    bodies = (lambda: lag_tab(controls), lambda: non_normal_tab(controls), clipping_tab,
              lambda: compare_tab(controls))
    for tab, body in zip(tabs, bodies):
        if tab.open:
            with tab:
                body()
    by_hand = st.session_state.gf_construction == "eigenvalues"
    state.sync_query_params(LINKED + (LINKED_BY_HAND if by_hand else []))
    for key in [] if by_hand else LINKED_BY_HAND:  # a link to another construction needs none of them
        st.query_params.pop(key, None)


if __name__ == "__main__":
    render()
