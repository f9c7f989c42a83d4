"""The Unroll page (AppTest, inside app.py): every cell and architecture, stepping, the numbers it
shows against rnn_core, truncation, deep links."""
import re

import numpy as np
import pytest

import rnn_core as rc
from harness import no_exceptions, plotly_specs, run_page
from rnn_core import unroll as U

PAGE = "views/unroll.py"
SHOWN_TOL = 5e-4 + 1e-12  # the page rounds to 3 decimals
EXACT_TOL = 1e-12         # plotly carries float64 unchanged; only summation order differs


def bmatrices(latex):
    """Every \\begin{bmatrix} ... \\end{bmatrix} column of a LaTeX string, as float arrays."""
    blocks = re.findall(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", latex)
    return [np.array([float(x) for x in block.split(r"\\")]) for block in blocks]


def equation(at, lhs):
    """The st.latex body whose left-hand side is `lhs` (e.g. "h_{3}")."""
    pattern = rf"(aligned\}}|\$\$)\s*{re.escape(lhs)}\s*&?="  # the equation starts with lhs =
    found = [el.value for el in at.latex if re.search(pattern, el.value)]
    assert len(found) == 1, (lhs, [el.value[:60] for el in at.latex])
    return found[0]


def figure_trace(at, name):
    traces = [tr for spec in plotly_specs(at) for tr in spec["data"] if tr.get("name") == name]
    assert len(traces) == 1, name
    return traces[0]


def position(at):
    return at.session_state.unroll_phase, at.session_state.unroll_t


def highlighted_step(at):
    return set(figure_trace(at, "current")["x"])  # graph x = step (1-based) for forward nodes


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("arch", U.ARCHITECTURES)
def test_page_runs_for_every_cell_and_architecture_in_both_phases(cell, arch):
    at = run_page(PAGE, query={"unroll_cell": cell, "unroll_arch": arch, "unroll_phase": "backward",
                               "unroll_t": 1})
    no_exceptions(at)
    if arch == "output-to-hidden" and cell != "rnn":
        assert any("vanilla RNN" in info.value for info in at.info)
        assert not plotly_specs(at)
        return
    assert at.subheader[0].value == "Step 1: backward"
    assert any("agree" in s.value for s in at.success)  # the finite-difference check passed
    at.button(key="unroll_first").click().run()
    no_exceptions(at)
    assert position(at) == ("forward", 1) and highlighted_step(at) == {1}


@pytest.mark.parametrize("depth,bidir", [(2, False), (1, True), (3, True)])
def test_deep_and_bidirectional_views_run_and_draw_every_layer(depth, bidir):
    at = run_page(PAGE, query={"unroll_cell": "lstm", "unroll_depth": depth, "unroll_bidir": bidir,
                               "unroll_phase": "backward", "unroll_t": 2})
    no_exceptions(at)
    h_nodes = figure_trace(at, "h")
    assert len(h_nodes["x"]) == 4 * depth * (2 if bidir else 1)  # "hello": T = 4 steps


def test_stepping_forward_T_times_then_back_T_times_returns_to_the_start():
    at = run_page(PAGE)
    T = 4
    assert position(at) == ("forward", 1) and at.button(key="unroll_back").disabled
    seen = []
    for _ in range(T):
        at.button(key="unroll_next").click().run()
        seen.append(position(at))
    assert seen == [("forward", 2), ("forward", 3), ("forward", 4), ("backward", 4)]
    assert at.query_params["unroll_phase"] == "backward" and at.query_params["unroll_t"] == "4"
    for _ in range(T):
        at.button(key="unroll_back").click().run()
    no_exceptions(at)
    assert position(at) == ("forward", 1) and highlighted_step(at) == {1}
    assert at.query_params["unroll_t"] == "1"
    at.button(key="unroll_last").click().run()
    assert position(at) == ("backward", 1) and at.button(key="unroll_next").disabled


def _engine_step(kind, t, seed=0, hidden=3):
    """rnn_core's own step t (1-based) of the page's default network: (cell, x_t, state_{t-1}, cache)."""
    trace = U.unroll(kind, word="hello", hidden_size=hidden, seed=seed)  # for the weights only
    cell, X = trace.model.stack.cells[0][0], trace.X[:, None, :]
    state = None
    for s in range(t):
        new_state, cache = rc.step_forward(cell, X[s], state)
        if s < t - 1:
            state = new_state
    return cell, X[t - 1, 0], state, cache


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_equation_numbers_are_what_rnn_core_computes_for_that_step(kind):
    t = 3
    at = run_page(PAGE, query={"unroll_cell": kind, "unroll_t": t})
    no_exceptions(at)
    cell, x, state, cache = _engine_step(kind, t)
    p, H = cell.params, cell.hidden_size
    h_prev = state[0][0] if kind == "lstm" else state[0]
    for j, gate in enumerate({"rnn": ["h"], "lstm": list("ifgo"), "gru": list("rzn")}[kind]):
        rows = slice(j * H, (j + 1) * H)
        lhs = r"o^{\text{gate}}" if (kind, gate) == ("lstm", "o") else gate  # o_t is the output
        shown = bmatrices(equation(at, f"{lhs}_{{{t}}}"))
        recurrent = p["W_h"][rows] @ (cache.r[0] * h_prev if (kind, gate) == ("gru", "n") else h_prev)
        expected = [p["W_x"][rows] @ x, recurrent, p["b"][rows], getattr(cache, gate)[0]]
        assert len(shown) == 4, gate
        for got, want in zip(shown, expected):
            np.testing.assert_allclose(got, want, rtol=0, atol=SHOWN_TOL, err_msg=gate)
    if kind != "rnn":
        shown_h = bmatrices(equation(at, f"h_{{{t}}}"))[-1]
        np.testing.assert_allclose(shown_h, cache.h[0], rtol=0, atol=SHOWN_TOL)
    o = bmatrices(equation(at, f"o_{{{t}}}"))
    trace = U.unroll(kind, word="hello", hidden_size=3, seed=0)
    want_o = rc.linear_forward(cache.h[0], trace.params["W_y"], trace.params["c"])
    np.testing.assert_allclose(o[0], want_o, rtol=0, atol=SHOWN_TOL)
    np.testing.assert_allclose(o[1], rc.softmax(want_o), rtol=0, atol=SHOWN_TOL)


def _reference_gradients(k1=None, k2=None):
    """rnn_core's BPTT (or truncated BPTT) for the page's default network: RNN, "hello", H = 3."""
    trace = U.unroll("rnn", word="hello", hidden_size=3, seed=0)
    cell, m = trace.model.stack.cells[0][0], trace.model
    Hs, cache = rc.forward(cell, m.X[:, None, :])
    o = rc.linear_forward(Hs[:, 0], m.params["W_y"], m.params["c"])
    _, dO = rc.softmax_cross_entropy(o, m.targets, reduction="sum")
    dHs = (dO @ m.params["W_y"])[:, None, :]
    if k1 is None:
        return rc.backward(cell, dHs, cache)[0]
    return rc.truncated_backward(cell, dHs, cache, k1, k2)[0]


def test_running_sums_at_the_first_step_are_the_engine_gradients_and_truncation_changes_them_as_it_does():
    full = run_page(PAGE, query={"unroll_phase": "backward", "unroll_t": 1})
    truncated = run_page(PAGE, query={"unroll_phase": "backward", "unroll_t": 1, "unroll_trunc": True,
                                      "unroll_k1": 2, "unroll_k2": 2})
    no_exceptions(full)
    no_exceptions(truncated)
    expected_full, expected_truncated = _reference_gradients(), _reference_gradients(2, 2)
    for name in ("W_x", "W_h", "b"):
        shown_full = figure_trace(full, f"sum d{name}")["z"].reshape(expected_full[name].shape)
        shown_trunc = figure_trace(truncated, f"sum d{name}")["z"].reshape(expected_full[name].shape)
        assert rc.relative_error(shown_full, expected_full[name]) < EXACT_TOL, name
        assert rc.relative_error(shown_trunc, expected_truncated[name]) < EXACT_TOL, name
        np.testing.assert_allclose(shown_trunc - shown_full, expected_truncated[name] - expected_full[name],
                                   rtol=0, atol=EXACT_TOL)
    assert rc.relative_error(expected_truncated["W_h"], expected_full["W_h"]) > 1e-2  # a visible change
    assert "truncated vs finite differences" in truncated.table[0].value.columns


def test_truncation_toggle_in_the_page_changes_the_graph_and_the_shown_gradient():
    at = run_page(PAGE, query={"unroll_phase": "backward", "unroll_t": 1})
    before = figure_trace(at, "sum dW_h")["z"]
    at.toggle(key="unroll_trunc").set_value(True).run()
    at.slider(key="unroll_k1").set_value(1).run()
    at.slider(key="unroll_k2").set_value(1).run()
    no_exceptions(at)
    expected = _reference_gradients(1, 1)["W_h"]
    after = figure_trace(at, "sum dW_h")["z"].reshape(expected.shape)
    assert rc.relative_error(after, expected) < EXACT_TOL
    assert rc.relative_error(after, before.reshape(3, 3)) > 1e-2
    assert at.query_params["unroll_k1"] == "1"


def test_deep_link_sets_the_position_and_bad_values_fall_back_quietly():
    at = run_page(PAGE, query={"unroll_t": 3, "unroll_phase": "backward", "unroll_cell": "lstm",
                               "unroll_arch": "many-to-one"})
    no_exceptions(at)
    assert position(at) == ("backward", 3) and at.subheader[0].value == "Step 3: backward"
    assert at.radio(key="unroll_cell").value == "lstm"
    bad = run_page(PAGE, query={"unroll_t": 99, "unroll_phase": "sideways", "unroll_cell": "transformer",
                                "unroll_hidden": 1000})
    no_exceptions(bad)
    assert position(bad) == ("forward", 1) and bad.session_state.unroll_hidden == 3
    too_long = run_page(PAGE, query={"unroll_word": "abcdefghijklmnopqrs"})  # longer than the input allows
    no_exceptions(too_long)
    assert too_long.warning and not plotly_specs(too_long)


def test_a_long_vector_sequence_clamps_the_position_when_the_sequence_gets_shorter():
    at = run_page(PAGE, query={"unroll_source": "vectors", "unroll_length": 8, "unroll_t": 8})
    assert position(at) == ("forward", 8)
    at.slider(key="unroll_length").set_value(3).run()
    no_exceptions(at)
    assert position(at) == ("forward", 3) and highlighted_step(at) == {3}


def test_a_bad_word_gets_a_message_not_an_exception_and_a_good_one_is_used():
    at = run_page(PAGE)
    at.text_input(key="unroll_word").set_value("Hi!").run()
    no_exceptions(at)
    assert at.warning and not plotly_specs(at)
    at.text_input(key="unroll_word").set_value("banana").run()
    no_exceptions(at)
    assert len(figure_trace(at, "x")["x"]) == 5  # T = 5 steps
    assert r"\text{one-hot}(\text{“b”})" in at.latex[0].value


def test_labels_follow_the_selected_notation():
    at = run_page(PAGE, session={"notation": "textbook"})
    no_exceptions(at)
    assert "{U} x_{1}" in equation(at, "h_{1}") and "{W} h_{0}" in equation(at, "h_{1}")
