"""Optimizers and clipping: step-by-step agreement with torch.optim, refusal of nan/inf, resuming."""
import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from rnn_core.optim import (SGD, Adagrad, Adam, NonFiniteGradientError, clip_grad_norm,
                            clip_grad_value, global_norm, make_optimizer, nonfinite_keys)

# Same formulas in the same order, but torch's kernels fuse some multiply-adds (FMA), moving a
# result by about an ulp. Measured after five steps: <= 1.7e-16 (float64), <= 1.1e-7 (float32,
# eps 1.2e-7). The bounds leave room for other CPUs, while a wrong formula (a missing bias
# correction, beta and 1 - beta swapped) moves the result by more than 1e-4.
RTOL64 = 1e-12
RTOL32 = 1e-6

OPTIMIZERS = {  # name -> (our class, torch class, keyword arguments shared by both)
    "sgd": (SGD, torch.optim.SGD, {"lr": 0.1}),
    "momentum": (SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    "adagrad": (Adagrad, torch.optim.Adagrad, {"lr": 0.05}),
    "adam": (Adam, torch.optim.Adam, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    "adam_default": (Adam, torch.optim.Adam, {"lr": 0.01}),
}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def _params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {"layer0.W_x": rng.standard_normal((8, 3)).astype(dtype),
            "layer0.W_h": rng.standard_normal((8, 8)).astype(dtype),
            "W_y": rng.standard_normal((5, 8)).astype(dtype),
            "c": rng.standard_normal(5).astype(dtype)}


def _grad_sequence(params, n, seed=1):
    rng = np.random.default_rng(seed)
    # Mixed scales so Adagrad/Adam's per-entry normalisation is exercised.
    return [{k: (rng.standard_normal(p.shape) * 10.0 ** rng.integers(-3, 2)).astype(p.dtype)
             for k, p in params.items()} for _ in range(n)]


def _torch_run(name, params, grad_seq):
    _, torch_cls, kwargs = OPTIMIZERS[name]
    tensors = {k: torch.tensor(p.copy(), requires_grad=True) for k, p in params.items()}
    opt = torch_cls(list(tensors.values()), foreach=False, **kwargs)
    for grads in grad_seq:
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k])
        opt.step()
    return {k: t.detach().numpy() for k, t in tensors.items()}


def _ours_run(name, params, grad_seq):
    cls, _, kwargs = OPTIMIZERS[name]
    params = {k: p.copy() for k, p in params.items()}
    opt = cls(params, **kwargs)
    for grads in grad_seq:
        opt.step(grads)
    return params


def _max_rel_err(ours, ref):
    return max(np.max(np.abs(ours[k] - ref[k])) / np.max(np.abs(ref[k])) for k in ref)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, RTOL64), (np.float32, RTOL32)])
@pytest.mark.parametrize("n_steps", [1, 5])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_matches_torch_optim(name, n_steps, dtype, rtol):
    params = _params(dtype)
    grad_seq = _grad_sequence(params, n_steps)
    ours = _ours_run(name, params, grad_seq)
    ref = _torch_run(name, params, grad_seq)
    assert all(p.dtype == dtype for p in ours.values())
    assert _max_rel_err(ours, ref) < rtol


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_updates_the_callers_arrays_in_place(name):
    params = _params(np.float64)
    W_h = params["layer0.W_h"]
    before = W_h.copy()
    cls, _, kwargs = OPTIMIZERS[name]
    cls(params, **kwargs).step(_grad_sequence(params, 1)[0])
    assert params["layer0.W_h"] is W_h and not np.array_equal(W_h, before)


def test_float32_params_accept_float64_grads_and_stay_float32():
    params = _params(np.float32)
    opt = Adam(params)
    opt.step(_grad_sequence(_params(np.float64), 1)[0])
    assert all(p.dtype == np.float32 for p in params.values())
    assert all(v.dtype == np.float32 for k, v in opt.state_dict().items() if k != "step")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_nonfinite_gradient_is_refused_and_nothing_changes(name):
    params = _params(np.float64)
    cls, _, kwargs = OPTIMIZERS[name]
    opt = cls(params, **kwargs)
    for grads in _grad_sequence(params, 2):
        opt.step(grads)
    params_before = {k: p.copy() for k, p in params.items()}
    state_before = opt.state_dict()
    bad = _grad_sequence(params, 1, seed=5)[0]  # "layer0.W_x" (first key) stays finite
    bad["layer0.W_h"][2, 3] = np.nan
    bad["c"][0] = -np.inf
    with pytest.raises(NonFiniteGradientError, match=r"layer0\.W_h has nan, c has inf") as info:
        opt.step(bad)
    assert isinstance(info.value, FloatingPointError)
    assert info.value.kinds == {"layer0.W_h": "nan", "c": "inf"}
    for k in params:
        assert np.array_equal(params[k], params_before[k])
    state_after = opt.state_dict()
    assert state_after.keys() == state_before.keys()
    for k in state_before:
        assert np.array_equal(state_after[k], state_before[k])


