"""The Gates page with AppTest: every tab draws the engine's numbers, every control changes what
is drawn, deep links set the controls and the URL follows them."""
import numpy as np
import pytest

from harness import no_exceptions, plotly_specs, run_page
from lab_ui import notation
from rnn_core import gates as G

PAGE = "views/gates.py"
SMALL = {"hidden": 6, "length": 30}  # fast runs; the engine calls are the same at any size
TITLES = {"Gates over time": 6, "Memory path": 2, "Forget-gate bias": 2, "GRU conventions": 4,
          "RNN vs LSTM vs GRU": 2}
VARIANTS = {"lstm": ("lstm", False), "gru": ("gru", False), "gru_after": ("gru", True)}


def chart(at, title_start, nth=0):
    """The decoded spec of the nth figure whose title starts with `title_start`."""
    found = [s for s in plotly_specs(at) if s["layout"]["title"]["text"].startswith(title_start)]
    assert len(found) > nth, f"no figure titled {title_start!r}; have " \
                             f"{[s['layout']['title']['text'] for s in plotly_specs(at)]}"
    return found[nth]


def z(spec):
    return np.asarray(spec["data"][0]["z"], dtype=np.float64)


def controls(at):
    """The engine arguments the page's controls stand for."""
    ss = at.session_state
    return dict(H=ss["gates_hidden"], T=ss["gates_T"], input_scale=ss["gates_scale"],
                gate_bias=ss["gates_bias"], seed=ss["seed"])


def open_tab(at, label):
    at.session_state["gates_tab"] = label
    at.run()
    no_exceptions(at)
    return at


@pytest.fixture(scope="module")
def page():
    at = run_page(PAGE, query=SMALL)
    no_exceptions(at)
    return at


@pytest.mark.parametrize("tab", list(TITLES))
def test_every_tab_draws_its_figures_without_exceptions(page, tab):
    open_tab(page, tab)
    assert len(plotly_specs(page)) == TITLES[tab]
    assert page.session_state["gates_tab"] == tab and page.query_params["tab"] == tab


@pytest.mark.parametrize("cell", list(VARIANTS))
def test_gate_heatmaps_are_the_engines_gate_and_state_values(cell):
    at = run_page(PAGE, query={**SMALL, "cell": cell})
    no_exceptions(at)
    kind, reset_after = VARIANTS[cell]
    trace = G.gate_view(kind, **controls(at), reset_after=reset_after).trace
    values = {**dict(zip(trace.names, trace.gates)), "h": trace.h, "c": trace.c}
    titles = [spec["layout"]["title"]["text"] for spec in plotly_specs(at)]
    panels = [*trace.names, *(["c"] if kind == "lstm" else []), "h"]
    assert [t.split()[-1] for t in titles] == [f"{n}_t" for n in panels]
    for spec in plotly_specs(at):
        name = spec["layout"]["title"]["text"].split()[-1][0]
        np.testing.assert_array_equal(z(spec), values[name].T)        # units x time, exact in JSON
    latex = at.latex[0].value
    assert ("r_t \\odot (" in latex) == reset_after and ("c_t" in latex) == (kind == "lstm")
    # The output gate is not o_t, which the course keeps for the network's output W_y h_t + c.
    assert "o_t" not in latex and (notation.OUTPUT_GATE + "_t" in latex) == (kind == "lstm")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_memory_path_draws_the_engines_measured_and_direct_gradients(cell):
    at = open_tab(run_page(PAGE, query={**SMALL, "cell": cell}), "Memory path")
    kind = VARIANTS[cell][0]
    path = G.gate_view(kind, **controls(at)).path
    measured, direct = chart(at, "Gradient on")["data"]
    np.testing.assert_array_equal(measured["x"], path.lags)
    np.testing.assert_array_equal(measured["y"], path.measured)
    np.testing.assert_array_equal(direct["y"], path.direct)
    products = z(chart(at, "log₁₀ of"))
    np.testing.assert_allclose(10 ** products, path.products[::-1].T, rtol=1e-14)  # log10 and back
    assert f"mean {G.MEMORY_GATE[kind]} = {path.mean_gate:.2f}" in at.markdown[-2].value


def test_bias_tab_marks_the_sidebar_bias_on_the_engines_sweep():
    at = open_tab(run_page(PAGE, query={**SMALL, "bias": 2.5}), "Forget-gate bias")
    sweep = G.bias_sweep("lstm", **controls(at), lag=50)
    mean = chart(at, "Mean f")["data"]
    np.testing.assert_array_equal(mean[0]["x"], sweep.biases)
    np.testing.assert_array_equal(mean[0]["y"], sweep.mean_gate)
    assert mean[1]["x"] == [2.5] and mean[1]["y"] == [sweep.mean_gate[sweep.current]]
    far = chart(at, "Gradient 30 steps back")["data"]                   # lag 50 clipped to T = 30
    np.testing.assert_array_equal(far[0]["y"], sweep.ratio)
    assert f"b_f = 2.5, the mean f is **{sweep.mean_gate[sweep.current]:.2f}**" in at.info[0].value
    at.sidebar.slider(key="gates_bias").set_value(0.0).run()
    assert chart(at, "Mean f")["data"][1]["x"] == [0.0] and "b_f = 0," in at.info[0].value


