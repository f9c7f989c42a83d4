"""Sequences: BPTT against finite differences and PyTorch autograd, truncation, errors, properties."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import rnn_core as rc

from cases import VARIANT_IDS, VARIANTS
from torch_ref import torch_run

FD_TOL = 1e-6       # float64 central differences (see rnn_core.gradcheck)
TORCH_TOL = 1e-9    # float64 against autograd: only rounding differs (observed ~1e-15)


def _state0(kind, rng, B, H):
    h = rng.standard_normal((B, H))
    return (h, rng.standard_normal((B, H))) if kind == "lstm" else h


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("T,B,given_state", [(1, 1, False), (1, 3, True), (5, 1, True), (4, 2, False)])
def test_backward_matches_finite_differences(kind, opts, T, B, given_state):
    rng = np.random.default_rng(T * 10 + B)
    cell = rc.make_cell(kind, 3, 4, seed=1, dtype=np.float64, **opts)
    X = rng.standard_normal((T, B, 3))
    state0 = _state0(kind, rng, B, 4) if given_state else None
    errors = rc.check_cell(cell, X, state0)
    assert set(errors) >= set(cell.params) | {"X", "h0"}
    assert max(errors.values()) < FD_TOL, errors


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("T,B", [(1, 1), (6, 3)])
def test_forward_and_backward_match_torch_float64(kind, opts, T, B):
    rng = np.random.default_rng(T + B)
    cell = rc.make_cell(kind, 3, 5, seed=3, dtype=np.float64, **opts)
    X = rng.standard_normal((T, B, 3))
    state0 = _state0(kind, rng, B, 5)
    dHs = rng.standard_normal((T, B, 5))
    dc_T = rng.standard_normal((B, 5)) if kind == "lstm" else None

    Hs, cache = rc.forward(cell, X, state0)
    dstate_T = (np.zeros((B, 5)), dc_T) if kind == "lstm" else None
    grads, dX, dstate0 = rc.backward(cell, dHs, cache, dstate_T=dstate_T)
    Hs_t, grads_t, dX_t, dstate0_t = torch_run(cell, X, state0, dHs, dc_T)

    assert rc.relative_error(Hs, Hs_t) < TORCH_TOL
    for name in cell.params:
        assert rc.relative_error(grads[name], grads_t[name]) < TORCH_TOL, name
    assert rc.relative_error(dX, dX_t) < TORCH_TOL
    for mine, theirs in zip(np.atleast_3d(dstate0) if kind != "lstm" else dstate0,
                            np.atleast_3d(dstate0_t) if kind != "lstm" else dstate0_t):
        assert rc.relative_error(mine, theirs) < TORCH_TOL


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
def test_float32_agrees_with_float64(kind, opts):
    rng = np.random.default_rng(0)
    c64 = rc.make_cell(kind, 3, 8, seed=0, dtype=np.float64, **opts)
    c32 = rc.make_cell(kind, 3, 8, seed=0, dtype=np.float32, **opts)
    c32.params = {k: v.astype(np.float32) for k, v in c64.params.items()}
    X, dHs = rng.standard_normal((10, 4, 3)), rng.standard_normal((10, 4, 8))
    H64, k64 = rc.forward(c64, X)
    H32, k32 = rc.forward(c32, X)
    assert H32.dtype == np.float32
    # float32 carries ~7 digits; ten steps of rounding stay well inside 1e-5.
    assert rc.relative_error(H32, H64) < 1e-5
    g64, g32 = rc.backward(c64, dHs, k64)[0], rc.backward(c32, dHs, k32)[0]
    for name in g64:
        assert g32[name].dtype == np.float32
        assert rc.relative_error(g32[name], g64[name]) < 1e-5, name


# --- truncated BPTT -------------------------------------------------------------------------

def test_truncation_windows_are_the_k1_k2_schedule():
    assert rc.truncation_windows(7, 3, 3) == [(0, 0, 3), (3, 3, 6), (4, 6, 7)]
    assert rc.truncation_windows(7, 2, 4) == [(0, 0, 2), (0, 2, 4), (2, 4, 6), (3, 6, 7)]
    assert rc.truncation_windows(5, 5, 5) == [(0, 0, 5)]


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("k1", [1, 3, 8])
def test_truncated_equals_full_when_k2_reaches_the_start(kind, opts, k1):
    rng = np.random.default_rng(k1)
    cell = rc.make_cell(kind, 2, 3, seed=0, dtype=np.float64, **opts)
    X, dHs = rng.standard_normal((8, 2, 2)), rng.standard_normal((8, 2, 3))
    _, cache = rc.forward(cell, X)
    full = rc.backward(cell, dHs, cache)
    trunc = rc.truncated_backward(cell, dHs, cache, k1=k1, k2=8)
    for name in full[0]:
        np.testing.assert_allclose(trunc[0][name], full[0][name], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(trunc[1], full[1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
def test_truncated_k_k_equals_torch_with_the_state_detached_between_chunks(kind, opts):
    """TBPTT(k, k), k dividing T, is what a training loop does with h.detach() between chunks."""
    rng = np.random.default_rng(5)
    T, B, k = 6, 2, 3
    cell = rc.make_cell(kind, 2, 3, seed=0, dtype=np.float64, **opts)
    X, dHs = rng.standard_normal((T, B, 2)), rng.standard_normal((T, B, 3))
    _, cache = rc.forward(cell, X)
    grads, _, _ = rc.truncated_backward(cell, dHs, cache, k1=k, k2=k)

    expected = {name: np.zeros_like(v) for name, v in cell.params.items()}
    state = None
    for start in range(0, T, k):
        chunk = slice(start, min(start + k, T))
        _, g, _, _ = torch_run(cell, X[chunk], state, dHs[chunk])
        expected = {n: expected[n] + g[n] for n in expected}
        _, chunk_cache = rc.forward(cell, X[chunk], state)
        state = rc.final_state(cell, chunk_cache)  # carried forward, no gradient back
    for name in grads:
        assert rc.relative_error(grads[name], expected[name]) < TORCH_TOL, name


def test_truncation_drops_the_long_range_terms():
    rng = np.random.default_rng(0)
    cell = rc.make_cell("rnn", 2, 3, seed=0, dtype=np.float64)
    X, dHs = rng.standard_normal((9, 1, 2)), np.zeros((9, 1, 3))
    dHs[-1] = 1.0  # a loss at the last step only
    _, cache = rc.forward(cell, X)
    _, dX, dh0 = rc.truncated_backward(cell, dHs, cache, k1=3, k2=3)
    assert np.all(dX[:6] == 0) and np.all(dh0 == 0)  # nothing flows past the window
    assert np.any(dX[6:] != 0)


# --- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("X,message", [
    (np.zeros((2, 3)), r"X must be \(T, B, D\) with D=2; got \(2, 3\)"),
    (np.zeros((2, 1, 3)), r"X must be \(T, B, D\) with D=2; got \(2, 1, 3\)"),
    (np.zeros((0, 1, 2)), "T >= 1"),
    (np.zeros((2, 0, 2)), "B >= 1"),
    (np.full((2, 1, 2), np.nan), "NaN or inf"),
    ("abc", "numeric array"),
])
def test_forward_rejects_bad_input(X, message):
    with pytest.raises(ValueError, match=message):
        rc.forward(rc.make_cell("rnn", 2, 3), X)


def test_forward_rejects_bad_states():
    X = np.zeros((2, 1, 2))
    with pytest.raises(ValueError, match=r"state0 must be \(B, H\) = \(1, 3\)"):
        rc.forward(rc.make_cell("gru", 2, 3), X, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="pair"):
        rc.forward(rc.make_cell("lstm", 2, 3), X, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="not a pair"):
        rc.forward(rc.make_cell("rnn", 2, 3), X, (np.zeros((1, 3)), np.zeros((1, 3))))


def test_backward_rejects_wrong_gradient_shape_and_truncation_sizes():
    cell = rc.make_cell("rnn", 2, 3)
    _, cache = rc.forward(cell, np.zeros((4, 1, 2)))
    with pytest.raises(ValueError, match=r"dHs must be \(T, B, H\) = \(4, 1, 3\)"):
        rc.backward(cell, np.zeros((4, 3)), cache)
    with pytest.raises(ValueError, match="k1 must be a positive integer"):
        rc.truncated_backward(cell, np.zeros((4, 1, 3)), cache, k1=0, k2=2)


# --- properties -----------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(variant=st.sampled_from(VARIANTS), T=st.integers(1, 6), B=st.integers(1, 4),
       D=st.integers(1, 5), H=st.integers(1, 6), f64=st.booleans(), seed=st.integers(0, 2**16))
def test_shapes_and_dtypes_and_inputs_untouched(variant, T, B, D, H, f64, seed):
    kind, opts = variant
    dtype = np.float64 if f64 else np.float32
    rng = np.random.default_rng(seed)
    cell = rc.make_cell(kind, D, H, seed=seed, dtype=dtype, **opts)
    before = {k: v.copy() for k, v in cell.params.items()}
    X, dHs = rng.standard_normal((T, B, D)), rng.standard_normal((T, B, H))
    X_copy, dHs_copy = X.copy(), dHs.copy()
    Hs, cache = rc.forward(cell, X)
    grads, dX, dstate0 = rc.backward(cell, dHs, cache)
    assert Hs.shape == (T, B, H) and Hs.dtype == dtype
    assert dX.shape == (T, B, D) and dX.dtype == dtype
    for h0 in (dstate0 if kind == "lstm" else (dstate0,)):
        assert h0.shape == (B, H) and h0.dtype == dtype
    assert grads.keys() == cell.params.keys()
    for name, g in grads.items():
        assert g.shape == cell.params[name].shape and g.dtype == dtype
        np.testing.assert_array_equal(cell.params[name], before[name])
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(dHs, dHs_copy)