def test_float64_gradient_overflowing_float32_is_refused():
    params = _params(np.float32)
    grads = _grad_sequence(_params(np.float64), 1)[0]
    grads["W_y"][0, 0] = 1e300  # finite in float64, inf once cast to the float32 parameters
    with pytest.raises(NonFiniteGradientError, match="W_y has inf"):
        SGD(params, lr=0.1).step(grads)


@pytest.mark.parametrize("change, reason", [
    (lambda g: g.pop("c"), r"missing \['c'\]"),
    (lambda g: g.update(extra=np.zeros(2)), r"unexpected \['extra'\]"),
    (lambda g: g.update(c=np.zeros(4)), r"grads\['c'\] must have shape \(5,\)"),
])
def test_step_refuses_grads_that_do_not_match_params(change, reason):
    params = _params(np.float64)
    grads = _grad_sequence(params, 1)[0]
    change(grads)
    with pytest.raises(ValueError, match=reason):
        Adam(params).step(grads)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_round_trip_resumes_identically(name):
    n, m = 3, 4
    params = _params(np.float32)
    grad_seq = _grad_sequence(params, n + m)
    straight = _ours_run(name, params, grad_seq)

    cls, _, kwargs = OPTIMIZERS[name]
    first = {k: p.copy() for k, p in params.items()}
    opt = cls(first, **kwargs)
    for grads in grad_seq[:n]:
        opt.step(grads)
    buffer = io.BytesIO()  # through .npz, as a checkpoint stores it
    np.savez(buffer, **opt.state_dict())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as saved:
        state = dict(saved)

    resumed_params = {k: p.copy() for k, p in first.items()}
    resumed = cls(resumed_params, **kwargs)
    resumed.load_state_dict(state)
    for grads in grad_seq[n:]:
        resumed.step(grads)
    for k in params:
        assert np.array_equal(resumed_params[k], straight[k])


@pytest.mark.parametrize("change, reason", [
    (lambda d: d.pop("m.W_y"), r"missing \['m.W_y'\]"),
    (lambda d: d.update({"sum.W_y": np.zeros((5, 8))}), r"unexpected \['sum.W_y'\]"),
    (lambda d: d.update({"v.c": np.zeros(4)}), r"'v.c' must be finite floats of shape \(5,\)"),
    (lambda d: d.update({"v.c": np.full(5, np.nan)}), "'v.c' must be finite"),
    (lambda d: d.update(step=np.array(-1)), "'step' must be a non-negative integer"),
    (lambda d: d.update(step=np.array(1.5)), "'step' must be a non-negative integer"),
])
def test_load_state_dict_refuses_mismatched_state(change, reason):
    params = _params(np.float64)
    opt = Adam(params)
    opt.step(_grad_sequence(params, 1)[0])
    state = opt.state_dict()
    change(state)
    fresh = Adam({k: p.copy() for k, p in params.items()})
    with pytest.raises(ValueError, match=reason):
        fresh.load_state_dict(state)
    assert fresh.step_count == 0


def test_make_optimizer_names():
    params = _params(np.float64)
    assert make_optimizer("momentum", params, 0.1).momentum == 0.9
    assert make_optimizer("momentum", params, 0.1, momentum=0.5).momentum == 0.5
    assert make_optimizer("sgd", params, 0.1).momentum == 0.0
    assert isinstance(make_optimizer("adagrad", params, 0.1), Adagrad)
    adam = make_optimizer("adam", params, 0.002, betas=(0.5, 0.9))
    assert isinstance(adam, Adam) and (adam.lr, adam.beta1) == (0.002, 0.5)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; choose one of"):
        make_optimizer("rmsprop", params, 0.1)


