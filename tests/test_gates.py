"""rnn_core.gates: gate traces read from the engine, the memory path against finite differences
and PyTorch autograd, the bias sweep against separate runs, the two GRU conventions."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import rnn_core as rc
from rnn_core import analysis as A
from rnn_core import gates as G
from rnn_core.interop import to_pytorch

from torch_ref import torch_run

SAME_OPS = 1e-12  # float64, the same engine calls batched or not: rounding only, over <= 100 steps
FD_TOL = 1e-7     # central differences, eps = 1e-6, float64: O(eps^2) truncation + O(1e-10) rounding
TORCH = 1e-10     # float64 against PyTorch autograd over <= 8 steps: different op order, rounding only

GATED = [("lstm", False), ("gru", False), ("gru", True)]
GATED_IDS = ["lstm", "gru-cho", "gru-pytorch"]


def _run(kind, reset_after, H=4, T=6, scale=1.0, bias=1.0, seed=0):
    cell = G.gate_cell(kind, H, gate_bias=bias, reset_after=reset_after, seed=seed)
    X, v = G.gate_inputs(T, H, scale, seed)
    _, cache = rc.forward(cell, X)
    return cell, X, v, cache


# --- the page's network ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind,reset_after", GATED, ids=GATED_IDS)
def test_gate_cell_sets_only_the_memory_gate_bias_of_pytorch_default_weights(kind, reset_after):
    H = 5
    cell = G.gate_cell(kind, H, gate_bias=2.5, reset_after=reset_after, seed=3)
    default = rc.make_cell(kind, H, H, seed=3, dtype=np.float64,
                           **({"reset_after": reset_after} if kind == "gru" else {}))
    assert cell.params.keys() == default.params.keys() and cell.options == default.options
    for name in cell.params:
        if name != "b":
            np.testing.assert_array_equal(cell.params[name], default.params[name])
    b, b0 = cell.params["b"], default.params["b"]
    np.testing.assert_array_equal(b[H:2 * H], 2.5)                      # f (LSTM) or z (GRU)
    np.testing.assert_array_equal(np.delete(b, np.s_[H:2 * H]), np.delete(b0, np.s_[H:2 * H]))


def test_gate_inputs_draw_inputs_and_loss_direction_from_their_own_streams():
    X, v = G.gate_inputs(7, 4, 2.0, seed=5)
    assert X.shape == (7, 1, 4) and v.shape == (4,)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-15)
    weights = np.random.default_rng(5).standard_normal((7, 1, 4))
    assert not np.allclose(X, 2.0 * weights)                             # not the weights' stream
    np.testing.assert_array_equal(G.gate_inputs(7, 4, 0.0, seed=5)[0], 0.0)


@pytest.mark.parametrize("call, message", [
    (lambda: G.gate_cell("lstm", 0), "H must be an integer >= 1"),
    (lambda: G.gate_cell("lstm", 4, gate_bias=float("nan")), "gate_bias must be a finite number"),
    (lambda: G.gate_view("rnn", 4, 10, 1.0), "kind must be 'lstm' or 'gru'"),
    (lambda: G.bias_sweep("lstm", 4, 10, 1.0, 1.0, lag=0), "lag must be an integer >= 1"),
    (lambda: G.bias_sweep("lstm", 4, 10, 1.0, float("inf")), "gate_bias must be a finite number"),
    (lambda: G.gate_inputs(0, 4, 1.0), "T must be a positive integer"),
    (lambda: G.reset_after_twin(G.gate_cell("gru", 4, reset_after=True)), "reset_after=False"),
])
def test_bad_arguments_are_refused_with_a_message_naming_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- gate traces ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,reset_after", GATED, ids=GATED_IDS)
def test_gate_trace_holds_the_values_of_the_engines_step_forward(kind, reset_after):
    cell, X, _, cache = _run(kind, reset_after, H=3, T=5)
    trace = G.gate_trace(cell, cache)
    G_ = cell.gates
    assert trace.names == G.GATE_NAMES[kind] and trace.gates.shape == (G_, 5, 3)
    state = None
    for t in range(5):
        # The sequence projects all inputs in one product, step_forward one at a time: the same
        # sums in a different BLAS order: agreement to rounding of O(1) sums (atol 1e-15), not bit for bit.
        state, step = rc.step_forward(cell, X[t], state)
        for j, name in enumerate(trace.names):
            np.testing.assert_allclose(trace.gates[j, t], getattr(step, name)[0], rtol=1e-14, atol=1e-15)
            np.testing.assert_array_equal(trace.gates[j, t], getattr(cache.steps[t], name)[0])
        np.testing.assert_allclose(trace.h[t], step.h[0], rtol=1e-14, atol=1e-15)
        if kind == "lstm":
            np.testing.assert_allclose(trace.c[t], step.c[0], rtol=1e-14, atol=1e-15)
    assert (trace.c is None) == (kind == "gru")


@pytest.mark.parametrize("kind,reset_after", GATED, ids=GATED_IDS)
def test_memory_gate_products_multiply_f_or_z_from_step_k_plus_one_to_T(kind, reset_after):
    cell, _, _, cache = _run(kind, reset_after, H=3, T=6)
    trace = G.gate_trace(cell, cache)
    gate = trace.gates[trace.names.index(G.MEMORY_GATE[kind])]          # (T, H)
    products = G.memory_gate_products(trace, cache)
    assert products.shape == (7, 3)
    for k in range(7):
        np.testing.assert_allclose(products[k], np.prod(gate[k:], axis=0), rtol=1e-15)
    if kind == "lstm":
        np.testing.assert_array_equal(products, A.forget_gate_products(cache))


# --- the memory path --------------------------------------------------------------------------------

def _state_at(cache, k, H):
    """(h_k, c_k) of the forward pass; zeros for k = 0."""
    if k == 0:
        return np.zeros((1, H)), np.zeros((1, H))
    step = cache.steps[k - 1]
    return step.h, getattr(step, "c", None)


@pytest.mark.parametrize("kind,reset_after", GATED, ids=GATED_IDS)
def test_memory_path_measured_gradient_equals_finite_differences(kind, reset_after):
    H, T = 4, 6
    cell, X, v, cache = _run(kind, reset_after, H, T, scale=1.5, bias=0.5, seed=2)
    path = G.memory_path(cell, cache, v)
    lstm = kind == "lstm"
    np.testing.assert_array_equal(path.lags, np.arange(1, T + 1) if lstm else np.arange(T + 1))
    for lag in path.lags[1:]:          # lag 0 of the GRU is ||v|| = 1, checked below
        k = T - lag
        h_k, c_k = _state_at(cache, k, H)
        memory = (c_k if lstm else h_k).copy()

        def loss():                    # L_T from step k on; for the LSTM only c_k varies, h_k fixed
            Hs, _ = rc.forward(cell, X[k:], (h_k, memory) if lstm else memory)
            return float(Hs[-1, 0] @ v)

        numeric = rc.numerical_gradient(loss, memory)
        assert path.measured[list(path.lags).index(lag)] == pytest.approx(np.linalg.norm(numeric), rel=FD_TOL)
    if not lstm:
        assert path.measured[0] == path.direct[0] == pytest.approx(1.0, abs=1e-15)


def _torch_cell(cell):
    """nn.LSTMCell or nn.GRUCell (reset after, PyTorch's own) in float64 with the cell's weights."""
    module = (torch.nn.LSTMCell if cell.kind == "lstm" else torch.nn.GRUCell)(cell.input_size, cell.hidden_size)
    module = module.double()
    with torch.no_grad():
        for name, value in to_pytorch(cell, suffix="").items():
            getattr(module, name).copy_(torch.from_numpy(value))
    return module


@pytest.mark.parametrize("kind,reset_after", [("lstm", False), ("gru", True)], ids=["lstm", "gru-pytorch"])
def test_memory_path_measured_gradient_equals_pytorch_autograd(kind, reset_after):
    H, T = 5, 8
    cell, X, v, cache = _run(kind, reset_after, H, T, scale=1.2, bias=1.5, seed=4)
    module, x = _torch_cell(cell), torch.from_numpy(X[:, 0])
    h = torch.zeros(1, H, dtype=torch.float64, requires_grad=True)
    c = torch.zeros(1, H, dtype=torch.float64, requires_grad=True)
    memory = [c if kind == "lstm" else h]           # the tensor each step reads as the old state
    for t in range(T):
        if kind == "lstm":
            h, c = module(x[t:t + 1], (h, memory[-1]))
            memory.append(c.clone())                # a copy: its gradient is what arrives along c only
        else:
            h = module(x[t:t + 1], memory[-1])
            memory.append(h)
        memory[-1].retain_grad()
    (h[0] @ torch.from_numpy(v)).backward()
    path = G.memory_path(cell, cache, v)
    for k in range(T):                               # lag T - k
        expected = memory[k].grad.norm().item()
        assert path.measured[list(path.lags).index(T - k)] == pytest.approx(expected, rel=TORCH)


@settings(max_examples=30, deadline=None)  # each example: one forward and backward of T <= 30, H <= 6
@given(variant=st.sampled_from(GATED), H=st.integers(1, 6), T=st.integers(1, 30),
       scale=st.floats(0.0, 3.0), bias=st.floats(0.0, 5.0), seed=st.integers(0, 1000))
def test_direct_path_is_the_whole_gradient_when_W_h_is_zero(variant, H, T, scale, bias, seed):
    kind, reset_after = variant
    cell = G.gate_cell(kind, H, gate_bias=bias, reset_after=reset_after, seed=seed)
    cell.params["W_h"] = np.zeros_like(cell.params["W_h"])   # no path through h: only the memory path
    X, v = G.gate_inputs(T, H, scale, seed)
    _, cache = rc.forward(cell, X)
    path = G.memory_path(cell, cache, v)
    assert path.lags.size == path.measured.size == path.direct.size == (T if kind == "lstm" else T + 1)
    assert np.all(np.diff(path.lags) == 1)
    np.testing.assert_allclose(path.measured, path.direct, rtol=SAME_OPS, atol=1e-300)


def test_memory_path_with_weights_has_paths_beyond_the_direct_one():
    path = G.gate_view("lstm", 8, 60, 1.0, gate_bias=0.0, seed=0).path
    # With b_f = 0 the forget gates halve the cell path at every step, and the gradient arriving
    # through h and the gates dominates: the measured norm lies far above the direct one.
    assert path.measured[-1] > 100 * path.direct[-1]
    assert path.mean_gate == pytest.approx(0.5, abs=0.05)


# --- the bias sweep ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,reset_after", GATED, ids=GATED_IDS)
def test_bias_sweep_rows_equal_separate_runs_of_each_bias(kind, reset_after):
    H, T, lag = 6, 40, 25
    sweep = G.bias_sweep(kind, H, T, 1.0, 1.3, seed=7, lag=lag, reset_after=reset_after,
                         grid=[0.0, 2.0, 4.0])
    np.testing.assert_array_equal(sweep.biases, [0.0, 1.3, 2.0, 4.0])
    assert sweep.current == 1 and sweep.lag == lag
    X, v = G.gate_inputs(T, H, 1.0, seed=7)
    for i, bias in enumerate(sweep.biases):
        view = G.gate_view(kind, H, T, 1.0, bias, seed=7, reset_after=reset_after)
        cell = G.gate_cell(kind, H, gate_bias=bias, reset_after=reset_after, seed=7)
        profile = A.cell_profile(cell, X, v).dh
        assert sweep.mean_gate[i] == pytest.approx(view.path.mean_gate, rel=SAME_OPS)
        assert sweep.ratio[i] == pytest.approx(profile[lag] / profile[0], rel=SAME_OPS)


def test_bias_sweep_keeps_a_requested_bias_on_the_grid_once_and_clips_the_lag_to_T():
    sweep = G.bias_sweep("lstm", 4, 20, 1.0, 2.0, lag=50)
    np.testing.assert_array_equal(sweep.biases, G.BIAS_GRID)
    assert sweep.biases[sweep.current] == 2.0 and sweep.lag == 20


def test_raising_the_forget_bias_opens_the_gate_and_lets_the_gradient_reach_far_back():
    sweep = G.bias_sweep("lstm", 8, 200, 1.0, 1.0, seed=0)
    assert np.all(np.diff(sweep.mean_gate) > 0)
    assert sweep.mean_gate[0] == pytest.approx(0.5, abs=0.05) and sweep.mean_gate[-1] > 0.98
    # 50 steps back: from about 0.5^50 with b_f = 0 to a few percent with b_f = 5.
    assert sweep.ratio[0] < 1e-9 and sweep.ratio[-1] > 1e-3


# --- the two GRU conventions ------------------------------------------------------------------------

def test_reset_after_twin_shares_every_weight_and_has_zero_b_hn():
    cell = G.gate_cell("gru", 5, seed=1)
    twin = G.reset_after_twin(cell)
    assert twin.options == {"reset_after": True} and set(twin.params) == set(cell.params) | {"b_hn"}
    for name, value in cell.params.items():
        np.testing.assert_array_equal(twin.params[name], value)
        assert twin.params[name] is not value
    np.testing.assert_array_equal(twin.params["b_hn"], 0.0)


def test_reset_after_twin_is_pytorchs_gru():
    cell = G.gate_cell("gru", 4, gate_bias=0.7, seed=2)
    X, _ = G.gate_inputs(9, 4, 1.5, seed=2)
    Hs, _ = rc.forward(G.reset_after_twin(cell), X)
    np.testing.assert_allclose(Hs, torch_run(G.reset_after_twin(cell), X)[0], rtol=TORCH, atol=1e-15)


def test_conventions_agree_at_the_first_step_and_differ_after_it():
    conv = G.gru_conventions(6, 30, 1.0, gate_bias=1.0, seed=3)
    assert conv.first_step == 2                      # h_0 = 0 and b_hn = 0: equal at t = 1
    np.testing.assert_array_equal(conv.dn[0], 0.0)
    n = conv.before.names.index("n")
    np.testing.assert_array_equal(conv.dn, conv.after.gates[n] - conv.before.gates[n])
    np.testing.assert_array_equal(conv.dh, conv.after.h - conv.before.h)
    assert conv.max_dn == np.abs(conv.dn).max() > 1e-3 and conv.max_dh == np.abs(conv.dh).max() > 0


def test_conventions_coincide_when_the_reset_gate_is_fully_open():
    cell = G.gate_cell("gru", 5, seed=4)
    cell.params["b"][:5] = 100.0                     # r = sigmoid(100 + ...) rounds to exactly 1
    X, _ = G.gate_inputs(20, 5, 1.0, seed=4)
    conv = G.compare_conventions(cell, X)
    assert np.all(conv.before.gates[0] == 1.0)
    # W (1 * h) against 1 * (W h): the same products, computed as a block or with the r and z
    # blocks: rounding only.
    assert conv.max_dn < 1e-14 and conv.max_dh < 1e-14


# --- RNN, LSTM and GRU on the same inputs -----------------------------------------------------------

@pytest.mark.parametrize("reset_after", [False, True])
def test_compare_kinds_runs_three_cells_on_identical_inputs_with_engine_profiles(reset_after):
    H, T = 5, 30
    runs = G.compare_kinds(H, T, 1.0, gate_bias=2.0, seed=6, reset_after=reset_after)
    assert [r.kind for r in runs] == ["rnn", "lstm", "gru"]
    X, v = G.gate_inputs(T, H, 1.0, seed=6)
    for run in runs:
        cell = G.gate_cell(run.kind, H, gate_bias=2.0, reset_after=reset_after, seed=6)
        np.testing.assert_array_equal(run.h, rc.forward(cell, X)[0][:, 0])
        expected = A.cell_profile(cell, X, v)
        np.testing.assert_array_equal(run.profile.dh, expected.dh)
    assert runs[2].h.shape == (T, H) and runs[1].profile.dc is not None
