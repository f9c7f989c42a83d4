"""Output layer, softmax cross-entropy and perplexity against PyTorch and finite differences."""
import numpy as np
import pytest
import torch

import rnn_core as rc
from rnn_core.gradcheck import numerical_gradient, relative_error


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_softmax_cross_entropy_matches_torch(reduction):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((5, 3, 7)) * 3
    targets = rng.integers(0, 7, size=(5, 3))
    loss, dlogits = rc.softmax_cross_entropy(logits, targets, reduction)
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(lt.reshape(-1, 7), torch.tensor(targets.reshape(-1)),
                                            reduction=reduction)
    ref.backward()
    assert abs(loss - ref.item()) < 1e-12 * max(1.0, abs(loss))
    assert relative_error(dlogits, lt.grad.numpy()) < 1e-12


def test_cross_entropy_is_stable_for_huge_logits():
    loss, d = rc.softmax_cross_entropy(np.array([[1000.0, 0.0, -1000.0]]), np.array([0]))
    assert loss == pytest.approx(0.0, abs=1e-12) and np.isfinite(d).all()


def test_uniform_model_has_perplexity_equal_to_vocabulary_size():
    V = 11
    loss, _ = rc.softmax_cross_entropy(np.zeros((4, V)), np.arange(4))
    assert rc.perplexity(loss) == pytest.approx(V, rel=1e-12)


def test_perplexity_of_a_curve_is_element_wise_and_of_one_loss_a_float():
    losses = np.array([0.0, np.log(2.0), np.log(80.0)])
    np.testing.assert_allclose(rc.perplexity(losses), [1.0, 2.0, 80.0], rtol=1e-15)
    assert type(rc.perplexity(np.log(80.0))) is float


def test_linear_head_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    Hs, W_y, c = rng.standard_normal((4, 2, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    targets = rng.integers(0, 5, size=(4, 2))

    def loss():
        return rc.softmax_cross_entropy(rc.linear_forward(Hs, W_y, c), targets, "sum")[0]

    _, dO = rc.softmax_cross_entropy(rc.linear_forward(Hs, W_y, c), targets, "sum")
    dW_y, dc, dHs = rc.linear_backward(dO, Hs, W_y)
    for analytic, array in ((dW_y, W_y), (dc, c), (dHs, Hs)):
        assert relative_error(analytic, numerical_gradient(loss, array)) < 1e-8


@pytest.mark.parametrize("targets,message", [
    (np.array([0, 7]), r"targets must be integers in \[0, 7\)"),
    (np.array([0.5, 1.0]), "integers"),
    (np.array([0, 1, 2]), "shape of logits"),
])
def test_cross_entropy_rejects_bad_targets(targets, message):
    logits = np.zeros((2, 7))
    with pytest.raises(ValueError, match=message):
        rc.softmax_cross_entropy(logits, targets)
