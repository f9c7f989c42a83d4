"""Tests for rnn_core.text: vocabulary, split, truncated-BPTT windows, temperature sampling.

Upload checks (decode_upload) are tested in test_corpora.py, beside the corpora.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_core.text import (
    BatchStream,
    Vocab,
    sample,
    sample_from_probs,
    softmax_with_temperature,
    split,
    windows,
)

FAST = settings(deadline=None, max_examples=40)  # small budget: the suite runs on 2 shared cores


# --- Vocab ---------------------------------------------------------------------------------

@FAST
@given(st.text(min_size=1, max_size=200))
def test_vocab_round_trip_is_exact_for_any_unicode_text(text):
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    assert ids.dtype == np.int32
    assert vocab.decode(ids) == text


def test_vocab_from_text_holds_sorted_distinct_characters():
    vocab = Vocab.from_text("hello, world\n")
    assert vocab.chars == "\n ,dehlorw"
    assert vocab.size == len(vocab) == 10
    np.testing.assert_array_equal(vocab.encode("hello"), [5, 4, 6, 6, 7])


def test_vocab_from_chars_keeps_checkpoint_order():
    vocab = Vocab.from_chars("zay")
    np.testing.assert_array_equal(vocab.encode("yaz"), [2, 1, 0])
    assert vocab.decode([0, 1, 2]) == "zay"
    assert Vocab.from_chars(vocab.chars) == vocab


def test_encode_names_first_unknown_character_and_its_position():
    vocab = Vocab.from_text("abc")
    with pytest.raises(ValueError, match=r"'x' at position 3 is not in the vocabulary"):
        vocab.encode("abcxaby")


@pytest.mark.parametrize("chars", ["", "abca"])
def test_vocab_rejects_empty_or_repeated_characters(chars):
    with pytest.raises(ValueError, match="chars must"):
        Vocab.from_chars(chars)


@pytest.mark.parametrize("ids", [[0, 3], [-1], [[0, 1]]])
def test_decode_rejects_ids_outside_the_vocabulary_or_not_1d(ids):
    with pytest.raises(ValueError, match="ids must"):
        Vocab.from_text("abc").decode(ids)


def test_empty_text_encodes_to_empty_int32_and_back():
    vocab = Vocab.from_text("ab")
    ids = vocab.encode("")
    assert ids.shape == (0,) and ids.dtype == np.int32
    assert vocab.decode(ids) == vocab.decode([]) == ""


def test_decode_rejects_float_ids():
    with pytest.raises(ValueError, match="1-D sequence of integers"):
        Vocab.from_text("ab").decode(np.array([0.0, 1.0]))


# --- split ---------------------------------------------------------------------------------

def test_split_keeps_contiguous_head_for_training_and_tail_for_validation():
    ids = np.arange(100)
    train, val = split(ids, val_fraction=0.1)
    np.testing.assert_array_equal(train, np.arange(90))
    np.testing.assert_array_equal(val, np.arange(90, 100))


@pytest.mark.parametrize("n, fraction", [(3, 0.1), (10, 0.9), (1, 0.5)])
def test_split_rejects_text_too_short_for_two_characters_per_part(n, fraction):
    with pytest.raises(ValueError, match="too short to split"):
        split(np.arange(n), val_fraction=fraction)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2])
def test_split_rejects_fraction_outside_open_unit_interval(fraction):
    with pytest.raises(ValueError, match="val_fraction must be in"):
        split(np.arange(100), val_fraction=fraction)


# --- truncated-BPTT windows ----------------------------------------------------------------
# With ids = arange(N), every id is its own position, so coverage and shifts can be read off.

@FAST
@given(n=st.integers(2, 400), batch_size=st.integers(1, 8), seq_len=st.integers(1, 20))
def test_one_epoch_covers_every_used_position_once_with_shifted_targets(n, batch_size, seq_len):
    stream_len = (n - 1) // batch_size
    if stream_len < seq_len:
        with pytest.raises(ValueError, match="too short"):
            BatchStream(np.arange(n), batch_size, seq_len)
        return
    epoch = list(windows(np.arange(n), batch_size, seq_len))
    K = stream_len // seq_len
    assert len(epoch) == K == BatchStream(np.arange(n), batch_size, seq_len).windows_per_epoch
    for X, Y in epoch:
        assert X.shape == Y.shape == (seq_len, batch_size)
        np.testing.assert_array_equal(Y, X + 1)  # each target is the next character
    for (X, _), (X_next, _) in zip(epoch, epoch[1:]):
        np.testing.assert_array_equal(X_next[0], X[-1] + 1)  # every row continues where it ended
    seen = np.sort(np.concatenate([X.ravel() for X, _ in epoch]))
    expected = np.sort((np.arange(batch_size)[:, None] * stream_len
                        + np.arange(K * seq_len)[None, :]).ravel())
    np.testing.assert_array_equal(seen, expected)  # no overlap, no gap
    assert seen.max() + 1 <= n - 1  # the last target still exists


def test_batch_stream_cycles_epochs_and_flags_each_restart():
    stream = BatchStream(np.arange(41), batch_size=2, seq_len=5)  # L = 20, 4 windows
    batches = [next(stream) for _ in range(9)]
    assert [b.index for b in batches] == [0, 1, 2, 3, 0, 1, 2, 3, 0]
    assert [b.epoch for b in batches] == [0, 0, 0, 0, 1, 1, 1, 1, 2]
    assert [b.new_epoch for b in batches] == [True, False, False, False] * 2 + [True]
    np.testing.assert_array_equal(batches[4].X, batches[0].X)
    assert stream.tokens_per_window == 10


def test_batch_stream_error_states_the_characters_needed():
    with pytest.raises(ValueError, match=r"at least 321 characters; got 100"):
        BatchStream(np.arange(100), batch_size=5, seq_len=64)


def test_windows_are_copies_the_caller_may_modify():
    stream = BatchStream(np.arange(50), batch_size=2, seq_len=4)
    X, _ = stream.window(0)
    X[:] = -1
    assert stream.window(0)[0].min() >= 0


@pytest.mark.parametrize("batch_size, seq_len", [(0, 4), (2, 0), (2.5, 4)])
def test_batch_stream_rejects_non_positive_sizes(batch_size, seq_len):
    with pytest.raises(ValueError, match="must be a positive int"):
        BatchStream(np.arange(100), batch_size, seq_len)


# --- temperature and sampling --------------------------------------------------------------

def test_temperature_one_is_plain_softmax():
    logits = np.array([1.0, 2.0, 0.5, -1.0])
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(softmax_with_temperature(logits, 1.0), expected, rtol=1e-15)


def test_temperature_zero_puts_all_mass_on_the_first_largest_logit():
    logits = np.array([[0.1, 3.0, 3.0, -2.0], [5.0, 1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(softmax_with_temperature(logits, 0.0),
                                  [[0, 1, 0, 0], [1, 0, 0, 0]])


def test_low_temperature_approaches_greedy_and_high_approaches_uniform():
    logits = np.array([0.0, 1.0, 3.0, 2.0])
    cold = softmax_with_temperature(logits, 1e-3)
    hot = softmax_with_temperature(logits, 1e6)
    assert cold[2] > 1 - 1e-12  # other terms are exp(-1000) or smaller
    np.testing.assert_allclose(hot, 0.25, atol=1e-6)  # differences of order 3 / 1e6


def test_softmax_does_not_overflow_on_large_logits_and_ignores_shifts():
    logits = np.array([1000.0, 1001.0, 999.0])
    p = softmax_with_temperature(logits, 0.5)
    np.testing.assert_allclose(p, softmax_with_temperature(logits - 1000.0, 0.5), rtol=1e-12)
    assert np.isclose(p.sum(), 1.0, rtol=0, atol=1e-15)


@pytest.mark.parametrize("temperature", [-0.1, float("nan"), float("inf")])
def test_softmax_rejects_negative_or_non_finite_temperature(temperature):
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        softmax_with_temperature(np.zeros(3), temperature)


def test_softmax_rejects_nan_logits():
    with pytest.raises(ValueError, match="logits must be finite"):
        softmax_with_temperature(np.array([0.0, np.nan]), 1.0)


def test_sampling_frequencies_match_probabilities_and_skip_zero_entries():
    probs = np.array([0.5, 0.0, 0.3, 0.2, 0.0])
    rng = np.random.default_rng(0)
    draws = sample_from_probs(np.tile(probs, (40_000, 1)), rng)
    freq = np.bincount(draws, minlength=5) / draws.size
    # standard error sqrt(p(1-p)/n) <= 0.0025, so 0.01 is four standard errors
    np.testing.assert_allclose(freq, probs, atol=0.01)
    assert freq[1] == 0 and freq[4] == 0


def test_sampling_is_reproducible_with_the_same_seed_and_returns_int_for_one_row():
    probs = np.full(10, 0.1)
    first = [sample_from_probs(probs, np.random.default_rng(7)) for _ in range(3)]
    assert isinstance(first[0], int) and len(set(first)) == 1
    a = sample_from_probs(np.tile(probs, (50, 1)), np.random.default_rng(3))
    b = sample_from_probs(np.tile(probs, (50, 1)), np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


def test_sample_at_temperature_zero_is_greedy():
    logits = np.array([[0.2, 0.1, 4.0], [9.0, 0.0, 8.9]])
    rng = np.random.default_rng(1)
    for _ in range(20):
        np.testing.assert_array_equal(sample(logits, 0.0, rng), [2, 0])


def test_sample_from_probs_rejects_unnormalised_rows_and_legacy_rng():
    with pytest.raises(ValueError, match="sum to 1"):
        sample_from_probs(np.array([0.5, 0.6]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        sample_from_probs(np.array([0.5, 0.5]), np.random.RandomState(0))
