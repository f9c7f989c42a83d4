"""The character model: gradients (finite differences, PyTorch), carried state, one training step,
and the sampling / inspection helpers built on it."""
import numpy as np
import pytest
import torch

import rnn_core as rc
from rnn_core.charmodel import (NonFiniteStepError, char_forward, char_loss, check_ids,
                                make_char_model, train_step)
from rnn_core.interop import grads_from_pytorch, to_pytorch
from rnn_core.optim import SGD, Adam, global_norm
from rnn_core.sampling import hidden_activations, most_variable_units, next_char_probs, read, sample_text
from rnn_core.text import BatchStream, Vocab

FD_TOL = 1e-7     # float64 central differences: O(eps^2) + O(1e-16/eps) ~ 1e-9 on these sizes
TORCH_TOL = 1e-9  # float64: the two implementations differ only in rounding order
VARIANTS = [("rnn", {}), ("lstm", {}), ("gru", {"reset_after": False}), ("gru", {"reset_after": True})]
VARIANT_IDS = ["rnn", "lstm", "gru-cho", "gru-pytorch"]


def _random_states(model, B, rng):
    H = model.hidden_size
    return [(rng.standard_normal((B, H)), rng.standard_normal((B, H))) if model.kind == "lstm"
            else rng.standard_normal((B, H)) for _ in range(model.num_layers)]


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
def test_char_model_gradients_match_finite_differences_float64(kind, opts):
    V, H, L, T, B = 5, 3, 2, 4, 2
    model = make_char_model(kind, V, H, L, seed=1, dtype=np.float64, **opts)
    rng = np.random.default_rng(2)
    ids, targets = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    states0 = _random_states(model, B, rng)  # a carried state enters the window as a constant

    _, grads, _ = char_loss(model, ids, targets, states0)
    for name, param in model.params.items():
        numeric = rc.numerical_gradient(lambda: char_loss(model, ids, targets, states0)[0], param)
        assert rc.relative_error(grads[name], numeric) < FD_TOL, name


def _torch_char_model(model):
    """nn.RNN/LSTM/GRU (all layers) and nn.Linear holding the model's float64 weights."""
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[model.kind]
    rnn = cls(model.vocab_size, model.hidden_size, num_layers=model.num_layers).double()
    out = torch.nn.Linear(model.hidden_size, model.vocab_size).double()
    with torch.no_grad():
        for l, cell in enumerate(model.cells):
            for name, value in to_pytorch(cell, suffix=f"_l{l}").items():
                getattr(rnn, name).copy_(torch.from_numpy(value))
        out.weight.copy_(torch.from_numpy(model.params["W_y"]))
        out.bias.copy_(torch.from_numpy(model.params["c"]))
    return rnn, out


@pytest.mark.parametrize("kind,opts", [("rnn", {}), ("lstm", {}), ("gru", {"reset_after": True})],
                         ids=["rnn", "lstm", "gru-pytorch"])
