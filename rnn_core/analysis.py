"""Vanishing and exploding gradients, measured with the engine's own backward pass.

Symbols: T time steps, B batch (1 for the analysed sequence), D input size, H hidden size,
G gates. States are numbered as the course writes them: h_0 is the initial state and
Hs[t - 1] = h_t for t = 1..T. A loss at step t is the projection L_t = v . h_t, so
dL_t/dh_t = v and the lag of h_k from that loss is t - k.

Every gradient here comes from ``cells.core_backward``, the same step function that
``sequence.backward`` loops over; nothing re-derives the cell math. Two tricks keep it fast:

* **Batching over losses.** Backpropagation is linear in the gradient it sends back, so the
  gradients of T different losses (one per step) are T rows of one batch. The step caches hold a batch of one,
  and the backward cores broadcast it against however many rows arrive. At step k only the
  losses at t >= k have reached it, so the batch grows by one row per step (T^2 / 2 rows in all).
* **Jacobians as batched backward passes.** With dL/dh_t = I (H rows, one per unit of h_t),
  the rows arriving at step k form the Jacobian product dh_t/dh_k.

Theory (Pascanu, Mikolov and Bengio 2013, "On the difficulty of training recurrent neural
networks"): dh_t/dh_k = prod_{s=k+1..t} diag(phi'(a_s)) W_h. With |phi'| <= gamma,
||dL_t/dh_k|| <= ||v|| (gamma * sigma_max)^(t - k), so sigma_max < 1/gamma is sufficient for
vanishing; sigma_max > 1/gamma is therefore necessary for exploding. For a linear RNN the rate
is set by the spectral radius rho: rho < 1 is sufficient to vanish, rho > 1 necessary to explode.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import init
from .cells import (Cell, core_backward, make_cell, recurrent_input, recurrent_weight_grad,
                    rnn_core_backward)
from .sequence import SequenceCache, forward

# Bound gamma on |phi'(a)| for each nonlinearity of the vanilla RNN (sigmoid would be 1/4).
GAMMA = {"tanh": 1.0, "relu": 1.0, "linear": 1.0}
VERDICT_BAND = 10.0  # a ratio below 1/10 reads "vanishing", above 10 "exploding"


# ---------------------------------------------------------------------------------------------
# Probe networks: a chosen W_h, an identity input map, so "input scale" is the std of W_x x_t.

def probe_cell(W_h, nonlinearity="tanh") -> Cell:
    """A float64 vanilla RNN with recurrent matrix ``W_h`` (H, H), W_x = I (D = H) and b = 0."""
    W_h = np.asarray(W_h, dtype=np.float64)
    if W_h.ndim != 2 or W_h.shape[0] != W_h.shape[1] or not np.all(np.isfinite(W_h)):
        raise ValueError(f"W_h must be a finite square (H, H) matrix; got shape {W_h.shape}")
    H = W_h.shape[0]
    cell = make_cell("rnn", H, H, seed=0, dtype=np.float64, nonlinearity=nonlinearity)
    cell.params.update(W_x=np.eye(H), W_h=W_h.copy(), b=np.zeros(H))
    return cell


def gated_probe_cell(kind, W_h, gate_bias=0.0, seed=0) -> Cell:
    """An LSTM or GRU comparable with ``probe_cell(W_h)``: every W_x block is I (D = H), the
    candidate block (g or n) of W_h is ``W_h``, the gate blocks keep PyTorch's default draw,
    and the memory gate (LSTM forget f, GRU update z) has bias ``gate_bias``, other biases 0.

    A large ``gate_bias`` keeps f (or z) near 1, so the cell path carries the past forward.
    """
    W_h = np.asarray(W_h, dtype=np.float64)
    H = W_h.shape[0]
    cell = make_cell(kind, H, H, seed=seed, dtype=np.float64)
    G = cell.gates
    W_hh = cell.params["W_h"].copy()
    W_hh[2 * H:3 * H] = W_h                     # block 2: g of (i, f, g, o), n of (r, z, n)
    b = np.zeros(G * H)
    b[H:2 * H] = gate_bias                      # f for the LSTM, z for the GRU: both block 1
    cell.params.update(W_x=np.tile(np.eye(H), (G, 1)), W_h=W_hh, b=b)
    return cell


def probe_inputs(T, H, input_scale, seed=0):
    """X (T, 1, H) of N(0, input_scale^2) entries: the drive W_x x_t of a probe cell."""
    if not (isinstance(T, (int, np.integer)) and T >= 1):
        raise ValueError(f"T must be a positive integer; got {T!r}")
    if not (np.isfinite(input_scale) and input_scale >= 0):
        raise ValueError(f"input_scale must be a non-negative number; got {input_scale!r}")
    return input_scale * np.random.default_rng(seed).standard_normal((T, 1, H))


def unit_vector(H, seed=0):
    """A random unit vector v (H,): the direction of the probe loss L_t = v . h_t."""
    v = np.random.default_rng(seed).standard_normal(H)
    return v / np.linalg.norm(v)


def non_normal_matrix(H, rho=0.9, shear=3.0, seed=0):
    """A non-normal W_h (H, H) whose eigenvalues all equal ``rho`` but whose largest singular
    value is about ``shear`` (> rho): Q J Q^T, with Q Haar-orthogonal and J block diagonal of
    2x2 Jordan-like blocks [[rho, shear], [0, rho]] (plus a 1x1 [rho] when H is odd).

    ||W^l|| ~ l * shear * rho^(l-1) first grows, peaks near l = -1/ln(rho), then decays:
    rho < 1 only promises that the gradient vanishes *eventually*.
    """
    J = rho * np.eye(H)
    idx = np.arange(0, H - 1, 2)
    J[idx, idx + 1] = shear
    Q = init.orthogonal(H, np.random.default_rng(seed))
    return Q @ J @ Q.T


CONSTRUCTIONS = ("gaussian", "orthogonal", "identity", "eigenvalues")


def recurrent_matrix(construction, H, rho=1.0, seed=0, pairs=(), reals=(), skew=1.0):
    """W_h (H, H) for the gradient-flow page, float64.

    Parameters
    ----------
    construction : "gaussian" | "orthogonal" | "identity" | "eigenvalues"
        The first three are N(0, 1/H) entries, a random orthogonal matrix and I, each scaled to
        spectral radius ``rho``. "eigenvalues" places the spectrum by hand: every (magnitude,
        angle in radians) of ``pairs`` gives a conjugate pair, every entry of ``reals`` one real
        eigenvalue, and the remaining H - n eigenvalues are 0 (``rho`` is then ignored: the
        spectral radius is the largest magnitude placed).
    skew : float >= 1
        For "eigenvalues": 1 gives orthogonal eigenvectors (a normal matrix, singular values =
        |eigenvalues|); larger values tilt them towards each other (condition number ``skew``),
        a non-normal matrix whose largest singular value exceeds its spectral radius.
    """
    if construction not in CONSTRUCTIONS:
        raise ValueError(f"construction must be one of {CONSTRUCTIONS}; got {construction!r}")
    if isinstance(H, bool) or not isinstance(H, (int, np.integer)) or H < 1:
        raise ValueError(f"H must be a positive integer; got {H!r}")
    rng = np.random.default_rng(seed)
    if construction == "gaussian":
        return init.scale_to_spectral_radius(init.random_gaussian(H, rng), rho)
    if construction == "orthogonal":
        return init.orthogonal(H, rng, gain=rho)
    if construction == "identity":
        return init.identity(H, scale=rho)
    placed = init.eigenvalues_from_polar(pairs, reals)
    if placed.size > H:
        raise ValueError(f"{placed.size} eigenvalues placed but H = {H}: place at most H")
    eigenvalues = np.concatenate([placed, np.zeros(H - placed.size)])
    basis = "orthogonal" if skew == 1 else "random"
    return init.matrix_from_eigenvalues(eigenvalues, rng, basis=basis, condition=skew)


# ---------------------------------------------------------------------------------------------
# State gradients with the engine's backward step.

class StateGradients(NamedTuple):
    dh: np.ndarray         # (t + 1, n, H): dh[k] = dL/dh_k for k = 0..t
    dc: np.ndarray | None  # (t + 1, n, H) for the LSTM (dL/dc_k), else None


def check_cache(cell, cache):
    """Raise ValueError unless ``cache`` is this cell's SequenceCache of a batch of one."""
    if not isinstance(cache, SequenceCache) or not cache.steps:
        raise ValueError("cache must be the SequenceCache returned by rnn_core.forward")
    if cache.steps[0].h.shape[0] != 1:
        raise ValueError(f"the analysed sequence must have a batch of one (X (T, 1, D)); "
                         f"got B = {cache.steps[0].h.shape[0]}")
    if cache.steps[0].h.shape[1] != cell.hidden_size:
        raise ValueError("cache does not belong to this cell (hidden sizes differ)")


