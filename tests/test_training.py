"""Training sessions: learning beats the baselines, checkpoints resume exactly, NaN pauses and
restores, settings change without losing weights, histories stay small."""
import io

import numpy as np
import pytest

from rnn_core import training as tr
from rnn_core.checkpoint import CheckpointError, save_checkpoint
from rnn_core.corpora import arithmetic_text

TEXT = arithmetic_text(n_lines=2000)  # ~16 K characters of "a+b=c" lines, V = 13
TINY = tr.TrainConfig(cell="lstm", hidden_size=8, num_layers=2, seq_len=8, batch_size=4,
                      lr=1e-2, total_steps=40, dtype="float64", eval_every=5,
                      checkpoint_every=5, milestones=(3, 12), sample_chars=20)


def test_trained_model_beats_unigram_baseline_by_a_wide_margin():
    config = tr.TrainConfig(cell="rnn", hidden_size=32, seq_len=32, batch_size=16, lr=1e-2,
                            total_steps=150, eval_every=50, milestones=())
    run = tr.new_run(TEXT, config, "arithmetic")
    tr.train_for(run, steps=150)
    unigram = run.baseline.perplexities[1]
    assert run.step == 150 and run.status == "done"
    # Seeded and deterministic; a model that learned nothing sits at the unigram (about 10.5),
    # a trained one near the 5-gram (about 3.1).
    assert run.val_perplexity < 0.4 * unigram


def _same_run_state(a, b):
    for k in a.model.params:
        np.testing.assert_array_equal(a.model.params[k], b.model.params[k], err_msg=k)
    sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    for x, y in zip(a.states, b.states):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert (a.step, a.stream.epoch, a.stream.index) == (b.step, b.stream.epoch, b.stream.index)
    timed = ("tokens_per_s",)  # wall-clock speed differs between any two runs
    assert {k: v for k, v in a.history.train.items() if k not in timed} == \
        {k: v for k, v in b.history.train.items() if k not in timed}
    assert a.history.val == b.history.val
    assert a.samples == b.samples


@pytest.mark.parametrize("n", [7, 30])  # 30: the stream wraps to a new epoch before the save
def test_checkpoint_round_trip_resumes_bit_identically_float64(n):
    text = TEXT[:900]  # 810 training characters: 25 windows of 4 x 8, so epochs wrap
    straight = tr.new_run(text, TINY, "arithmetic", baseline=None)
    tr.train_for(straight, steps=n)
    data = tr.checkpoint_bytes(straight)
    resumed = tr.load_run(data, text, "arithmetic", baseline=None)
    assert resumed.step == n and resumed.status == "paused"

    tr.train_for(straight, steps=8)
    tr.train_for(resumed, steps=8)

    _same_run_state(straight, resumed)


def test_nan_weight_pauses_training_with_step_and_gradient_norm_then_restores_last_good():
    run = tr.new_run(TEXT[:900], TINY, "arithmetic", baseline=None)
    tr.train_for(run, steps=12)
    good = {k: v.copy() for k, v in run.model.params.items()}
    assert run.last_good_step == 10
    run.model.params["l1.W_h"][0, 0] = np.nan

    assert tr.train_for(run, steps=5) == 0
    assert run.status == "diverged" and run.step == 12
    assert "step 13" in run.message and "gradient norm nan" in run.message
    assert "step 10" in run.message  # the checkpoint it offers

    restored = tr.restore_last_good(run)
    assert restored.status == "paused" and restored.step == 10
    assert all(np.isfinite(p).all() for p in restored.model.params.values())
    assert restored.history.train["step"][-1] == 10
    tr.train_for(restored, steps=2)  # it trains again: steps 11, 12 reproduce the lost ones
    for k in good:
        np.testing.assert_array_equal(restored.model.params[k], good[k], err_msg=k)


def test_huge_learning_rate_diverges_without_warnings_and_keeps_a_finite_checkpoint():
    config = tr.with_settings(TINY, cell="rnn", optimizer="sgd", lr=1e38, clip=None, dtype="float32",
                              total_steps=200)
    run = tr.new_run(TEXT[:900], config, "arithmetic", baseline=None)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no leaked warnings
        while run.status != "diverged" and run.step < 200:
            tr.train_for(run, steps=10)
    assert run.status == "diverged"
    assert "Training paused at step" in run.message
    assert tr.restore_last_good(run).step == run.last_good_step


def test_milestone_samples_are_kept_at_their_steps_and_reproducible():
    a = tr.new_run(TEXT[:900], TINY, "arithmetic", baseline=None)
    b = tr.new_run(TEXT[:900], TINY, "arithmetic", baseline=None)
    tr.train_for(a, steps=15)
    for _ in range(5):
        tr.train_for(b, steps=3)
    assert [s for s, _ in a.samples] == [3, 12]
    assert a.samples == b.samples
    assert all(len(text) == 20 and set(text) <= set(a.vocab.chars) for _, text in a.samples)