def test_conventions_tab_draws_both_candidates_and_where_they_differ():
    at = open_tab(run_page(PAGE, query=SMALL), "GRU conventions")
    conv = G.gru_conventions(**controls(at))
    before, after = chart(at, "Candidate n_t", 0), chart(at, "Candidate n_t", 1)
    np.testing.assert_array_equal(z(before), conv.before.gates[2].T)
    np.testing.assert_array_equal(z(after), conv.after.gates[2].T)
    np.testing.assert_array_equal(z(chart(at, "n_t after")), conv.dn.T)
    np.testing.assert_array_equal(z(chart(at, "h_t after")), conv.dh.T)
    assert "first differ at t = 2" in at.info[0].value
    equations = [element.value for element in at.latex]
    assert any(r"(r_t \odot h_{t-1})" in e for e in equations)          # Cho: reset before W_hn
    assert any(r"r_t \odot (W_h^{(n)} h_{t-1} + b_{hn})" in e for e in equations)


def test_compare_tab_feeds_three_cells_and_the_unit_slider_picks_the_trace():
    at = open_tab(run_page(PAGE, query=SMALL), "RNN vs LSTM vs GRU")
    runs = G.compare_kinds(**controls(at))
    states = chart(at, "Hidden unit 1")["data"]
    assert [t["name"] for t in states] == ["RNN", "LSTM", "GRU"]
    for trace, run in zip(states, runs):
        np.testing.assert_array_equal(trace["y"], run.h[:, 0])
    grads = chart(at, "Gradient reaching")["data"]
    for trace, run in zip(grads, runs):
        np.testing.assert_array_equal(trace["y"], run.profile.dh)
    np.testing.assert_array_equal(grads[3]["y"][1:], runs[1].profile.dc[1:])  # dc at lag 0 is 0: a gap
    at.slider(key="gates_unit").set_value(4).run()
    for trace, run in zip(chart(at, "Hidden unit 4")["data"], runs):
        np.testing.assert_array_equal(trace["y"], run.h[:, 3])


def drawn(at):
    """Every number of every figure of the open tab, as one tuple of arrays."""
    return tuple(np.asarray(spec["data"][0]["z"], dtype=np.float64) for spec in plotly_specs(at))


def changed(before, after):
    return len(before) != len(after) or any(a.shape != b.shape or not np.array_equal(a, b)
                                            for a, b in zip(before, after))


def test_every_sidebar_control_changes_what_is_drawn():
    at = run_page(PAGE, query=SMALL)
    moves = [("radio", "gates_cell", "gru"), ("radio", "gates_cell", "gru_after"),
             ("slider", "gates_hidden", 10), ("slider", "gates_T", 45), ("slider", "gates_scale", 2.0),
             ("slider", "gates_bias", 3.0), ("number_input", "seed", 5)]
    for widget, key, value in moves:
        before = drawn(at)
        getattr(at.sidebar, widget)(key=key).set_value(value).run()
        no_exceptions(at)
        assert changed(before, drawn(at)), key
        kind, reset_after = VARIANTS[at.session_state["gates_cell"]]
        trace = G.gate_view(kind, **controls(at), reset_after=reset_after).trace
        np.testing.assert_array_equal(drawn(at)[0], trace.gates[0].T)  # and the engine's new numbers


def test_deep_link_sets_every_control_and_the_url_follows_them():
    at = run_page(PAGE, query={"cell": "gru_after", "hidden": 12, "length": 40, "scale": 2.5, "bias": 3.0,
                               "unit": 5, "tab": "RNN vs LSTM vs GRU", "seed": 3})
    no_exceptions(at)
    sidebar = at.sidebar
    assert sidebar.radio(key="gates_cell").value == "gru_after"
    assert sidebar.slider(key="gates_hidden").value == 12 and sidebar.slider(key="gates_T").value == 40
    assert sidebar.slider(key="gates_scale").value == 2.5 and sidebar.slider(key="gates_bias").value == 3.0
    assert at.slider(key="gates_unit").value == 5 and at.session_state["seed"] == 3
    runs = G.compare_kinds(12, 40, 2.5, 3.0, seed=3, reset_after=True)
    np.testing.assert_array_equal(chart(at, "Hidden unit 5")["data"][2]["y"], runs[2].h[:, 4])
    at.sidebar.slider(key="gates_hidden").set_value(16).run()
    assert at.query_params["hidden"] == "16" and at.query_params["cell"] == "gru_after"


def test_bad_deep_link_values_are_ignored():
    at = run_page(PAGE, query={"cell": "transformer", "hidden": 99, "length": "long", "scale": "nan",
                               "bias": -1, "tab": "Nowhere"})
    no_exceptions(at)
    ss = at.session_state
    assert (ss["gates_cell"], ss["gates_hidden"], ss["gates_T"], ss["gates_scale"], ss["gates_bias"],
            ss["gates_tab"]) == ("lstm", 8, 100, 1.0, 1.0, "Gates over time")
    assert len(plotly_specs(at)) == 6


def test_unit_shown_is_clamped_when_the_hidden_size_shrinks():
    at = run_page(PAGE, query={"hidden": 32, "length": 20, "unit": 30, "tab": "RNN vs LSTM vs GRU"})
    assert at.slider(key="gates_unit").value == 30
    at.sidebar.slider(key="gates_hidden").set_value(4).run()
    no_exceptions(at)
    assert at.slider(key="gates_unit").value == 4 and chart(at, "Hidden unit 4")


def test_equations_follow_the_sidebar_notation():
    at = run_page(PAGE, query={**SMALL, "notation": "textbook"})
    assert "U^{(i)} x_t + W^{(i)} h_{t-1}" in at.latex[0].value
    at.sidebar.selectbox(key="notation").select("pytorch").run()
    assert r"\mathrm{weight\_ih\_l0}^{(i)}" in at.latex[0].value