def state_gradients(cell: Cell, cache: SequenceCache, dh_t, t=None) -> StateGradients:
    """dL/dh_k for k = t..0 of a loss that only touches h_t, by the engine's BPTT step.

    Parameters
    ----------
    cell : the cell that produced ``cache`` (batch of one)
    cache : SequenceCache from ``rnn_core.forward``
    dh_t : (n, H) or (H,) array
        dL/dh_t; n rows are n independent losses (e.g. the identity for the Jacobian).
    t : int in 1..T, or None for T

    Returns
    -------
    StateGradients with dh (t + 1, n, H), and dc for the LSTM (dL/dc_t = 0 at the start).
    """
    check_cache(cell, cache)
    T = len(cache.steps)
    t = T if t is None else t
    if not (isinstance(t, (int, np.integer)) and 1 <= t <= T):
        raise ValueError(f"t must be an integer in 1..{T}; got {t!r}")
    dh = np.atleast_2d(np.asarray(dh_t, dtype=np.float64))
    if dh.ndim != 2 or dh.shape[1] != cell.hidden_size:
        raise ValueError(f"dh_t must be (n, H) or (H,) with H={cell.hidden_size}; got {np.shape(dh_t)}")
    lstm = cell.kind == "lstm"
    dstate = (dh, np.zeros_like(dh)) if lstm else dh
    out_h = np.empty((t + 1,) + dh.shape)
    out_c = np.empty_like(out_h) if lstm else None
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(t, -1, -1):
            out_h[k] = dstate[0] if lstm else dstate
            if lstm:
                out_c[k] = dstate[1]
            if k:
                dstate = core_backward(cell, dstate, cache.steps[k - 1])[2]
    return StateGradients(out_h, out_c)