def test_char_model_loss_and_gradients_match_torch_autograd_float64(kind, opts):
    V, H, L, T, B = 7, 4, 2, 6, 3
    model = make_char_model(kind, V, H, L, seed=3, dtype=np.float64, **opts)
    rng = np.random.default_rng(4)
    ids, targets = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    states0 = _random_states(model, B, rng)
    loss, grads, states = char_loss(model, ids, targets, states0)

    rnn, out = _torch_char_model(model)
    x = torch.nn.functional.one_hot(torch.from_numpy(ids), V).double()  # (T, B, V)
    h0 = torch.tensor(np.stack([s[0] if kind == "lstm" else s for s in states0]))
    c0 = torch.tensor(np.stack([s[1] for s in states0])) if kind == "lstm" else None
    Hs, final = rnn(x, (h0, c0) if kind == "lstm" else h0)
    t_loss = torch.nn.functional.cross_entropy(out(Hs).reshape(-1, V), torch.from_numpy(targets).reshape(-1))
    t_loss.backward()

    assert abs(loss - t_loss.item()) < TORCH_TOL * abs(loss)
    torch_grads = {n: p.grad.numpy() for n, p in rnn.named_parameters()}
    for l, cell in enumerate(model.cells):
        expected = grads_from_pytorch(cell, torch_grads, suffix=f"_l{l}")
        for name in cell.params:
            assert rc.relative_error(grads[f"l{l}.{name}"], expected[name]) < TORCH_TOL, (l, name)
    assert rc.relative_error(grads["W_y"], out.weight.grad.numpy()) < TORCH_TOL
    assert rc.relative_error(grads["c"], out.bias.grad.numpy()) < TORCH_TOL
    h_T = final[0] if kind == "lstm" else final
    assert rc.relative_error(np.stack([s[0] if kind == "lstm" else s for s in states]),
                             h_T.detach().numpy()) < TORCH_TOL


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
def test_carried_state_over_stream_windows_equals_one_long_forward(kind, opts):
    V, H, L, B, T, K = 6, 5, 2, 3, 4, 5
    model = make_char_model(kind, V, H, L, seed=5, dtype=np.float64, **opts)
    ids = np.random.default_rng(6).integers(0, V, B * T * K + 1)
    stream = BatchStream(ids, B, T)
    long_logits, long_states, _ = char_forward(model, stream.inputs[:, :K * T].T)  # (K*T, B, V)

    states, chunks = None, []
    for k in range(K):
        logits, states, _ = char_forward(model, stream.window(k)[0], states)
        chunks.append(logits)
    # Same operations on the same numbers in the same order: equal to the last bit.
    np.testing.assert_array_equal(np.concatenate(chunks), long_logits)
    for s, t in zip(states, long_states):
        np.testing.assert_array_equal(np.asarray(s), np.asarray(t))


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
def test_chunk_gradients_with_carried_state_sum_to_truncated_bptt_of_joined_sequence(kind, opts):
    """Windows of k steps with the state carried (detached) are exactly truncated BPTT(k, k)."""
    V, H, B, k, K = 5, 4, 2, 3, 4
    model = make_char_model(kind, V, H, 1, seed=7, dtype=np.float64, **opts)
    rng = np.random.default_rng(8)
    ids, targets = rng.integers(0, V, (k * K, B)), rng.integers(0, V, (k * K, B))

    summed, states = {name: 0.0 for name in model.params}, None
    for j in range(K):
        window = slice(j * k, (j + 1) * k)
        _, grads, states = char_loss(model, ids[window], targets[window], states)
        summed = {name: summed[name] + grads[name] / K for name in summed}  # each loss is a mean

    cell = model.cells[0]
    X = np.eye(V)[ids]                                       # (T, B, V) one-hot
    logits, _, cache = char_forward(model, ids)
    _, dlogits = rc.softmax_cross_entropy(logits, targets)
    _, _, dHs = rc.linear_backward(dlogits, cache.Hs, model.params["W_y"])
    Hs, seq_cache = rc.forward(cell, X)
    expected, _, _ = rc.truncated_backward(cell, dHs, seq_cache, k, k)
    for name in cell.params:
        assert rc.relative_error(summed[f"l0.{name}"], expected[name]) < 1e-12, name


def test_train_step_reports_norm_before_clipping_and_moves_params_by_the_clipped_step():
    model = make_char_model("gru", 9, 8, 2, seed=0, dtype=np.float64)
    rng = np.random.default_rng(1)
    ids, targets = rng.integers(0, 9, (5, 4)), rng.integers(0, 9, (5, 4))
    _, grads, _ = char_loss(model, ids, targets)
    before = {k: v.copy() for k, v in model.params.items()}
    clip = 1e-3  # far below the gradient norm, so clipping acts

    result = train_step(model, SGD(model.params, lr=1.0), ids, targets, clip=clip)

    assert result.grad_norm == pytest.approx(global_norm(grads), rel=1e-12)
    assert result.grad_norm > 100 * clip
    moved = global_norm({k: model.params[k] - before[k] for k in before})
    # g * clip / (norm + 1e-6), as torch's clip_grad_norm_; float64 rounding only
    assert moved == pytest.approx(clip * result.grad_norm / (result.grad_norm + 1e-6), rel=1e-12)


