"""The Gradient-flow page with AppTest: every construction and nonlinearity, the readout, deep links,
the clipping panel (driven one fragment run at a time), the other tabs."""
import io
import json

import numpy as np
import pyarrow as pa
import pytest

from harness import no_exceptions, plotly_specs, run_page
from rnn_core import analysis as A
from rnn_core import cliff

PAGE = "views/gradient_flow.py"
CONSTRUCTIONS = ["gaussian", "orthogonal", "identity", "eigenvalues"]
NONLINEARITIES = ["tanh", "relu", "linear"]


def chart(at, title_start):
    """The decoded spec of the figure whose title starts with `title_start`."""
    for spec in plotly_specs(at):
        if spec["layout"]["title"]["text"].startswith(title_start):
            return spec
    raise AssertionError(f"no figure titled {title_start!r}; have "
                         f"{[s['layout']['title']['text'] for s in plotly_specs(at)]}")


def vega_chart(at, title):
    """(spec, data as a DataFrame) of the Vega-Lite chart titled `title` (the live training charts)."""
    for element in at.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        if spec["title"]["text"] == title:
            return spec, pa.ipc.open_stream(io.BytesIO(element.proto.data.data)).read_all().to_pandas()
    raise AssertionError(f"no Vega-Lite chart titled {title!r}")


def series(data, name):
    rows = data[data["series"] == name].sort_values("step")
    return rows["value"].to_numpy(), rows["step"].to_numpy()


def readout(at):
    """The verdict box above the plots (st.info, st.warning or st.success)."""
    boxes = [box.value for box in list(at.info) + list(at.warning) + list(at.success)]
    assert len(boxes) == 1, boxes
    return boxes[0]


def open_tab(at, label):
    at.session_state["gf_tab"] = label
    at.run()
    no_exceptions(at)
    return at


@pytest.fixture(scope="module")
def page():
    at = run_page(PAGE)
    no_exceptions(at)
    return at


@pytest.mark.parametrize("construction", CONSTRUCTIONS)
def test_every_construction_and_nonlinearity_runs_and_draws_the_engines_profile(page, construction):
    at = page
    at.sidebar.selectbox(key="gf_construction").set_value(construction).run()
    for nonlinearity in NONLINEARITIES:
        at.sidebar.radio(key="gf_nonlin").set_value(nonlinearity).run()
        no_exceptions(at)
        assert len(plotly_specs(at)) == 6
        ss = at.session_state
        pairs = tuple((ss[f"gf_mag{i}"], np.radians(ss[f"gf_angle{i}"])) for i in range(1, ss["gf_pairs"] + 1))
        reals = tuple(ss[f"gf_real{i}"] for i in range(1, ss["gf_reals"] + 1))
        by_hand = construction == "eigenvalues"
        expected = A.flow_summary(construction, ss["gf_hidden"], ss["gf_rho"], pairs if by_hand else (),
                                  reals if by_hand else (), ss["gf_skew"] if by_hand else 1.0, nonlinearity,
                                  ss["gf_T"], ss["gf_input"], ss["seed"])
        measured = chart(at, "Gradient reaching")["data"][0]["y"]
        drawn = np.isfinite(measured)
        # The page draws the engine's numbers; JSON keeps float64 exactly.
        np.testing.assert_array_equal(measured[drawn], expected.profile[drawn])
        assert expected.ratio.verdict in readout(at)


def test_no_eigenvalues_placed_gives_a_zero_matrix_and_still_draws():
    at = run_page(PAGE, query={"gf_construction": "eigenvalues", "gf_pairs": 0, "gf_reals": 0})
    no_exceptions(at)
    assert "vanishing" in readout(at)
    assert len(plotly_specs(at)) == 6


def test_more_eigenvalues_than_H_are_dropped_with_a_warning():
    at = run_page(PAGE, query={"gf_construction": "eigenvalues", "gf_hidden": 2, "gf_pairs": 1, "gf_reals": 2})
    no_exceptions(at)
    assert "only the first 2 placed are used" in at.sidebar.warning[0].value
    trace = chart(at, "Eigenvalues")["data"][-1]
    assert len(trace["x"]) == 2 and np.all(np.abs(trace["y"]) > 0)  # the complex pair survives


def test_moving_spectral_radius_from_half_to_one_and_a_half_turns_vanishing_into_exploding():
    at = run_page(PAGE)  # the defaults: orthogonal W_h, tanh, H = 64, T = 200, input scale 0.1
    at.sidebar.slider(key="gf_rho").set_value(0.5).run()
    assert "**vanishing**" in readout(at) and at.info
    at.sidebar.slider(key="gf_rho").set_value(1.5).run()
    assert "**exploding**" in readout(at) and at.warning


