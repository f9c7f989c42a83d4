"""One time step: finite differences, agreement with the sequence loop, and argument errors."""
import numpy as np
import pytest

import rnn_core as rc
from rnn_core.gradcheck import numerical_gradient, relative_error

from cases import VARIANT_IDS, VARIANTS

# float64 central differences with eps=1e-6 agree with a correct gradient to ~1e-9 (see gradcheck).
FD_TOL = 1e-6


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("B", [1, 3])
def test_step_backward_matches_finite_differences(kind, opts, B):
    rng = np.random.default_rng(B)
    cell = rc.make_cell(kind, 3, 4, seed=2, dtype=np.float64, **opts)
    x = rng.standard_normal((B, 3))
    h = rng.standard_normal((B, 4))
    c = rng.standard_normal((B, 4))
    Rh, Rc = rng.standard_normal((B, 4)), rng.standard_normal((B, 4))
    lstm = kind == "lstm"

    def loss():
        state, _ = rc.step_forward(cell, x, (h, c) if lstm else h)
        return float((Rh * state[0]).sum() + (Rc * state[1]).sum()) if lstm else float((Rh * state).sum())

    _, cache = rc.step_forward(cell, x, (h, c) if lstm else h)
    grads, dx, dstate = rc.step_backward(cell, (Rh, Rc) if lstm else Rh, cache)
    analytic = {**grads, "x": dx, "h": dstate[0] if lstm else dstate}
    arrays = {**cell.params, "x": x, "h": h}
    if lstm:
        analytic["c"], arrays["c"] = dstate[1], c
    for name, value in analytic.items():
        assert relative_error(value, numerical_gradient(loss, arrays[name])) < FD_TOL, name


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
def test_step_forward_equals_sequence_of_length_one(kind, opts):
    rng = np.random.default_rng(0)
    cell = rc.make_cell(kind, 2, 3, seed=0, dtype=np.float64, **opts)
    x = rng.standard_normal((4, 2))
    state, step = rc.step_forward(cell, x)
    Hs, cache = rc.forward(cell, x[None])
    np.testing.assert_array_equal(Hs[0], state[0] if kind == "lstm" else state)
    for a, b in zip(step, cache.steps[0]):
        np.testing.assert_array_equal(a, b)


def test_lstm_dc_none_means_no_cell_gradient():
    cell = rc.make_cell("lstm", 2, 3, seed=0, dtype=np.float64)
    _, cache = rc.step_forward(cell, np.ones((1, 2)))
    g_none = rc.step_backward(cell, (np.ones((1, 3)), None), cache)
    g_zero = rc.step_backward(cell, (np.ones((1, 3)), np.zeros((1, 3))), cache)
    np.testing.assert_array_equal(g_none[1], g_zero[1])


@pytest.mark.parametrize("kind,opts,G", [("rnn", {}, 1), ("lstm", {}, 4), ("gru", {}, 3)])
def test_param_shapes_follow_pytorch(kind, opts, G):
    cell = rc.make_cell(kind, 5, 7, seed=0)
    assert cell.params["W_x"].shape == (G * 7, 5)
    assert cell.params["W_h"].shape == (G * 7, 7)
    assert cell.params["b"].shape == (G * 7,)
    assert all(v.dtype == np.float32 for v in cell.params.values())


def test_gru_reset_after_has_b_hn_only_then():
    assert "b_hn" in rc.make_cell("gru", 2, 3, reset_after=True).params
    assert "b_hn" not in rc.make_cell("gru", 2, 3).params


def test_same_seed_same_weights_different_seed_different():
    a, b, c = (rc.make_cell("lstm", 2, 3, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.params["W_h"], b.params["W_h"])
    assert not np.array_equal(a.params["W_h"], c.params["W_h"])


@pytest.mark.parametrize("args,kwargs,message", [
    (("transformer", 2, 3), {}, "kind must be one of"),
    (("rnn", 0, 3), {}, "input_size must be a positive integer"),
    (("rnn", 2, 2.5), {}, "hidden_size must be a positive integer"),
    (("rnn", 2, 3), {"nonlinearity": "sigmoid"}, "nonlinearity must be one of"),
    (("lstm", 2, 3), {"nonlinearity": "tanh"}, "unknown option"),
    (("gru", 2, 3), {"reset_after": "yes"}, "reset_after must be True or False"),
    (("rnn", 2, 3), {"dtype": np.int32}, "dtype must be float32 or float64"),
])
def test_make_cell_rejects_bad_arguments_with_a_clear_message(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rc.make_cell(*args, **kwargs)


def test_step_forward_rejects_wrong_input_size():
    cell = rc.make_cell("rnn", 3, 2)
    with pytest.raises(ValueError, match=r"x must be \(B, D\) with D=3; got \(4, 2\)"):
        rc.step_forward(cell, np.zeros((4, 2)))
