"""Initialisers: ranges against PyTorch's, orthogonality, and matrices with a chosen spectrum."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from rnn_core import init as rinit

# matrix_from_eigenvalues in float64: eigenvalues of P B P^-1 with cond(P) <= 4 (or a fixed
# test basis) are recovered to ~1e-14 of the spectral radius; 1e-9 leaves a wide margin.
EIG_RTOL = 1e-9


def _max_matched_error(requested, computed):
    """Largest |requested - computed| after pairing each requested value with its nearest."""
    remaining = list(computed)
    worst = 0.0
    for z in requested:
        i = int(np.argmin([abs(z - w) for w in remaining]))
        worst = max(worst, abs(z - remaining.pop(i)))
    return worst


def _assert_spectrum_is(W, requested):
    assert np.isrealobj(W)
    requested = np.asarray(requested, dtype=complex)
    computed = np.linalg.eigvals(W)
    assert computed.size == requested.size
    scale = np.max(np.abs(requested))
    assert _max_matched_error(requested, computed) <= EIG_RTOL * scale


@pytest.mark.parametrize("H", [4, 64])
def test_pytorch_uniform_has_torch_rnn_default_bounds(H):
    # Bounds, not values: all of torch's and our entries lie in [-1/sqrt(H), 1/sqrt(H)], and with
    # 4H*H >= 64 draws the largest |w| is within 10% of the bound (failure chance < 1e-2 at H=4,
    # (0.9)**64; negligible at H=64), so a wrong bound on either side is caught.
    bound = 1 / np.sqrt(H)
    torch.manual_seed(0)
    torch_w = torch.nn.LSTM(3, H).weight_hh_l0.detach().numpy()
    ours = rinit.pytorch_uniform(torch_w.shape, H, np.random.default_rng(0))
    for w in (torch_w, ours):
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() >= 0.9 * bound
    assert ours.dtype == np.float64


def test_pytorch_uniform_respects_dtype_and_shape():
    w = rinit.pytorch_uniform((6, 2), 2, np.random.default_rng(1), dtype=np.float32)
    assert w.shape == (6, 2) and w.dtype == np.float32


def test_xavier_uniform_matches_torch_range():
    # 60 000 draws: both maxima lie within 0.1% of the Glorot bound ((1-1e-3)**6e4 ~ e^-60).
    shape = (300, 200)
    bound = np.sqrt(6 / (300 + 200)) * 2.0
    torch.manual_seed(0)
    torch_w = torch.nn.init.xavier_uniform_(torch.empty(shape, dtype=torch.float64), gain=2.0).numpy()
    ours = rinit.xavier_uniform(shape, np.random.default_rng(0), gain=2.0)
    for w in (torch_w, ours):
        assert bound * (1 - 1e-3) <= np.abs(w).max() <= bound


@pytest.mark.parametrize("n", [1, 5, 64])
def test_orthogonal_has_orthonormal_columns(n):
    Q = rinit.orthogonal(n, np.random.default_rng(n))
    np.testing.assert_allclose(Q.T @ Q, np.eye(n), rtol=0, atol=1e-12)


def test_orthogonal_rectangular_and_gain():
    Q = rinit.orthogonal((3, 7), np.random.default_rng(0), gain=2.0)
    assert Q.shape == (3, 7)
    np.testing.assert_allclose(Q @ Q.T, 4.0 * np.eye(3), rtol=0, atol=1e-12)


def test_identity_is_scaled_eye():
    np.testing.assert_array_equal(rinit.identity(3, scale=0.5), 0.5 * np.eye(3))
    assert rinit.identity(2, dtype=np.float32).dtype == np.float32


def test_random_gaussian_spectral_radius_is_near_one():
    # Circular law: for n=400 the radius concentrates around 1 (fluctuations ~ n^-1/2 scale).
    W = rinit.random_gaussian(400, np.random.default_rng(0))
    assert 0.9 < rinit.spectral_radius(W) < 1.1


@pytest.mark.parametrize("rho", [0.5, 1.0, 1.7])
def test_scale_to_spectral_radius_hits_rho(rho):
    W = np.random.default_rng(3).standard_normal((20, 20))
    scaled = rinit.scale_to_spectral_radius(W, rho)
    assert abs(rinit.spectral_radius(scaled) - rho) <= 1e-10
    assert abs(rinit.spectral_radius(W) - rho) > 1e-3  # the input was not modified in place


@pytest.mark.parametrize("W, rho, reason", [
    (np.zeros((3, 3)), 1.0, "nilpotent"),
    (np.array([[0.0, 1.0], [0.0, 0.0]]), 1.0, "nilpotent"),
    (np.eye(2), 0.0, "rho must be a positive"),
    (np.eye(2), -1.0, "rho must be a positive"),
    (np.ones((2, 3)), 1.0, "square"),
    (np.array([[np.nan]]), 1.0, "finite"),
])
def test_scale_to_spectral_radius_refuses_bad_input(W, rho, reason):
    with pytest.raises(ValueError, match=reason):
        rinit.scale_to_spectral_radius(W, rho)


def test_eigenvalues_from_polar_is_conjugate_closed():
    lam = rinit.eigenvalues_from_polar([(0.9, 0.5)], reals=[0.3])
    np.testing.assert_allclose(lam, [0.9 * np.exp(0.5j), 0.9 * np.exp(-0.5j), 0.3], rtol=1e-15)


CASES = {
    "reals": [0.9, -0.5, 0.2],
    "one_pair": rinit.eigenvalues_from_polar([(0.95, 0.3)]),
    "pairs_and_reals": rinit.eigenvalues_from_polar([(1.2, 2.0), (0.5, 0.1)], reals=[0.7, -0.99]),
    "repeated_real": [0.8, 0.8, 0.8, -0.3],
    "repeated_pair": rinit.eigenvalues_from_polar([(0.9, 1.0), (0.9, 1.0)], reals=[0.9]),
    "single": [0.42],
    "with_zero": [0.0, 0.5, 1.0],
}


@pytest.mark.parametrize("basis", ["random", "orthogonal", "identity", "array"])
@pytest.mark.parametrize("case", list(CASES))
def test_matrix_from_eigenvalues_has_exactly_the_requested_spectrum(case, basis):
    lam = np.asarray(CASES[case], dtype=complex)
    rng = np.random.default_rng(7)
    if basis == "array":
        basis = np.eye(lam.size) + 0.3 * rng.standard_normal((lam.size, lam.size))
    W = rinit.matrix_from_eigenvalues(lam, rng, basis=basis)
    assert W.dtype == np.float64 and W.shape == (lam.size, lam.size)
    _assert_spectrum_is(W, lam)


@settings(deadline=None, max_examples=40)  # each example is one small eig; 40 keeps it < 1 s
@given(
    pairs=st.lists(st.tuples(st.floats(0.01, 2.0), st.floats(0.01, np.pi - 0.01)), max_size=4),
    reals=st.lists(st.floats(-2.0, 2.0), max_size=3),
    basis=st.sampled_from(["random", "orthogonal", "identity"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_matrix_from_polar_eigenvalues_property(pairs, reals, basis, seed):
    lam = rinit.eigenvalues_from_polar(pairs, reals)
    if lam.size == 0 or np.max(np.abs(lam)) < 1e-3:
        return  # nothing to build, or a matrix that is numerically zero
    W = rinit.matrix_from_eigenvalues(lam, np.random.default_rng(seed), basis=basis)
    _assert_spectrum_is(W, lam)


def test_random_basis_is_non_normal_and_orthogonal_basis_is_normal():
    lam = rinit.eigenvalues_from_polar([(0.9, 0.4), (0.8, 2.5)], reals=[0.6, -0.3])
    rng = np.random.default_rng(0)
    non_normal = rinit.spectrum(rinit.matrix_from_eigenvalues(lam, rng, basis="random"))
    normal = rinit.spectrum(rinit.matrix_from_eigenvalues(lam, rng, basis="orthogonal"))
    # rho < 1, yet one step can stretch a vector by more than 1: gradients grow before vanishing.
    assert non_normal.spectral_radius < 1 < non_normal.max_singular_value
    # A normal matrix has singular values equal to the eigenvalue magnitudes.
    np.testing.assert_allclose(normal.singular_values, np.abs(normal.eigenvalues), rtol=1e-12)


def test_matrix_from_eigenvalues_float32_spectrum_to_float32_precision():
    lam = rinit.eigenvalues_from_polar([(0.9, 0.7)], reals=[0.5])
    W = rinit.matrix_from_eigenvalues(lam, np.random.default_rng(0), dtype=np.float32)
    assert W.dtype == np.float32
    # Rounding W to float32 moves eigenvalues by ~cond(P)^2 * 6e-8 with cond(P) = 4.
    assert _max_matched_error(lam, np.linalg.eigvals(W.astype(np.float64))) < 1e-5


@pytest.mark.parametrize("eigenvalues, kwargs, reason", [
    ([0.5 + 0.2j, 0.3], {}, "no conjugate partner"),
    ([0.5 + 0.2j, 0.5 + 0.2j], {}, "no conjugate partner"),
    ([0.5 - 0.2j], {}, "no conjugate partner"),
    ([], {}, "non-empty"),
    ([np.nan, 0.5], {}, "finite"),
    ([0.5, 0.4], {"basis": "diagonal"}, "basis must be"),
    ([0.5, 0.4], {"basis": np.eye(3)}, r"basis must be \(2, 2\)"),
    ([0.5, 0.4], {"basis": np.ones((2, 2))}, "invertible"),
    ([0.5, 0.4], {"condition": 0.5}, "condition must be"),
])
def test_matrix_from_eigenvalues_refuses_bad_input(eigenvalues, kwargs, reason):
    with pytest.raises(ValueError, match=reason):
        rinit.matrix_from_eigenvalues(eigenvalues, np.random.default_rng(0), **kwargs)


def test_spectrum_sorts_by_magnitude_descending():
    W = np.diag([0.1, -3.0, 2.0])
    s = rinit.spectrum(W)
    np.testing.assert_array_equal(s.eigenvalues, [-3.0, 2.0, 0.1])
    np.testing.assert_allclose(s.singular_values, [3.0, 2.0, 0.1], rtol=1e-15)
    assert s.spectral_radius == 3.0 and s.max_singular_value == pytest.approx(3.0, rel=1e-15)
