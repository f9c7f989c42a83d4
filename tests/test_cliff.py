"""The single-unit cliff: the vectorised surface against the engine, gradients, clipped descent."""
import numpy as np
import pytest

import rnn_core as rc
from rnn_core import cliff as C

DEMO = dict(start=(2.2, -0.8), lr=0.5, n_steps=30)  # the page's default descent


def test_surface_matches_the_engine_at_every_sampled_grid_point():
    surf = C.surface(n=41)
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, 41, size=(25, 2)):
        loss, _ = C.loss_and_grad(surf.w[j], surf.b[i])
        # Same tanh recursion, but the engine adds W_x x = 0 and sums in another order: rounding,
        # amplified near the wall by up to (w tanh')^T, stays far below 1e-9 on this grid.
        assert surf.loss[i, j] == pytest.approx(loss, rel=1e-9, abs=1e-15)


def test_engine_gradient_matches_finite_differences_away_from_the_wall():
    for w, b in [(0.8, 0.1), (2.5, 0.3), (1.5, -0.9)]:
        _, grad = C.loss_and_grad(w, b)
        eps = 1e-6
        numeric = [(C.cliff_loss(w + eps, b) - C.cliff_loss(w - eps, b)) / (2 * eps),
                   (C.cliff_loss(w, b + eps) - C.cliff_loss(w, b - eps)) / (2 * eps)]
        assert rc.relative_error(grad, numeric) < 1e-7


def test_the_wall_is_steep_the_plateau_is_flat():
    # Across the boundary the loss jumps from ~0 to ~(1 + 0.6)^2 within a small change of b.
    column = C.cliff_loss(2.0, np.linspace(-1.0, 0.5, 3001))  # w = 2, b on a fine line
    jump = np.max(np.abs(np.diff(column)))
    assert jump > 1.0                                  # a cliff between neighbouring grid points
    assert column[0] > 2.0 and column[-1] < 0.2


@pytest.mark.parametrize("threshold", [0.1, 1.0, 3.0])
def test_clipped_descent_never_steps_further_than_lr_times_threshold(threshold):
    path = C.descent_path(**DEMO, threshold=threshold)
    assert np.all(path.step_norms <= DEMO["lr"] * threshold * (1 + 1e-12))
    np.testing.assert_allclose(np.linalg.norm(np.diff(path.points, axis=0), axis=1), path.step_norms,
                               rtol=1e-12)


def test_unclipped_descent_takes_the_full_gradient_step():
    path = C.descent_path(**DEMO)
    np.testing.assert_allclose(path.step_norms, DEMO["lr"] * path.grad_norms, rtol=1e-12)


def test_default_demo_unclipped_path_is_thrown_off_the_wall_clipped_one_lands():
    off = C.descent_path(**DEMO)
    clipped = C.descent_path(**DEMO, threshold=1.0)
    assert off.grad_norms.max() > 100                        # it hit the wall ...
    assert np.max(np.abs(off.points[-1])) > 10                # ... and was thrown far away
    assert clipped.losses[-1] < 1e-3 < off.losses[-1]         # the clipped path reached the valley


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="lr must be a positive number"):
        C.descent_path((1.0, 0.0), lr=0)
    with pytest.raises(ValueError, match="threshold must be a positive number or None"):
        C.descent_path((1.0, 0.0), threshold=-1)
    with pytest.raises(ValueError, match="start must be a finite pair"):
        C.descent_path((1.0, 0.0, 2.0))
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        C.surface(n=1)