def jacobian_products(cell: Cell, cache: SequenceCache, t=None):
    """The Jacobian products dh_t/dh_k for k = 0..t, (t + 1, H, H); entry [k, i, j] = dh_t[i]/dh_k[j].

    Row i is the gradient of the loss L = h_t[i], so the identity sent backward gives them all.
    For the LSTM this is the h-to-h block (the cell state held fixed at the start is not varied).
    """
    return state_gradients(cell, cache, np.eye(cell.hidden_size), t).dh


def spectral_norms(M):
    """Largest singular value of each matrix of a stack (K, H, H) -> (K,); inf/NaN stay as such."""
    M = np.asarray(M, dtype=np.float64)
    finite = np.all(np.isfinite(M), axis=(1, 2))
    out = np.full(M.shape[0], np.inf)
    if finite.any():
        out[finite] = np.linalg.svd(M[finite], compute_uv=False)[:, 0]
    return out


def worst_case_profile(cell: Cell, X, t=None):
    """||dh_t/dh_{t-lag}||_2 by lag, (t + 1,): the largest gradient any unit loss at step t could
    send back (the per-lag norm for the worst direction v). One forward, one backward of H rows,
    and t + 1 SVDs of (H, H): slower than ``gradient_flow``, meant for small H or one-off plots."""
    with np.errstate(over="ignore", invalid="ignore"):
        _, cache = forward(cell, X)
    return spectral_norms(jacobian_products(cell, cache, t))[::-1]


# ---------------------------------------------------------------------------------------------
# Everything the gradient-flow page plots, from one forward and one batched backward.

class GradientFlow(NamedTuple):
    """Measured gradient flow of a probe loss L_t = v . h_t at every step t."""
    Hs: np.ndarray        # (T, 1, H) hidden states h_1..h_T
    norms: np.ndarray     # (T, T + 1): [t - 1, k] = ||dL_t/dh_k|| for k <= t, NaN for k > t
    dW_h_norms: np.ndarray  # (T, T): [t - 1, k - 1] = ||part of dL_t/dW_h from step k||_F, NaN for k > t
    factors: np.ndarray | None  # (T, H) phi'(a_t) of a vanilla RNN, else None


