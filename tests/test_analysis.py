"""Gradient-flow analysis: measured per-lag norms against theory, the engine and finite differences."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import rnn_core as rc
from rnn_core import analysis as A
from rnn_core import init
from rnn_core.sequence import backward_projected

from cases import VARIANT_IDS, VARIANTS

EXACT = 1e-10    # float64, products of ~100 orthogonal factors: rounding grows ~T * 1e-16
SAME_OPS = 1e-13  # the same engine calls in the same order, batched or not: rounding only
FD_TOL = 1e-7    # central differences, eps = 1e-6, float64: O(eps^2) truncation + O(1e-10) rounding


def _cell(kind, opts, D=3, H=5, seed=0):
    return rc.make_cell(kind, D, H, seed=seed, dtype=np.float64, **opts)


def _inputs(T, D, seed=1, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal((T, 1, D))


@pytest.mark.parametrize("rho", [0.5, 1.0, 1.3])
def test_linear_rnn_with_scaled_orthogonal_W_h_has_per_lag_norm_rho_to_the_lag(rho):
    H, T = 16, 80
    W_h = init.orthogonal(H, np.random.default_rng(3), gain=rho)
    cell = A.probe_cell(W_h, "linear")
    v = 2.5 * A.unit_vector(H, seed=4)  # ||v|| = 2.5
    flow = A.gradient_flow(cell, _inputs(T, H), v)
    lags = np.arange(T + 1)
    np.testing.assert_allclose(A.lag_profile(flow), 2.5 * rho ** lags, rtol=EXACT, atol=0)
    # Every loss step, not only the last: ||dL_t/dh_k|| = ||v|| rho^(t - k).
    t, k = np.meshgrid(np.arange(1, T + 1), np.arange(T + 1), indexing="ij")
    expected = np.where(k <= t, 2.5 * rho ** (t - k).astype(float), np.nan)
    np.testing.assert_allclose(flow.norms, expected, rtol=EXACT, atol=0)


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
def test_state_gradients_equal_engine_backward_stopped_at_every_step(kind, opts):
    T, D, H = 7, 3, 5
    cell, X = _cell(kind, opts), _inputs(T, D)
    _, cache = rc.forward(cell, X)
    v = A.unit_vector(H, seed=2)
    measured = A.state_gradients(cell, cache, v)
    dHs = np.zeros((T, 1, H))
    dHs[-1] = v
    for k in range(T):
        *_, dstate_k = backward_projected(cell, dHs, cache, start=k)  # dL/d(state entering step k)
        dh_k = dstate_k[0] if kind == "lstm" else dstate_k
        np.testing.assert_allclose(measured.dh[k], dh_k, rtol=SAME_OPS, atol=1e-300)
        if kind == "lstm":
            np.testing.assert_allclose(measured.dc[k], dstate_k[1], rtol=SAME_OPS, atol=1e-300)
    np.testing.assert_array_equal(measured.dh[T], v[None])


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
def test_batched_heatmap_rows_equal_one_loss_at_a_time(kind, opts):
    T, D, H = 6, 3, 5
    cell, X = _cell(kind, opts), _inputs(T, D)
    v = A.unit_vector(H, seed=5)
    flow = A.gradient_flow(cell, X, v)
    _, cache = rc.forward(cell, X)
    for t in range(1, T + 1):
        single = np.linalg.norm(A.state_gradients(cell, cache, v, t).dh[:, 0], axis=1)  # (t + 1,)
        np.testing.assert_allclose(flow.norms[t - 1, :t + 1], single, rtol=SAME_OPS)
        assert np.isnan(flow.norms[t - 1, t + 1:]).all()


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
def test_jacobian_products_equal_finite_differences(kind, opts):
    T, D, H, t = 5, 3, 4, 5
    cell = _cell(kind, opts, D, H, seed=2)
    X = _inputs(T, D, seed=3)
    state0 = np.random.default_rng(6).standard_normal((1, H))
    c0 = np.random.default_rng(7).standard_normal((1, H)) if kind == "lstm" else None
    _, cache = rc.forward(cell, X, (state0, c0) if kind == "lstm" else state0)
    J = A.jacobian_products(cell, cache, t)                    # (t + 1, H, H)
    assert J.shape == (t + 1, H, H)
    np.testing.assert_array_equal(J[t], np.eye(H))
    eps = 1e-6
    for k in range(t):
        h_k = state0 if k == 0 else cache.steps[k - 1].h
        c_k = (c0 if k == 0 else cache.steps[k - 1].c) if kind == "lstm" else None

        def h_t_from(h):
            Hs, _ = rc.forward(cell, X[k:t], (h, c_k) if kind == "lstm" else h)
            return Hs[-1, 0]

        numeric = np.empty((H, H))
        for j in range(H):
            bump = np.zeros((1, H))
            bump[0, j] = eps
            numeric[:, j] = (h_t_from(h_k + bump) - h_t_from(h_k - bump)) / (2 * eps)
        assert rc.relative_error(J[k], numeric) < FD_TOL, k


def test_spectral_norms_are_largest_singular_values_and_keep_inf():
    M = np.random.default_rng(0).standard_normal((3, 4, 4))
    M[1, 0, 0] = np.inf
    norms = A.spectral_norms(M)
    assert norms[1] == np.inf
    for i in (0, 2):
        assert norms[i] == pytest.approx(np.linalg.norm(M[i], 2), rel=1e-14)


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
def test_dW_h_parts_sum_to_engine_gradient_and_their_norms_are_measured(kind, opts):
    T, D, H = 6, 3, 4
    cell, X = _cell(kind, opts, D, H), _inputs(T, D)
    v = A.unit_vector(H, seed=8)
    _, cache = rc.forward(cell, X)
    parts = A.dW_h_contributions(cell, cache, v)               # (T, G*H, H)
    dHs = np.zeros((T, 1, H))
    dHs[-1] = v
    grads, _, _ = rc.backward(cell, dHs, cache)
    np.testing.assert_allclose(parts.sum(axis=0), grads["W_h"], rtol=SAME_OPS * 10, atol=1e-15)
    flow = A.gradient_flow(cell, X, v)
    np.testing.assert_allclose(flow.dW_h_norms[-1], np.linalg.norm(parts, axis=(1, 2)), rtol=1e-12)


def test_share_by_distance_adds_to_one_and_weights_by_lag():
    T, H = 30, 8
    cell = A.probe_cell(A.recurrent_matrix("orthogonal", H, 0.8, seed=1), "tanh")
    X = _inputs(T, H, scale=0.5)
    v = A.unit_vector(H)
    flow = A.gradient_flow(cell, X, v)
    for last_only in (False, True):
        share = A.share_by_distance(flow, last_only)
        assert share.shape == (T,)
        assert share.sum() == pytest.approx(1.0, abs=1e-12)
    # Last loss only: the share at distance d is the norm of step T - d's part over all parts.
    _, cache = rc.forward(cell, X)
    parts = np.linalg.norm(A.dW_h_contributions(cell, cache, v), axis=(1, 2))[::-1]
    np.testing.assert_allclose(A.share_by_distance(flow, True), parts / parts.sum(), rtol=1e-12)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu", "linear"])
def test_activation_factors_are_the_derivative_at_the_pre_activation(nonlinearity):
    H, T = 6, 9
    cell = A.probe_cell(A.recurrent_matrix("gaussian", H, 1.2, seed=0), nonlinearity)
    _, cache = rc.forward(cell, _inputs(T, H, scale=2.0))
    a = np.concatenate([s.a for s in cache.steps])            # (T, H)
    expected = {"tanh": 1 - np.tanh(a) ** 2, "relu": (a > 0).astype(float),
                "linear": np.ones_like(a)}[nonlinearity]
    np.testing.assert_allclose(A.activation_factors(cell, cache), expected, rtol=1e-12, atol=1e-15)


@settings(max_examples=30, deadline=None)  # each example: one T=40, H<=8 batched backward
@given(seed=st.integers(0, 10_000), rho=st.floats(0.2, 2.0),
       nonlinearity=st.sampled_from(["tanh", "relu", "linear"]),
       construction=st.sampled_from(["gaussian", "orthogonal"]), H=st.integers(2, 8))
def test_measured_norms_never_exceed_pascanu_singular_value_bound(seed, rho, nonlinearity,
                                                                 construction, H):
    W_h = A.recurrent_matrix(construction, H, rho, seed=seed)
    cell = A.probe_cell(W_h, nonlinearity)
    flow = A.gradient_flow(cell, _inputs(40, H, seed=seed), A.unit_vector(H, seed))
    spec = init.spectrum(W_h)
    curves = A.theory_curves(spec, np.arange(41), gamma=A.GAMMA[nonlinearity])
    assert np.all(A.lag_profile(flow) <= curves.sigma_bound * (1 + 1e-10))


@pytest.mark.parametrize("construction", ["gaussian", "orthogonal", "identity"])
@pytest.mark.parametrize("rho", [0.3, 1.7])
def test_recurrent_matrix_has_requested_spectral_radius(construction, rho):
    W = A.recurrent_matrix(construction, 12, rho, seed=2)
    assert W.shape == (12, 12) and W.dtype == np.float64
    assert init.spectrum(W).spectral_radius == pytest.approx(rho, rel=1e-12)


@pytest.mark.parametrize("skew", [1.0, 5.0])
def test_placed_eigenvalues_give_a_real_matrix_with_exactly_that_spectrum(skew):
    pairs, reals = [(0.95, 0.3), (1.2, 2.0), (0.5, 1.0)], [-0.8, 0.4]
    H = 10
    W = A.recurrent_matrix("eigenvalues", H, seed=1, pairs=pairs, reals=reals, skew=skew)
    assert np.isrealobj(W) and W.shape == (H, H)
    requested = np.concatenate([init.eigenvalues_from_polar(pairs, reals), np.zeros(H - 8)])
    computed = list(np.linalg.eigvals(W))
    # Pair each requested value with its nearest computed one: with cond(P) <= 5 the eigenvalues
    # are recovered to ~1e-14 of the spectral radius.
    for z in requested:
        i = int(np.argmin([abs(z - w) for w in computed]))
        assert abs(z - computed.pop(i)) < 1e-10
    spec = init.spectrum(W)
    if skew == 1.0:  # orthogonal eigenvectors: normal, singular values are the magnitudes
        np.testing.assert_allclose(spec.singular_values, np.sort(np.abs(requested))[::-1], atol=1e-12)
    else:
        assert spec.max_singular_value > spec.spectral_radius * 1.05


def test_placing_more_eigenvalues_than_H_is_refused():
    with pytest.raises(ValueError, match="at most H"):
        A.recurrent_matrix("eigenvalues", 3, pairs=[(0.5, 1.0), (0.5, 2.0)])


def test_non_normal_matrix_grows_the_gradient_before_it_vanishes():
    H, T = 32, 120
    W = A.non_normal_matrix(H, rho=0.9, shear=3.0, seed=0)
    spec = init.spectrum(W)
    # A rotated 2x2 Jordan-like block: eigenvalues recovered to ~sqrt(1e-16 * 3) ~ 2e-8.
    assert np.max(np.abs(spec.eigenvalues - 0.9)) < 1e-6
    assert spec.max_singular_value > 3
    profile = A.lag_profile(A.gradient_flow(A.probe_cell(W, "linear"), _inputs(T, H), A.unit_vector(H)))
    J = A.jacobian_products(A.probe_cell(W, "linear"), rc.forward(A.probe_cell(W, "linear"),
                                                                _inputs(T, H))[1])
    worst = A.spectral_norms(J)[::-1]                         # ||W^lag||_2, by lag
    assert worst[10] > 10 * worst[0]                          # grows tenfold first ...
    assert worst[120] < 1e-2 and profile[120] < 1e-2          # ... then vanishes (rho < 1)


def test_pascanu_conditions_follow_the_paper():
    normal = init.spectrum(np.diag([0.9, 0.5]))
    sheared = init.spectrum(np.array([[0.9, 2.0], [0.0, 0.5]]))
    explode = init.spectrum(np.diag([1.3, 0.5]))
    assert A.pascanu_conditions(normal, "tanh").vanishing_sufficient
    assert not A.pascanu_conditions(sheared, "tanh").vanishing_sufficient  # sigma_max > 1
    assert A.pascanu_conditions(sheared, "tanh").exploding_possible
    assert A.pascanu_conditions(sheared, "linear").vanishing_sufficient   # rho = 0.9 < 1
    lin = A.pascanu_conditions(explode, "linear")
    assert lin.exploding_possible and not lin.vanishing_sufficient
    with pytest.raises(ValueError, match="nonlinearity"):
        A.pascanu_conditions(normal, "sigmoid")


def test_theory_curves_overflow_to_inf_without_warning():
    spec = init.spectrum(np.diag([10.0, 0.1]))
    with np.errstate(all="raise"):
        curves = A.theory_curves(spec, np.arange(400))
    assert curves.rho_line[1] == 10.0 and curves.rho_line[-1] == np.inf


def test_exploding_past_float_range_gives_inf_and_an_exploding_verdict():
    H, T = 4, 1100  # 2^1100 > 1.8e308
    cell = A.probe_cell(A.recurrent_matrix("orthogonal", H, 2.0), "linear")
    flow = A.gradient_flow(cell, np.zeros((T, 1, H)), A.unit_vector(H))
    profile = A.lag_profile(flow)
    assert np.isinf(profile[-1]) and np.isfinite(profile[1000])
    ratio = A.gradient_ratio(profile, lag=1050)
    assert ratio.ratio == np.inf and ratio.verdict == "exploding"


def test_gradient_ratio_verdicts_and_lag_clipped_to_T():
    assert A.gradient_ratio(np.array([1.0, 0.5, 1e-3]), lag=2).verdict == "vanishing"
    assert A.gradient_ratio(np.array([1.0, 2.0, 30.0]), lag=2).verdict == "exploding"
    r = A.gradient_ratio(np.array([2.0, 1.5, 1.0]), lag=50)
    assert r.lag == 2 and r.ratio == 0.5 and r.verdict == "preserved"
    assert A.gradient_ratio(np.array([1.0, 0.0]), lag=1).verdict == "vanishing"


def test_saturation_stats_count_small_factors():
    s = A.saturation_stats(np.array([[0.0, 0.05], [0.5, 1.0]]))
    assert (s.mean, s.saturated, s.dead) == (pytest.approx(0.3875), 0.5, 0.25)
    assert s.rms == pytest.approx(np.sqrt((0.05**2 + 0.5**2 + 1.0) / 4), rel=1e-15)


def test_share_within_a_distance_sums_the_nearest_lags():
    share = np.array([0.5, 0.25, 0.125, 0.125])
    assert A.share_within(share, 0) == 0.5
    assert A.share_within(share, 1) == 0.75
    assert A.share_within(share, 10) == 1.0


def test_forget_gate_products_multiply_cached_gates_along_the_cell_path():
    T, H = 6, 4
    cell = A.gated_probe_cell("lstm", A.recurrent_matrix("orthogonal", H, 0.9), gate_bias=2.0)
    _, cache = rc.forward(cell, _inputs(T, H))
    P = A.forget_gate_products(cache)                          # (T + 1, H)
    f = np.concatenate([s.f for s in cache.steps])
    for k in range(T + 1):
        np.testing.assert_allclose(P[k], np.prod(f[k:], axis=0), rtol=1e-14)
    assert np.all(f > 0.5)  # bias 2 opens the forget gate: sigmoid(2 + noise)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gated_probe_cell_puts_W_h_in_the_candidate_block(kind):
    H = 5
    W = A.recurrent_matrix("gaussian", H, 0.7, seed=3)
    cell = A.gated_probe_cell(kind, W, gate_bias=1.5)
    np.testing.assert_array_equal(cell.params["W_h"][2 * H:3 * H], W)
    np.testing.assert_array_equal(cell.params["b"][H:2 * H], 1.5)
    assert cell.params["W_x"].shape == (cell.gates * H, H)


def test_cell_profile_matches_gradient_flow_for_the_rnn_and_reports_lstm_cell_path():
    H, T = 6, 20
    W = A.recurrent_matrix("orthogonal", H, 0.9, seed=1)
    X, v = _inputs(T, H, scale=0.3), A.unit_vector(H)
    rnn = A.probe_cell(W)
    np.testing.assert_allclose(A.cell_profile(rnn, X, v).dh, A.lag_profile(A.gradient_flow(rnn, X, v)),
                               rtol=SAME_OPS)
    lstm = A.cell_profile(A.gated_probe_cell("lstm", W, 3.0), X, v)
    assert lstm.dc.shape == lstm.forget_product.shape == (T + 1,)
    assert lstm.dc[0] == 0 and lstm.forget_product[0] == 1


def test_bad_arguments_name_what_was_expected():
    cell = A.probe_cell(np.eye(3))
    with pytest.raises(ValueError, match=r"X must be \(T, 1, D\)"):
        A.gradient_flow(cell, np.zeros((4, 2, 3)), np.ones(3))
    with pytest.raises(ValueError, match=r"v must be \(H,\) with H=3"):
        A.gradient_flow(cell, np.zeros((4, 1, 3)), np.ones(4))
    with pytest.raises(ValueError, match="W_h must be a finite square"):
        A.probe_cell(np.ones((2, 3)))
    with pytest.raises(ValueError, match="construction"):
        A.recurrent_matrix("circulant", 3)
    _, cache = rc.forward(cell, np.zeros((4, 1, 3)))
    with pytest.raises(ValueError, match="t must be an integer in 1..4"):
        A.state_gradients(cell, cache, np.ones(3), t=9)