@pytest.mark.parametrize("kwargs, reason", [
    ({"lr": 0.0}, "lr must be a positive"),
    ({"lr": np.nan}, "lr must be a positive"),
    ({"lr": 0.1, "momentum": 1.0}, r"momentum must be in \[0, 1\)"),
])
def test_optimizer_refuses_bad_hyperparameters(kwargs, reason):
    with pytest.raises(ValueError, match=reason):
        SGD(_params(np.float64), **kwargs)


def test_optimizer_refuses_non_float_params():
    with pytest.raises(ValueError, match=r"params\['n'\] must be a writable float ndarray"):
        SGD({"n": np.arange(3)}, lr=0.1)


def _torch_clip(grads, clip):
    tensors = []
    for g in grads.values():
        t = torch.zeros(g.shape, dtype=TORCH_DTYPE[g.dtype.type], requires_grad=True)
        t.grad = torch.tensor(g.copy())
        tensors.append(t)
    total = clip(tensors)
    return {k: t.grad.numpy() for k, t in zip(grads, tensors)}, total


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 1e-6)])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])  # below and above the gradient's norm (~30)
def test_clip_grad_norm_matches_torch(max_norm, dtype, rtol):
    # float64: one sqrt and one multiply, ~1e-16. float32: torch sums squares in float32 and
    # scales by a float32 coefficient, we sum in float64: a few float32 ulps, 1e-6.
    grads = _grad_sequence(_params(dtype), 1)[0]
    originals = {k: g.copy() for k, g in grads.items()}
    clipped, norm = clip_grad_norm(grads, max_norm)
    ref, ref_norm = _torch_clip(grads, lambda ts: torch.nn.utils.clip_grad_norm_(ts, max_norm))
    assert norm == pytest.approx(float(ref_norm), rel=rtol)
    assert _max_rel_err(clipped, ref) < rtol
    assert all(clipped[k].dtype == dtype for k in grads)
    for k in grads:  # the input is untouched and shares no memory with the output
        assert np.array_equal(grads[k], originals[k])
        assert not np.shares_memory(clipped[k], grads[k])


def test_clip_grad_norm_leaves_small_gradients_unchanged():
    grads = {"W_h": np.array([[0.3, -0.4]])}
    clipped, norm = clip_grad_norm(grads, max_norm=1.0)
    assert norm == pytest.approx(0.5, rel=1e-15)
    np.testing.assert_array_equal(clipped["W_h"], grads["W_h"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_value_matches_torch(dtype):
    grads = _grad_sequence(_params(dtype), 1)[0]
    originals = {k: g.copy() for k, g in grads.items()}
    clipped = clip_grad_value(grads, 0.05)
    ref, _ = _torch_clip(grads, lambda ts: torch.nn.utils.clip_grad_value_(ts, 0.05))
    for k in grads:
        assert np.array_equal(clipped[k], ref[k]) and clipped[k].dtype == dtype
        assert np.array_equal(grads[k], originals[k])


@settings(deadline=None, max_examples=50)  # a few tiny arrays per example
@given(seed=st.integers(0, 2**32 - 1), log_scale=st.floats(-4, 8), log_max=st.floats(-3, 3),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_clipped_global_norm_never_exceeds_max_norm(seed, log_scale, log_max, dtype):
    rng = np.random.default_rng(seed)
    grads = {"W_x": (rng.standard_normal((4, 3)) * 10.0 ** log_scale).astype(dtype),
             "b": (rng.standard_normal(4) * 10.0 ** log_scale).astype(dtype)}
    max_norm = 10.0 ** log_max
    clipped, _ = clip_grad_norm(grads, max_norm)
    # torch's formula max_norm / (norm + 1e-6) is below max_norm / norm only by ~1e-6 / norm,
    # which rounding of the scaled entries can exceed: allow a few ulps of the dtype.
    assert global_norm(clipped) <= max_norm * (1 + 4 * np.finfo(dtype).eps)


def test_global_norm_and_nonfinite_keys():
    grads = {"a": np.array([3.0], dtype=np.float32), "b": np.array([[4.0]])}
    assert global_norm(grads) == 5.0
    assert nonfinite_keys(grads) == []
    mixed = {"a": np.array([np.inf]), "b": np.zeros(2), "c": np.array([np.nan])}
    assert nonfinite_keys(mixed) == ["a", "c"]


@pytest.mark.parametrize("fn, arg", [(clip_grad_norm, -1.0), (clip_grad_value, 0.0)])
def test_clipping_refuses_non_positive_threshold(fn, arg):
    with pytest.raises(ValueError, match="must be a positive number"):
        fn({"W_h": np.ones(2)}, arg)