def gradient_flow(cell: Cell, X, v, state0=None) -> GradientFlow:
    """Forward ``X`` once, then send the T losses L_t = v . h_t back together.

    Parameters
    ----------
    cell : any cell; float64 recommended (norms down to 1e-300 matter on a log axis)
    X : (T, 1, D) array, one sequence
    v : (H,) array, the loss direction
    state0 : (1, H) array, (h0, c0) for the LSTM, or None

    Returns
    -------
    GradientFlow. ``norms[-1, ::-1]`` is the per-lag profile of the last step's loss. A norm
    past the float range is reported as inf, one below it (underflow) as 0: plots mask both.
    """
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1] != 1:
        raise ValueError(f"X must be (T, 1, D): one sequence; got shape {X.shape}")
    v = np.asarray(v, dtype=np.float64)
    if v.shape != (cell.hidden_size,):
        raise ValueError(f"v must be (H,) with H={cell.hidden_size}; got shape {v.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        Hs, cache = forward(cell, X, state0)
    T, H = X.shape[0], cell.hidden_size
    norms = np.full((T, T + 1), np.nan)
    dW_h_norms = np.full((T, T), np.nan)
    lstm = cell.kind == "lstm"
    # Row t - 1 of the batch is the loss at step t; going back, the loss at h_k joins at step k,
    # so at step k the rows k - 1..T - 1 are active: dh[k - 1:] holds dL_t/dh_k for t >= k.
    dh, dc = np.empty((T, H)), np.zeros((T, H))
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(T, 0, -1):
            dh[k - 1] = v
            norms[k - 1:, k] = row_norms(dh[k - 1:])
            step = cache.steps[k - 1]
            dstate = (dh[k - 1:], dc[k - 1:]) if lstm else dh[k - 1:]
            _, dha, dstate = core_backward(cell, dstate, step)
            dW_h_norms[k - 1:, k - 1] = _outer_norms(cell, dha, step)
            if lstm:
                dh[k - 1:], dc[k - 1:] = dstate
            else:
                dh[k - 1:] = dstate
        norms[:, 0] = row_norms(dh)
    # Past the float range a gradient holds inf, and inf * 0 or inf - inf then make NaN: both
    # mean "overflowed", reported as inf so that plots and readouts can say so.
    below = np.tril(np.ones((T, T + 1), dtype=bool), k=1)       # k <= t
    norms[below & np.isnan(norms)] = np.inf
    dW_h_norms[np.tril(np.ones((T, T), dtype=bool)) & np.isnan(dW_h_norms)] = np.inf
    factors = activation_factors(cell, cache) if cell.kind == "rnn" else None
    return GradientFlow(Hs, norms, dW_h_norms, factors)


def row_norms(a):
    """Euclidean norm of each row of a (n, m) array, exact from 1e-300 to 1e300.

    The sum of squares (einsum: a fraction of np.linalg.norm's cost) underflows below ~1e-154 and
    overflows above ~1e154, so those rows are recomputed scaled by their largest entry.
    An inf entry gives inf; a NaN entry gives NaN. Call under np.errstate(over="ignore",
    invalid="ignore"): this runs once per time step and keeps no context of its own.
    """
    norms = np.sqrt(np.einsum("ij,ij->i", a, a))
    redo = ~((norms > 1e-150) & (norms < 1e150))
    if redo.any():
        rows = a[redo]
        m = np.max(np.abs(rows), axis=1)
        scale = np.where((m > 0) & np.isfinite(m), m, 1.0)[:, None]
        scaled = scale[:, 0] * np.sqrt(np.einsum("ij,ij->i", rows / scale, rows / scale))
        norms[redo] = np.where(np.isinf(m), np.inf, scaled)
    return norms


def overflowed_to_inf(norms):
    """Norms with NaN (what inf - inf leaves after an overflow) shown as inf."""
    return np.where(np.isnan(norms), np.inf, norms)


def _outer_norms(cell, dha, step):
    """||dha_row^T h_in||_F for each row: the step's part of dW_h, a rank-one matrix per loss."""
    h_in, rh_in = recurrent_input(cell, step)  # (1, H) each
    if rh_in is None:
        return row_norms(dha) * row_norms(h_in)
    H2 = 2 * cell.hidden_size  # Cho GRU: r, z blocks multiply h_prev, the n block r * h_prev
    return np.hypot(row_norms(dha[:, :H2]) * row_norms(h_in), row_norms(dha[:, H2:]) * row_norms(rh_in))


def dW_h_contributions(cell: Cell, cache: SequenceCache, v, t=None):
    """The parts of dL_t/dW_h from each step k = 1..t, (t, G*H, H); they sum to the engine's dW_h.

    Slow (one matrix per step); for tests and notebooks. ``gradient_flow`` keeps only the norms.
    """
    t = len(cache.steps) if t is None else t
    dstate = state_gradients(cell, cache, v, t)
    parts = []
    for k in range(1, t + 1):
        step = cache.steps[k - 1]
        incoming = (dstate.dh[k], dstate.dc[k]) if cell.kind == "lstm" else dstate.dh[k]
        _, dha, _ = core_backward(cell, incoming, step)
        parts.append(recurrent_weight_grad(cell, dha, *recurrent_input(cell, step)))
    return np.stack(parts)


def activation_factors(cell: Cell, cache: SequenceCache):
    """phi'(a_t) along the sequence, (T, H): the engine's backward of ones through the nonlinearity."""
    if cell.kind != "rnn":
        raise ValueError(f"activation factors are defined for the vanilla RNN; got kind {cell.kind!r}")
    return np.concatenate([rnn_core_backward(cell, np.ones_like(s.h), s)[0] for s in cache.steps])


def lag_profile(flow: GradientFlow):
    """||dL_T/dh_{T-lag}|| for lag = 0..T (T + 1,): the last row of the heatmap, by lag."""
    return flow.norms[-1, ::-1]


def share_by_distance(flow: GradientFlow, last_only=False):
    """Share of dL/dW_h contributed by steps at each distance d = t - k from the loss, (T,).

    The shares are each distance's summed contribution norms over the total, so they add to 1
    (contributions may partly cancel; the norms say how hard each distance pushes). The loss is
    sum_t L_t, or only L_T when ``last_only``. Non-finite contributions give NaN shares.
    """
    C = flow.dW_h_norms[-1:] if last_only else flow.dW_h_norms
    T = flow.dW_h_norms.shape[1]
    rows = np.arange(T - C.shape[0], T)[:, None]               # loss step t - 1
    dist = rows - np.arange(T)[None, :]                         # t - k
    valid = dist >= 0
    sums = np.bincount(dist[valid], weights=C[valid], minlength=T)
    total = sums.sum()
    if not np.isfinite(total) or total == 0:
        return np.full(T, np.nan)
    return sums / total


# ---------------------------------------------------------------------------------------------
# Spectra and the Pascanu et al. conditions.

class Conditions(NamedTuple):
    nonlinearity: str
    gamma: float                 # bound on |phi'|
    spectral_radius: float
    max_singular_value: float
    vanishing_sufficient: bool   # the theory guarantees vanishing
    exploding_possible: bool     # the necessary condition for exploding holds
    summary: str


def pascanu_conditions(spec: init.Spectrum, nonlinearity="tanh") -> Conditions:
    """What the spectrum alone says, following Pascanu et al. 2013.

    Linear RNN: rho < 1 is sufficient for vanishing, rho > 1 necessary for exploding.
    tanh / ReLU (|phi'| <= gamma = 1): sigma_max < 1/gamma is sufficient for vanishing, so
    sigma_max > 1/gamma is necessary for exploding; between the two the data decide.
    """
    if nonlinearity not in GAMMA:
        raise ValueError(f"nonlinearity must be one of {sorted(GAMMA)}; got {nonlinearity!r}")
    gamma, rho, sigma = GAMMA[nonlinearity], spec.spectral_radius, spec.max_singular_value
    if nonlinearity == "linear":
        vanish, explode = rho < 1, rho > 1
        summary = (f"linear RNN: ρ = {rho:.3g} < 1, so the gradient must vanish (eventually)" if vanish
                   else f"linear RNN: ρ = {rho:.3g} > 1, so the gradient explodes along the top eigenvector"
                   if explode else "linear RNN: ρ = 1, the gradient neither vanishes nor explodes along "
                   "the top eigenvector")
    else:
        vanish, explode = sigma < 1 / gamma, sigma > 1 / gamma
        summary = (f"{nonlinearity}: σ_max = {sigma:.3g} < 1/γ = {1 / gamma:.3g}, sufficient for vanishing"
                   if vanish else f"{nonlinearity}: σ_max = {sigma:.3g} > 1/γ = {1 / gamma:.3g}, so exploding "
                   "is possible (the necessary condition holds); whether it happens depends on the φ′ factors")
    return Conditions(nonlinearity, gamma, rho, sigma, bool(vanish), bool(explode), summary)


class TheoryCurves(NamedTuple):
    lags: np.ndarray        # (L,) integer lags
    rho_line: np.ndarray    # (L,) ||v|| rho^lag: exact for a normal linear RNN, the asymptotic rate otherwise
    sigma_bound: np.ndarray  # (L,) ||v|| (gamma sigma_max)^lag: Pascanu's upper bound


def theory_curves(spec: init.Spectrum, lags, gamma=1.0, norm_v=1.0) -> TheoryCurves:
    """The rho^lag line and the (gamma sigma_max)^lag bound to overlay on measured per-lag norms.

    Values beyond the float range become inf (or 0); the page masks them.
    """
    lags = np.asarray(lags)
    with np.errstate(over="ignore", under="ignore"):
        rho_line = norm_v * spec.spectral_radius ** lags.astype(np.float64)
        sigma_bound = norm_v * (gamma * spec.max_singular_value) ** lags.astype(np.float64)
    return TheoryCurves(lags, rho_line, sigma_bound)


# ---------------------------------------------------------------------------------------------
# Readouts.

class Saturation(NamedTuple):
    mean: float             # mean phi'(a) over steps and units
    median: float
    saturated: float        # fraction of factors below 0.1 (tanh deep in its flat tails)
    dead: float             # fraction exactly 0 (ReLU units switched off)
    rms: float              # root mean square: the typical factor, gamma_eff; 1/rms is its radius


def saturation_stats(factors) -> Saturation:
    """Summary of the phi'(a_t) factors (T, H)."""
    f = np.asarray(factors, dtype=np.float64)
    return Saturation(float(f.mean()), float(np.median(f)), float(np.mean(f < 0.1)),
                      float(np.mean(f == 0)), float(np.sqrt(np.mean(f * f))))


def share_within(share, distance):
    """Fraction of dL/dW_h from steps at most ``distance`` before their loss (share by distance)."""
    return float(np.nansum(np.asarray(share, dtype=np.float64)[:distance + 1]))


class Ratio(NamedTuple):
    lag: int
    ratio: float      # ||dL_T/dh_{T-lag}|| / ||dL_T/dh_T||; 0 when it underflowed, inf when it overflowed
    verdict: str      # "vanishing", "exploding" or "preserved"


def gradient_ratio(profile, lag=50) -> Ratio:
    """How big the gradient ``lag`` steps back is, relative to the last step's (lag clipped to T)."""
    profile = np.asarray(profile, dtype=np.float64)
    lag = int(min(lag, profile.size - 1))
    ratio = profile[lag] / profile[0]
    if np.isnan(ratio):
        ratio = np.inf          # the state gradient overflowed on the way back (inf - inf)
    verdict = ("vanishing" if ratio < 1 / VERDICT_BAND else "exploding" if ratio > VERDICT_BAND
               else "preserved")
    return Ratio(lag, float(ratio), verdict)


def forget_gate_products(cache: SequenceCache):
    """prod_{s=k+1..T} f_s per unit, (T + 1, H), k = 0..T: the LSTM cell path dc_T/dc_k
    when the gates are held fixed (the course's "constant error carousel")."""
    f = np.concatenate([s.f for s in cache.steps])            # (T, H)
    rev = np.cumprod(f[::-1], axis=0)[::-1]                    # [k] = prod_{s >= k} f_s
    return np.vstack([rev, np.ones((1, f.shape[1]))])


class CellProfile(NamedTuple):
    kind: str
    dh: np.ndarray                 # (T + 1,) ||dL_T/dh_{T-lag}|| by lag
    dc: np.ndarray | None          # (T + 1,) ||dL_T/dc_{T-lag}|| by lag (LSTM)
    forget_product: np.ndarray | None  # (T + 1,) mean over units of prod f along the cell path, by lag


def cell_profile(cell: Cell, X, v, state0=None) -> CellProfile:
    """Per-lag gradient norms of L_T = v . h_T for any cell kind (one backward, batch of one)."""
    with np.errstate(over="ignore", invalid="ignore"):
        _, cache = forward(cell, X, state0)
    g = state_gradients(cell, cache, v)
    with np.errstate(over="ignore", invalid="ignore"):
        dh = overflowed_to_inf(row_norms(g.dh[:, 0]))[::-1]
        dc = None if g.dc is None else overflowed_to_inf(row_norms(g.dc[:, 0]))[::-1]
    if cell.kind != "lstm":
        return CellProfile(cell.kind, dh, None, None)
    return CellProfile(cell.kind, dh, dc, forget_gate_products(cache).mean(axis=1)[::-1])


# ---------------------------------------------------------------------------------------------
# One call per view of the gradient-flow page.

class FlowSummary(NamedTuple):
    """What the gradient-flow page draws for one W_h and one probe sequence."""
    W_h: np.ndarray                # (H, H)
    spectrum: init.Spectrum
    conditions: Conditions
    flow: GradientFlow
    profile: np.ndarray            # (T + 1,) ||dL_T/dh_{T-lag}|| by lag
    curves: TheoryCurves
    ratio: Ratio                   # at lag 50 (or T)
    saturation: Saturation
    share: np.ndarray              # (T,) share of dL/dW_h by distance, a loss at every step


def flow_summary(construction, H, rho, pairs, reals, skew, nonlinearity, T, input_scale, seed=0):
    """Build W_h (``recurrent_matrix``), run the probe RNN on N(0, input_scale^2) inputs with the
    loss direction ``unit_vector(H, seed)``, and summarise: one forward, one batched backward."""
    W_h = recurrent_matrix(construction, H, rho, seed, pairs, reals, skew)
    spec = init.spectrum(W_h)
    flow = gradient_flow(probe_cell(W_h, nonlinearity), probe_inputs(T, H, input_scale, seed),
                         unit_vector(H, seed))
    profile = lag_profile(flow)
    return FlowSummary(W_h, spec, pascanu_conditions(spec, nonlinearity), flow, profile,
                       theory_curves(spec, np.arange(T + 1), GAMMA[nonlinearity], profile[0]),
                       gradient_ratio(profile, 50), saturation_stats(flow.factors),
                       share_by_distance(flow))


def compare_cells(construction, H, rho, pairs, reals, skew, nonlinearity, T, input_scale, seed=0,
                  gate_bias=2.0):
    """CellProfiles of the probe RNN, LSTM and GRU (``gated_probe_cell``) on the same inputs,
    the same W_h and the same loss direction as ``flow_summary``."""
    W_h = recurrent_matrix(construction, H, rho, seed, pairs, reals, skew)
    X, v = probe_inputs(T, H, input_scale, seed), unit_vector(H, seed)
    return [cell_profile(probe_cell(W_h, nonlinearity), X, v),
            cell_profile(gated_probe_cell("lstm", W_h, gate_bias, seed), X, v),
            cell_profile(gated_probe_cell("gru", W_h, gate_bias, seed), X, v)]


def non_normal_summary(H, T, rho=0.9, shear=3.0, seed=0):
    """(spectrum, measured per-lag norms, worst-case per-lag norms) of a linear RNN with
    ``non_normal_matrix(H, rho, shear, seed)`` and no input."""
    W = non_normal_matrix(H, rho, shear, seed)
    cell = probe_cell(W, "linear")
    X = np.zeros((T, 1, H))
    return init.spectrum(W), cell_profile(cell, X, unit_vector(H, seed)).dh, worst_case_profile(cell, X)
