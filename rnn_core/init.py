"""Weight initialisers, and recurrent matrices built from a chosen spectrum.

Symbols: H hidden size, n the side of a square matrix (n = H for W_h).
Every function returns a new array; random ones draw only from the ``rng``
(a ``np.random.Generator``) they are given, so a seed reproduces a figure.
"""
from typing import NamedTuple

import numpy as np


def pytorch_uniform(shape, hidden_size, rng, dtype=np.float64):
    """U(-1/sqrt(H), 1/sqrt(H)) entries: the default of torch.nn.RNN, LSTM and GRU.

    Parameters
    ----------
    shape : tuple, e.g. (G*H, D) for W_x, (G*H, H) for W_h, (G*H,) for b
    hidden_size : int, H (sets the bound for every weight of the cell)
    rng : np.random.Generator
    dtype : NumPy float dtype of the result
    """
    if hidden_size < 1:
        raise ValueError(f"hidden_size must be >= 1; got {hidden_size}")
    bound = 1.0 / np.sqrt(hidden_size)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def xavier_uniform(shape, rng, dtype=np.float64, gain=1.0):
    """Glorot uniform for a 2-D (fan_out, fan_in) weight, as torch.nn.init.xavier_uniform_."""
    if len(shape) != 2:
        raise ValueError(f"shape must be 2-D (fan_out, fan_in); got {tuple(shape)}")
    fan_out, fan_in = shape
    bound = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def orthogonal(n, rng, dtype=np.float64, gain=1.0):
    """Haar-random orthogonal matrix, times ``gain``.

    Parameters
    ----------
    n : int or (rows, cols)
        Side of a square matrix, or a rectangular shape (orthonormal rows or
        columns, whichever are fewer).
    """
    rows, cols = (n, n) if np.ndim(n) == 0 else n
    A = rng.standard_normal((max(rows, cols), min(rows, cols)))
    Q, R = np.linalg.qr(A)
    # QR alone is not Haar-distributed; fixing the signs of diag(R) makes it so.
    Q = Q * np.where(np.diag(R) < 0, -1.0, 1.0)
    if rows < cols:
        Q = Q.T
    return (gain * Q).astype(dtype)


def identity(n, dtype=np.float64, scale=1.0):
    """``scale * I``: the IRNN recurrent matrix (Le et al. 2015)."""
    return (scale * np.eye(n)).astype(dtype)


def random_gaussian(n, rng, dtype=np.float64):
    """N(0, 1/n) entries: spectral radius close to 1 for large n (circular law)."""
    return (rng.standard_normal((n, n)) / np.sqrt(n)).astype(dtype)


def spectral_radius(W):
    """Largest eigenvalue magnitude of the square matrix W, as a float."""
    return float(np.max(np.abs(np.linalg.eigvals(_square("W", W).astype(np.float64)))))


def scale_to_spectral_radius(W, rho):
    """Return ``W * rho / spectral_radius(W)``: a copy of W with spectral radius rho.

    Parameters
    ----------
    W : (n, n) array, finite
    rho : float > 0, the wanted spectral radius

    Raises
    ------
    ValueError
        If rho is not positive, or if W is (numerically) nilpotent: its spectral
        radius is below 1e-8 times its largest singular value, so no rescaling
        reaches rho without blowing up.
    """
    W = _square("W", W)
    if not (np.isfinite(rho) and rho > 0):
        raise ValueError(f"rho must be a positive number; got {rho}")
    radius = spectral_radius(W)
    largest_sv = np.linalg.norm(W.astype(np.float64), 2)
    if radius == 0.0 or radius < 1e-8 * largest_sv:
        raise ValueError("W has spectral radius 0 (it is zero or nilpotent), "
                         "so it cannot be scaled to a spectral radius of "
                         f"{rho}; use another matrix")
    return (W * (rho / radius)).astype(W.dtype if W.dtype.kind == "f" else np.float64)


def eigenvalues_from_polar(pairs=(), reals=()):
    """Full, conjugate-closed eigenvalue list from polar pairs and real values.

    Parameters
    ----------
    pairs : sequence of (magnitude, angle)
        Each gives two eigenvalues, magnitude * exp(+-1j * angle) (angle in radians).
    reals : sequence of float
        Real eigenvalues, one each.

    Returns
    -------
    eigenvalues : (n,) complex array, n = 2 * len(pairs) + len(reals)
    """
    values = []
    for magnitude, angle in pairs:
        z = magnitude * np.exp(1j * angle)
        values += [z, np.conj(z)]
    values += [complex(r) for r in reals]
    return np.array(values, dtype=complex)