def test_placed_eigenvalues_are_the_ones_plotted():
    at = run_page(PAGE, query={"gf_construction": "eigenvalues", "gf_pairs": 1, "gf_mag1": 1.05,
                               "gf_angle1": 30.0, "gf_reals": 1, "gf_real1": -0.7, "gf_hidden": 8})
    no_exceptions(at)
    trace = chart(at, "Eigenvalues")["data"][-1]
    plotted = np.sort_complex(trace["x"] + 1j * trace["y"])
    requested = np.sort_complex(np.array([1.05 * np.exp(1j * np.pi / 6), 1.05 * np.exp(-1j * np.pi / 6),
                                          -0.7, 0, 0, 0, 0, 0]))
    # matrix_from_eigenvalues with orthogonal eigenvectors: recovered to ~1e-15; zeros to ~1e-8
    # (a five-fold zero eigenvalue is computed to about eps^(1/5) in the worst case, far better here).
    np.testing.assert_allclose(plotted, requested, atol=1e-8)


def test_deep_link_sets_the_main_controls_and_bad_values_are_ignored():
    at = run_page(PAGE, query={"gf_rho": 1.2, "gf_construction": "gaussian", "gf_nonlin": "relu",
                               "gf_T": 100, "gf_hidden": 32, "gf_input": "lots"})
    no_exceptions(at)
    sidebar = at.sidebar
    assert sidebar.slider(key="gf_rho").value == 1.2
    assert sidebar.selectbox(key="gf_construction").value == "gaussian"
    assert sidebar.radio(key="gf_nonlin").value == "relu"
    assert sidebar.slider(key="gf_T").value == 100 and sidebar.slider(key="gf_hidden").value == 32
    assert sidebar.slider(key="gf_input").value == 0.1                    # "lots" is not a number
    assert at.query_params["gf_rho"] == ["1.2"] or at.query_params["gf_rho"] == "1.2"


def test_underflowing_gradient_is_reported_not_plotted():
    at = run_page(PAGE, query={"gf_rho": 0.1, "gf_T": 300, "gf_input": 1.0})
    no_exceptions(at)
    assert "underflow" in readout(at)
    measured = chart(at, "Gradient reaching")["data"][0]["y"]
    assert np.isnan(measured[-1]) and np.nanmin(measured) >= 1e-300


def test_clipping_panel_trains_two_runs_whose_norms_differ_and_clipped_norm_stays_under_threshold():
    at = open_tab(run_page(PAGE), "Clipping")
    assert len(plotly_specs(at)) == 1 and not at.get("vega_lite_chart")  # only the cliff before training
    at.button(key="gf_train").click().run()
    for _ in range(5):                                     # AppTest never fires run_every: one chunk per run
        at.run()
    no_exceptions(at)
    runs = at.session_state["gf_runs"]
    assert runs[0].step == runs[1].step == 60             # 6 chunks of CHUNK_WORK // T = 10 steps
    _, norm = vega_chart(at, "Gradient norm per step")
    (off, off_steps), (clipped, clipped_steps) = (series(norm, name) for name in
                                                  ("no clipping", "clipped by global norm"))
    applied, _ = series(norm, "applied norm")
    threshold = at.session_state["gf_threshold"]
    assert off.size == clipped.size == applied.size == 60 and off_steps[-1] == 60
    assert not np.array_equal(off, clipped)                # the runs part ways
    assert off[0] == clipped[0]                            # from the same weights and batch
    assert np.all(applied <= threshold * (1 + 1e-6))       # float32 rescaling: relative 1e-6
    assert clipped.max() > threshold                       # so clipping did act
    np.testing.assert_array_equal(clipped, runs[1].norms)  # the chart shows the engine's numbers
    spec, loss = vega_chart(at, "Training loss")
    assert series(loss, "no clipping")[0].size == series(loss, "clipped by global norm")[0].size == 60
    rule = spec["layer"][1]["encoding"]["y"]["datum"]
    assert rule == pytest.approx(np.log(4))                # remember 1 of 4 symbols: ln 4


def test_stop_halts_training_at_once_and_train_resumes():
    at = open_tab(run_page(PAGE), "Clipping")
    at.button(key="gf_train").click().run()
    at.button(key="gf_stop").click().run()
    steps = at.session_state["gf_runs"][1].step
    for _ in range(3):
        at.run()
    assert at.session_state["gf_runs"][1].step == steps and not at.session_state["gf_training"]
    assert not at.button(key="gf_train").disabled and at.button(key="gf_stop").disabled
    at.button(key="gf_train").click().run()
    assert at.session_state["gf_runs"][1].step > steps


def test_value_clipping_keeps_every_applied_entry_under_threshold():
    at = open_tab(run_page(PAGE), "Clipping")
    at.radio(key="gf_clip").set_value("value").run()
    at.select_slider(key="gf_threshold").set_value(0.1).run()
    at.button(key="gf_train").click().run()
    at.run()
    no_exceptions(at)
    largest, _ = series(vega_chart(at, "Gradient norm per step")[1], "largest applied |entry|")
    assert largest.size == 20 and np.all(largest <= np.float32(0.1))


