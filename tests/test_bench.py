"""The benchmark experiments measure what the engine computes (no timing here: speed lives in bench/)."""
import pytest

from bench.lstm_ceiling import check_against_rnn_core


def test_lstm_ceiling_experiment_matches_rnn_core_in_float64():
    # Same float64 arithmetic in another order: loss, gradients and final state agree to 1e-12.
    for seed in (0, 1):
        assert check_against_rnn_core(seed=seed, H=8) < 1e-12


def test_lstm_ceiling_check_catches_a_wrong_gradient(monkeypatch):
    import bench.lstm_ceiling as ceiling

    original = ceiling.FeatureMajorLSTM.loss_and_grads

    def off_by_a_little(self, *args):
        loss, grads, state = original(self, *args)
        grads["l0.W_h"] = grads["l0.W_h"] * (1 + 1e-9)
        return loss, grads, state

    monkeypatch.setattr(ceiling.FeatureMajorLSTM, "loss_and_grads", off_by_a_little)
    with pytest.raises(AssertionError, match="disagrees"):
        check_against_rnn_core(H=8)