def test_run_stops_at_total_steps_and_more_steps_let_it_continue():
    run = tr.new_run(TEXT[:900], tr.with_settings(TINY, total_steps=6), "arithmetic", baseline=None)
    assert tr.train_for(run, steps=100) == 6 and run.status == "done"
    assert run.history.val["step"] == [5, 6]  # every eval_every steps and at the end
    tr.update_settings(run, tr.with_settings(run.config, total_steps=8))
    assert run.status == "paused"
    assert tr.train_for(run, steps=100) == 2 and run.status == "done"


def test_update_settings_keeps_weights_and_refuses_architecture_changes():
    run = tr.new_run(TEXT[:900], TINY, "arithmetic", baseline=None)
    tr.train_for(run, steps=3)
    weights = {k: v.copy() for k, v in run.model.params.items()}
    tr.update_settings(run, tr.with_settings(run.config, lr=0.5, optimizer="momentum", batch_size=2))
    assert run.optimizer.lr == 0.5 and run.optimizer.momentum == 0.9
    assert run.stream.batch_size == 2 and run.stream.index == 0 and run.states is None
    for k in weights:
        np.testing.assert_array_equal(run.model.params[k], weights[k])
    assert tr.needs_new_weights(TINY, tr.with_settings(TINY, hidden_size=16))
    with pytest.raises(ValueError, match="start a new run"):
        tr.update_settings(run, tr.with_settings(run.config, cell="gru"))


def test_train_for_a_time_budget_takes_at_least_one_step():
    run = tr.new_run(TEXT[:900], TINY, "arithmetic", baseline=None)
    assert tr.train_for(run, seconds=0.0) == 1
    with pytest.raises(ValueError, match="give seconds or steps"):
        tr.train_for(run)


def test_history_thins_old_points_and_keeps_the_latest():
    history = tr.History(max_points=100)
    for step in range(1, 1001):
        history.add_train(step, 1.0 / step, 1.0, 1000.0)
    steps = history.train["step"]
    assert len(steps) <= 100 and steps[-1] == 1000 and steps[0] == 1
    assert steps == sorted(steps)
    history.truncate(500)
    assert history.train["step"][-1] <= 500


def test_load_run_refuses_foreign_damaged_and_mismatching_files():
    run = tr.new_run(TEXT[:900], TINY, "arithmetic", baseline=None)
    data = tr.checkpoint_bytes(run)
    with pytest.raises(CheckpointError, match="vocabulary .* does not match"):
        tr.load_run(data, "a different text with other letters " * 40, "other", baseline=None)
    with pytest.raises(CheckpointError, match="damaged|not a zip"):
        tr.load_run(data[: len(data) // 2], TEXT[:900], baseline=None)
    foreign = io.BytesIO()
    save_checkpoint(foreign, {"W": np.zeros(2)}, meta={"kind": "gates-page"})
    with pytest.raises(CheckpointError, match="not saved by the Char-RNN page"):
        tr.load_run(foreign.getvalue(), TEXT[:900], baseline=None)
    with pytest.raises(CheckpointError, match="not an RNN Lab checkpoint"):
        tr.load_run(b"PK\x03\x04 not really a zip", TEXT[:900], baseline=None)


def test_load_run_refuses_a_checkpoint_whose_weights_do_not_fit_its_settings():
    run = tr.new_run(TEXT[:900], TINY, "arithmetic", baseline=None)
    other = tr.new_run(TEXT[:900], tr.with_settings(TINY, hidden_size=6), "arithmetic", baseline=None)
    meta_of_run = tr.checkpoint_bytes(run)
    from rnn_core.checkpoint import load_checkpoint
    meta = load_checkpoint(meta_of_run).meta
    forged = io.BytesIO()
    save_checkpoint(forged, other.model.params, other.optimizer.state_dict(), meta)
    with pytest.raises(CheckpointError, match="does not fit its own settings"):
        tr.load_run(forged.getvalue(), TEXT[:900], baseline=None)


def test_config_check_names_the_bad_setting():
    with pytest.raises(ValueError, match="hidden_size must be a positive integer; got 0"):
        tr.TrainConfig(hidden_size=0).check()
    with pytest.raises(ValueError, match="cell must be one of"):
        tr.TrainConfig(cell="transformer").check()
    with pytest.raises(ValueError, match="clip must be a positive number or None"):
        tr.TrainConfig(clip=-1.0).check()
