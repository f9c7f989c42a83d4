"""Tests for rnn_core.ngram: normalisation, agreement with a plain-Python reference, limits."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_core.corpora import arithmetic_text
from rnn_core.ngram import NGramModel, best_baseline
from rnn_core.text import Vocab, split

FAST = settings(deadline=None, max_examples=40)  # small budget: the suite runs on 2 shared cores

ids_strategy = st.lists(st.integers(0, 3), min_size=1, max_size=120)  # V = 4: contexts repeat
orders = st.integers(1, 5)
alphas = st.sampled_from([0.01, 0.5, 4.0, 100.0])


def reference_prob(train, V, n, alpha, context):
    """The module docstring's recursion, written with Counters and no NumPy tricks."""
    p = [1.0 / V] * V
    for k in range(1, min(n, len(context) + 1) + 1):
        h = tuple(context[len(context) - (k - 1):]) if k > 1 else ()
        follow = Counter(train[t] for t in range(k - 1, len(train))
                         if tuple(train[t - (k - 1):t]) == h)
        total, weight = sum(follow.values()), alpha * max(len(follow), 1)
        p = [(follow[c] + weight * p[c]) / (total + weight) for c in range(V)]
    return np.array(p)


@FAST
@given(train=ids_strategy, context=st.lists(st.integers(0, 3), max_size=6), n=orders, alpha=alphas)
def test_probabilities_sum_to_one_for_seen_and_unseen_contexts(train, context, n, alpha):
    p = NGramModel(n, alpha).fit(train, 4).prob(context)
    assert p.shape == (4,) and np.all(p > 0)
    assert abs(p.sum() - 1.0) < 1e-12  # a handful of float64 roundings


@FAST
@given(train=ids_strategy, context=st.lists(st.integers(0, 3), max_size=6), n=orders, alpha=alphas)
def test_prob_matches_plain_python_reference(train, context, n, alpha):
    model = NGramModel(n, alpha).fit(train, 4)
    # same formula evaluated in a different order: only rounding differs
    np.testing.assert_allclose(model.prob(context), reference_prob(train, 4, n, alpha, context),
                               rtol=1e-12)


@FAST
@given(train=ids_strategy, held_out=st.lists(st.integers(0, 3), min_size=1, max_size=30),
       n=orders)
def test_sequence_log_probs_agree_with_prob_of_each_prefix(train, held_out, n):
    model = NGramModel(n).fit(train, 4)
    log_p = model.log_probs_by_order(held_out)
    assert log_p.shape == (n, len(held_out))
    expected = [np.log(model.prob(held_out[:t])[c]) for t, c in enumerate(held_out)]
    np.testing.assert_allclose(log_p[-1], expected, rtol=1e-12)
    assert model.log_likelihood(held_out) == pytest.approx(sum(expected), rel=1e-12)


def test_unigram_perplexity_equals_direct_formula():
    train = [0, 0, 1, 2, 0, 1, 0, 0, 2, 0]
    val = [0, 1, 1, 3, 0]
    V, alpha = 5, 0.7
    counts, N, seen = np.bincount(train, minlength=V), len(train), 3
    p = (counts + alpha * seen / V) / (N + alpha * seen)
    expected = np.exp(-np.mean(np.log(p[val])))
    assert NGramModel(1, alpha).fit(train, V).perplexity(val) == pytest.approx(expected, rel=1e-12)


def test_huge_alpha_gives_the_uniform_perplexity_V():
    rng = np.random.default_rng(0)
    train, val = rng.integers(0, 7, 500), rng.integers(0, 7, 100)
    for n in (1, 3, 5):
        # counts of at most 500 against pseudo-counts of 1e12: relative effect below 1e-9
        assert NGramModel(n, 1e12).fit(train, 7).perplexity(val) == pytest.approx(7, rel=1e-8)


def test_periodic_text_has_perplexity_near_one_once_context_is_long_enough():
    period = Vocab.from_text("the cat sat. ").encode("the cat sat. ")  # longest repeat: 2 chars
    text = np.tile(period, 800)
    train, val = text[:9000], text[9000:]
    assert NGramModel(1).fit(train, 11).perplexity(val) > 7
    # each 4-character context is followed by one character ~700 times; smoothing leaves <1 %
    assert NGramModel(4).fit(train, 11).perplexity(val) < 1.01
    assert NGramModel(5).fit(train, 11).perplexity(val) < 1.01


def test_higher_order_lowers_perplexity_on_structured_arithmetic_text():
    text = arithmetic_text(n_lines=3000)
    vocab = Vocab.from_text(text)
    train, val = split(vocab.encode(text))
    result = best_baseline(train, val, vocab.size)
    values = [result.perplexities[n] for n in range(1, 6)]
    assert all(a > b for a, b in zip(values, values[1:])), values
    assert result.best_n == 5 and result.best_perplexity == values[-1]


def test_best_baseline_equals_separately_fitted_models():
    rng = np.random.default_rng(1)
    train, val = rng.integers(0, 5, 2000), rng.integers(0, 5, 300)
    result = best_baseline(train, val, 5, n_max=3, alpha=2.0)
    assert set(result.perplexities) == {1, 2, 3}
    for n in (1, 2, 3):
        separate = NGramModel(n, 2.0).fit(train, 5).perplexity(val)
        assert result.perplexities[n] == pytest.approx(separate, rel=1e-12)
    assert result.best_perplexity == min(result.perplexities.values())


def test_first_character_of_a_sequence_is_scored_by_the_unigram():
    model = NGramModel(5).fit([0, 1, 2, 0, 1, 2, 1], 3)
    log_p = model.log_probs_by_order([2, 0, 1])
    assert log_p[4, 0] == pytest.approx(log_p[0, 0], rel=1e-15)
    assert log_p[4, 0] == pytest.approx(np.log(NGramModel(1).fit([0, 1, 2, 0, 1, 2, 1], 3)
                                               .prob([])[2]), rel=1e-15)


@pytest.mark.parametrize("n, alpha, match", [(0, 1.0, "n must be"), (6, 1.0, "n must be"),
                                             (2, 0.0, "alpha must be"), (2, -1.0, "alpha must be")])
def test_model_rejects_bad_order_or_alpha(n, alpha, match):
    with pytest.raises(ValueError, match=match):
        NGramModel(n, alpha)


def test_model_rejects_use_before_fit_and_ids_outside_vocabulary():
    with pytest.raises(ValueError, match="not fitted"):
        NGramModel(2).prob([0])
    with pytest.raises(ValueError, match=r"ids must be in \[0, V\) with V=3"):
        NGramModel(2).fit([0, 1, 3], 3)
    with pytest.raises(ValueError, match="context_ids must be in"):
        NGramModel(2).fit([0, 1, 2], 3).prob([5])