def test_train_step_with_nan_weight_raises_and_changes_nothing():
    model = make_char_model("lstm", 6, 4, 1, seed=0)
    opt = Adam(model.params, lr=1e-2)
    ids = np.random.default_rng(0).integers(0, 6, (4, 2))
    model.params["l0.W_h"][0, 0] = np.nan
    before = {k: v.copy() for k, v in model.params.items()}

    with pytest.raises(NonFiniteStepError, match="gradient norm nan"):
        train_step(model, opt, ids, ids, clip=5.0)

    for k in before:
        np.testing.assert_array_equal(model.params[k], before[k])  # NaN == NaN for this check
    assert opt.step_count == 0


def test_check_ids_names_the_argument_and_the_range():
    with pytest.raises(ValueError, match=r"ids must hold ids in \[0, 4\); got values from 0 to 4"):
        check_ids("ids", np.array([[0, 4]]), 4)
    with pytest.raises(ValueError, match=r"targets must be a non-empty \(T, B\) integer array"):
        check_ids("targets", np.zeros((3,)), 4)


def _model_and_vocab(kind="lstm", seed=0):
    vocab = Vocab("\nabcde ")
    return make_char_model(kind, vocab.size, 16, 2, seed=seed, dtype=np.float64), vocab


@pytest.mark.parametrize("seed", range(3))
def test_sampling_at_temperature_near_zero_equals_greedy(seed):
    model, vocab = _model_and_vocab(seed=seed)
    greedy = sample_text(model, vocab, "abc", 60, temperature=0, rng=seed)
    # At T = 1e-4 a runner-up keeps probability exp(-gap / 1e-4): nothing for gaps above 1e-2.
    assert sample_text(model, vocab, "abc", 60, temperature=1e-4, rng=seed + 10) == greedy


def test_greedy_sample_picks_the_argmax_of_next_char_probs_of_the_text_so_far():
    """Generation carries the state one character at a time; reading the text anew agrees."""
    model, vocab = _model_and_vocab("gru")
    text = "ab"
    generated = sample_text(model, vocab, text, 12, temperature=0)
    for char in generated:
        assert vocab.chars[int(np.argmax(next_char_probs(model, vocab, text)))] == char
        text += char


def test_sample_is_reproducible_from_its_seed_and_stays_in_the_vocabulary():
    model, vocab = _model_and_vocab("rnn")
    a = sample_text(model, vocab, "a", 200, temperature=1.0, rng=42)
    assert a == sample_text(model, vocab, "a", 200, temperature=1.0, rng=42)
    assert len(a) == 200 and set(a) <= set(vocab.chars)


def test_sample_refuses_empty_prime_and_unknown_characters():
    model, vocab = _model_and_vocab()
    with pytest.raises(ValueError, match="at least one character"):
        sample_text(model, vocab, "", 5)
    with pytest.raises(ValueError, match="'z' at position 1 is not in the vocabulary"):
        sample_text(model, vocab, "az", 5)


def test_hidden_activations_are_the_states_after_each_character():
    model, vocab = _model_and_vocab("lstm")
    acts = hidden_activations(model, vocab, "abc de", layer=1)
    assert acts.h.shape == acts.c.shape == (6, 16)
    _, states = read(model, vocab.encode("abc de"))
    np.testing.assert_array_equal(acts.h[-1], states[1][0][0])
    np.testing.assert_array_equal(acts.c[-1], states[1][1][0])
    assert hidden_activations(model, vocab, "abc", layer=0).h.shape == (3, 16)
    with pytest.raises(ValueError, match="layer must be an integer in"):
        hidden_activations(model, vocab, "abc", layer=2)


def test_most_variable_units_orders_units_by_their_spread_over_the_text():
    h = np.array([[0.0, 0.5, -0.2], [0.0, -0.5, 0.2], [0.0, 0.5, -0.2]])  # spreads 0, 0.47, 0.19
    assert most_variable_units(h, 2) == [1, 2]
    with pytest.raises(ValueError, match=r"h must be \(N, H\)"):
        most_variable_units(np.zeros(3))