def test_changing_a_clipping_control_resets_both_runs():
    at = open_tab(run_page(PAGE), "Clipping")
    at.button(key="gf_train").click().run()
    at.select_slider(key="gf_lr").set_value(0.1).run()
    runs = at.session_state["gf_runs"]
    assert runs[0].step == runs[1].step == 0 and runs[1].config.lr == 0.1


def test_training_stops_by_itself_after_the_chosen_steps():
    at = open_tab(run_page(PAGE), "Clipping")
    at.select_slider(key="gf_steps").set_value(50).run()
    at.button(key="gf_train").click().run()
    for _ in range(6):
        at.run()
    no_exceptions(at)
    assert at.session_state["gf_runs"][1].step == 50 and not at.session_state["gf_training"]
    assert at.button(key="gf_train").disabled


def test_cliff_shows_both_descent_paths_from_the_engine():
    at = open_tab(run_page(PAGE), "Clipping")
    traces = {t.get("name"): t for t in chart(at, "One tanh unit")["data"]}
    off = cliff.descent_path((2.2, -0.8), 0.5, 30)
    np.testing.assert_array_equal(traces["no clipping"]["x"], off.points[:, 0])
    np.testing.assert_array_equal(traces["no clipping"]["y"], off.points[:, 1])
    clipped = traces["clipped"]
    clipped_steps = np.hypot(np.diff(clipped["x"]), np.diff(clipped["y"]))
    assert np.all(clipped_steps <= 0.5 * at.session_state["gf_threshold"] * (1 + 1e-12))


def test_non_normal_tab_shows_growth_before_decay():
    at = open_tab(run_page(PAGE, query={"gf_hidden": 16, "gf_T": 100}), "Non-normal W_h")
    worst = np.asarray(chart(at, "Linear RNN, non-normal")["data"][1]["y"], dtype=float)
    assert np.nanmax(worst) > 5 * worst[0] and worst[-1] < worst[0]


def test_rnn_lstm_gru_tab_draws_five_curves_from_the_engine():
    at = open_tab(run_page(PAGE, query={"gf_hidden": 16, "gf_T": 60}), "RNN vs LSTM vs GRU")
    data = chart(at, "Same")["data"]
    assert [t["name"] for t in data][:2] == ["RNN ‖∂L/∂h‖", "LSTM ‖∂L/∂h‖"] and len(data) == 5
    profiles = A.compare_cells("orthogonal", 16, 0.9, (), (), 1.0, "tanh", 60, 0.1, 0,
                               gate_bias=at.session_state["gf_gate_bias"])
    lstm_forget = np.asarray(data[3]["y"], dtype=float)
    np.testing.assert_array_equal(lstm_forget, profiles[1].forget_product)


def test_settings_and_training_survive_a_visit_to_another_tab():
    at = open_tab(run_page(PAGE), "Clipping")
    at.select_slider(key="gf_lr").set_value(0.1).run()
    at.button(key="gf_train").click().run()
    at.button(key="gf_stop").click().run()
    steps = at.session_state["gf_runs"][1].step
    open_tab(at, "Non-normal W_h")
    at.slider(key="gf_nn_shear").set_value(1.0).run()
    open_tab(at, "Clipping")
    assert at.select_slider(key="gf_lr").value == 0.1
    assert at.session_state["gf_runs"][1].step == steps > 0
    open_tab(at, "Non-normal W_h")
    assert at.slider(key="gf_nn_shear").value == 1.0


def test_a_run_that_overflows_is_reported_and_the_other_trains_on():
    at = open_tab(run_page(PAGE), "Clipping")
    at.selectbox(key="gf_task").set_value("adding").run()
    at.select_slider(key="gf_lr").set_value(0.2).run()
    at.button(key="gf_train").click().run()
    for _ in range(4):
        at.run()
    no_exceptions(at)
    off, clipped = at.session_state["gf_runs"]
    assert off.status.startswith("stopped at step") and clipped.status == ""
    assert clipped.step > off.step
    assert any("no clipping" in w.value and "stopped at step" in w.value for w in at.warning)
    spec, _ = vega_chart(at, "Training loss")
    assert spec["layer"][0]["encoding"]["y"]["scale"] == {"type": "log"}  # 1e30 and 0.2 on one axis


@pytest.mark.parametrize("rho", [0.1, 0.9, 2.0])
def test_log_axes_carry_about_eight_decade_labels_whatever_the_span(rho):
    at = run_page(PAGE, query={"gf_rho": rho, "gf_T": 300})
    no_exceptions(at)
    spec = chart(at, "Gradient reaching")
    drawn = np.concatenate([np.asarray(t["y"], dtype=float) for t in spec["data"]])
    drawn = drawn[np.isfinite(drawn)]
    decades = np.log10(drawn.max() / drawn.min())
    assert decades / spec["layout"]["yaxis"]["dtick"] <= 8