def matrix_from_eigenvalues(eigenvalues, rng=None, basis="random", dtype=np.float64,
                            condition=4.0):
    """Real n x n matrix ``W = P B P^-1`` whose spectrum is exactly ``eigenvalues``.

    B is block diagonal: a 1x1 block per real eigenvalue and a 2x2 block
    [[a, -b], [b, a]] per conjugate pair a +- ib.

    Parameters
    ----------
    eigenvalues : (n,) array_like, real or complex
        The FULL spectrum: every complex value (nonzero imaginary part) must
        appear together with its conjugate, e.g. from ``eigenvalues_from_polar``.
    rng : np.random.Generator, optional
        Draws the random and orthogonal bases; None uses fresh OS entropy.
    basis : "random", "orthogonal", "identity" or (n, n) array
        "random": P = U diag(s) V^T with U, V Haar-orthogonal and s log-spaced
        from 1 to ``condition``; W is then non-normal: its largest singular
        value exceeds its spectral radius (unless all eigenvalues are equal).
        "orthogonal": W is normal (singular values = eigenvalue magnitudes).
        "identity": W = B.  An (n, n) array: your own invertible P.
    dtype : NumPy float dtype of the result.
    condition : float >= 1
        Condition number of the "random" basis; larger means more non-normal.

    Returns
    -------
    W : (n, n) real array
    """
    lam = np.asarray(eigenvalues, dtype=complex).ravel()
    if lam.size == 0 or not np.all(np.isfinite(lam)):
        raise ValueError(f"eigenvalues must be a non-empty list of finite numbers; got {eigenvalues!r}")
    if not condition >= 1.0:
        raise ValueError(f"condition must be >= 1; got {condition}")
    B = _block_diagonal(lam)
    P = _basis(basis, lam.size, rng, condition)
    W = np.linalg.solve(P.T, (P @ B).T).T  # P B P^-1, without forming the inverse
    return W.astype(dtype)


class Spectrum(NamedTuple):
    """Eigen- and singular values of a square matrix, largest first."""
    eigenvalues: np.ndarray      # (n,) complex, sorted by magnitude, descending
    singular_values: np.ndarray  # (n,) float64, descending
    spectral_radius: float
    max_singular_value: float


def spectrum(W):
    """Eigenvalues and singular values of the square (n, n) matrix W, computed in float64.

    Returns
    -------
    Spectrum(eigenvalues, singular_values, spectral_radius, max_singular_value)
        Eigenvalues (n,) complex, by magnitude descending, equal magnitudes by
        imaginary part descending; singular values (n,) descending.
    """
    W = _square("W", W).astype(np.float64)
    lam = np.linalg.eigvals(W)
    lam = lam[np.lexsort((-lam.imag, -np.abs(lam)))]  # |lam| descending, then +imag first
    sv = np.linalg.svd(W, compute_uv=False)
    return Spectrum(lam, sv, float(np.abs(lam[0])), float(sv[0]))


def _square(name, W):
    W = np.asarray(W)
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] == 0:
        raise ValueError(f"{name} must be a square (n, n) matrix; got shape {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError(f"{name} must hold finite numbers; it contains nan or inf")
    return W


def _block_diagonal(lam):
    """Real block-diagonal B with spectrum lam: 2x2 blocks first, then the reals."""
    tol = 1e-12 * max(1.0, float(np.max(np.abs(lam))))
    upper = [z for z in lam if z.imag > tol]
    lower = [z for z in lam if z.imag < -tol]
    reals = [z.real for z in lam if abs(z.imag) <= tol]
    for z in upper:
        partner = next((i for i, w in enumerate(lower) if abs(w - np.conj(z)) <= tol), None)
        if partner is None:
            _raise_unpaired(z)
        lower.pop(partner)
    if lower:
        _raise_unpaired(lower[0])
    B = np.zeros((lam.size, lam.size))
    for k, z in enumerate(upper):
        B[2 * k:2 * k + 2, 2 * k:2 * k + 2] = [[z.real, -z.imag], [z.imag, z.real]]
    offset = 2 * len(upper)
    B[np.arange(offset, lam.size), np.arange(offset, lam.size)] = reals
    return B


def _raise_unpaired(z):
    raise ValueError(f"complex eigenvalue {z:.6g} has no conjugate partner {np.conj(z):.6g}: "
                     "a real matrix needs both (eigenvalues_from_polar builds the pairs)")


def _basis(basis, n, rng, condition):
    if isinstance(basis, str):
        if basis not in ("random", "orthogonal", "identity"):
            raise ValueError(f"basis must be 'random', 'orthogonal', 'identity' or an (n, n) "
                             f"array; got {basis!r}")
        if basis == "identity":
            return np.eye(n)
        rng = np.random.default_rng() if rng is None else rng
        if basis == "orthogonal":
            return orthogonal(n, rng)
        # Random rotations around log-spaced stretches: cond(P) = condition exactly, so the
        # transient growth (largest singular value / spectral radius: at most condition**2,
        # typically below condition) is set by one number and does not grow with n.
        stretches = np.geomspace(1.0, condition, n)
        return (orthogonal(n, rng) * stretches) @ orthogonal(n, rng)
    P = np.asarray(basis, dtype=np.float64)
    if P.shape != (n, n):
        raise ValueError(f"basis must be ({n}, {n}) to match {n} eigenvalues; got shape {P.shape}")
    if not np.all(np.isfinite(P)) or np.linalg.cond(P) > 1e8:
        raise ValueError("basis must be finite and invertible (condition number <= 1e8); "
                         "its columns are the eigenvectors")
    return P
