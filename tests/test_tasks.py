"""Long-lag tasks and the clipping demo's training loop: data, baselines, gradients, clipping, purity."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import rnn_core as rc
from rnn_core import tasks as K

FD_TOL = 1e-6  # float64 central differences through a T=6 tanh RNN (see rnn_core.gradcheck)


def test_adding_problem_marks_one_step_in_each_half_and_sums_them():
    T, B = 20, 500
    batch = K.adding_problem(T, B, np.random.default_rng(0))
    assert batch.X.shape == (T, B, 2) and batch.y.shape == (B,)
    values, markers = batch.X[..., 0], batch.X[..., 1]
    assert values.min() >= 0 and values.max() < 1
    assert np.all(markers.sum(axis=0) == 2)
    assert np.all(markers[:T // 2].sum(axis=0) == 1) and np.all(markers[T // 2:].sum(axis=0) == 1)
    np.testing.assert_allclose(batch.y, (values * markers).sum(axis=0), rtol=1e-6)


def test_adding_problem_predict_the_mean_baseline_is_one_sixth():
    batch = K.adding_problem(10, 200_000, np.random.default_rng(1), dtype=np.float64)
    O = np.ones((batch.y.size, 1))
    loss, _ = K.task_loss("adding", O, batch.y)
    # Var((y - 1)^2) = E(y-1)^4 - (1/6)^2 = 1/15 - 1/36 ~ 0.039: the mean of 2e5 has std 4.4e-4.
    assert loss == pytest.approx(K.baseline_loss("adding"), abs=2e-3)
    assert K.baseline_loss("adding") == pytest.approx(1 / 6)


def test_remember_first_targets_the_first_one_hot_symbol():
    batch = K.remember_first(15, 300, np.random.default_rng(2), n_symbols=5)
    assert batch.X.shape == (15, 300, 5)
    np.testing.assert_array_equal(batch.X.sum(axis=-1), 1)
    np.testing.assert_array_equal(batch.y, batch.X[0].argmax(axis=-1))
    assert set(np.unique(batch.y)) == set(range(5))


def test_remember_first_blind_guess_scores_log_k():
    batch = K.remember_first(5, 64, np.random.default_rng(3), n_symbols=6)
    loss, _ = K.task_loss("remember", np.zeros((64, 6)), batch.y)
    assert loss == pytest.approx(math.log(6), rel=1e-12)
    assert K.baseline_loss("remember", 6) == math.log(6)


@pytest.mark.parametrize("task", K.TASKS)
def test_loss_and_grads_match_finite_differences(task):
    config = K.ClipConfig(task=task, T=6, hidden=4, batch=3, seed=4)
    params = {k: v.astype(np.float64) for k, v in K.new_run(config).params.items()}
    batch = K.batch_for_step(config, 0)
    batch = K.Batch(batch.X.astype(np.float64), batch.y)
    _, grads = K.loss_and_grads(config, params, batch)
    for name, p in params.items():
        numeric = rc.numerical_gradient(lambda: K.loss_and_grads(config, params, batch)[0], p)
        assert rc.relative_error(grads[name], numeric) < FD_TOL, name


def test_train_chunk_is_pure_and_chunking_does_not_change_the_result():
    run0 = K.new_run(K.ClipConfig(T=10, hidden=8, batch=4, clip="norm", threshold=0.5))
    before = {k: v.copy() for k, v in run0.params.items()}
    two_chunks = K.train_chunk(K.train_chunk(run0, 3), 4)
    one_chunk = K.train_chunk(run0, 7)
    for k in before:
        np.testing.assert_array_equal(run0.params[k], before[k])   # the input run is untouched
        np.testing.assert_array_equal(two_chunks.params[k], one_chunk.params[k])
    assert run0.step == 0 and one_chunk.step == 7 and one_chunk.losses.shape == (7,)
    np.testing.assert_array_equal(two_chunks.norms, one_chunk.norms)


def test_runs_differing_only_in_clipping_start_alike_then_diverge():
    base = K.ClipConfig(T=20, hidden=8, batch=8, lr=0.5, rho=1.5, threshold=0.1)
    off = K.train_chunk(K.new_run(base._replace(clip="off")), 10)
    on = K.train_chunk(K.new_run(base._replace(clip="norm")), 10)
    assert off.losses[0] == on.losses[0] and off.norms[0] == on.norms[0]  # same weights, same batch
    assert on.norms[0] > base.threshold                                   # so clipping acted
    assert not np.array_equal(off.norms[1:], on.norms[1:])


@settings(max_examples=25, deadline=None)  # each example: 5 steps at T=12, H=6
@given(threshold=st.floats(0.01, 5.0), lr=st.floats(0.01, 1.0), mode=st.sampled_from(["norm", "value"]),
       seed=st.integers(0, 1000))
def test_clipping_never_lets_a_step_exceed_the_threshold(threshold, lr, mode, seed):
    config = K.ClipConfig(T=12, hidden=6, batch=4, lr=lr, rho=1.8, clip=mode, threshold=threshold,
                          seed=seed)
    run = K.new_run(config)
    for _ in range(5):
        after = K.train_chunk(run, 1)
        step = {k: after.params[k].astype(np.float64) - run.params[k] for k in run.params}
        # p - lr * g is rounded to float32: an absolute error of up to eps32 * |p| per entry.
        rounding = 2 * np.finfo(np.float32).eps * max(np.max(np.abs(p)) for p in run.params.values())
        if mode == "norm":
            # The rescaled gradient is float32 too: relative rounding 1e-6 is generous.
            assert after.clipped_norms[-1] <= threshold * (1 + 1e-6)
            step_norm = np.sqrt(sum(np.sum(d * d) for d in step.values()))
            n_entries = sum(p.size for p in run.params.values())
            assert step_norm <= lr * threshold * (1 + 1e-6) + rounding * np.sqrt(n_entries)
        else:
            # Entries are clamped to the threshold rounded to float32, exactly.
            assert after.max_abs[-1] <= np.float32(threshold)
            assert max(np.max(np.abs(d)) for d in step.values()) <= lr * np.float32(threshold) + rounding
        run = after


def test_unclipped_run_that_overflows_stops_and_keeps_finite_weights():
    run = K.new_run(K.ClipConfig(task="adding", T=50, lr=0.2, rho=1.5, clip="off"))
    run = K.train_chunk(run, 100)
    assert run.status.startswith("stopped at step") and run.step < 100
    assert all(np.all(np.isfinite(p)) for p in run.params.values())
    assert K.train_chunk(run, 5) is run  # a stopped run stays stopped


def test_default_demo_clipped_run_learns_what_the_unclipped_run_cannot():
    # The page's defaults: remember the first of 4 symbols over T=50, W_h at spectral radius 1.5.
    config = K.ClipConfig(task="remember", T=50, hidden=32, batch=32, lr=0.05, rho=1.5)
    off = K.train_chunk(K.new_run(config._replace(clip="off")), 300)
    norm = K.train_chunk(K.new_run(config._replace(clip="norm", threshold=1.0)), 300)
    assert off.status == norm.status == ""
    assert norm.losses[-50:].mean() < 0.5 * off.losses[-50:].mean()
    assert norm.norms.max() > 10 * config._replace(clip="norm", threshold=1.0).threshold


@pytest.mark.parametrize("field,value,message", [
    ("task", "copy", "task must be one of"), ("clip", "l1", "clip must be one of"),
    ("threshold", 0.0, "threshold must be a positive number"), ("T", 1, "T must be an integer >= 2"),
    ("lr", float("nan"), "lr must be a positive number"),
])
def test_bad_config_is_refused_with_the_field_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        K.new_run(K.ClipConfig()._replace(**{field: value}))
