"""rnn_core.unroll: the per-step trace against the engine's own BPTT, truncation and finite differences."""
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import rnn_core as rc
from rnn_core import unroll as U

from cases import VARIANT_IDS, VARIANTS

SUM_TOL = 1e-12  # float64: the running sum and the engine's batched products differ in rounding only
FD_TOL = 1e-6    # float64 central differences (PRODUCT.md target; observed ~1e-9)
STANDARD = ("many-to-many", "many-to-one", "one-to-many")


def _reference(trace):
    """The engine's own BPTT on the trace's layer-1 cell, computed without rnn_core.unroll."""
    m = trace.model
    cell = m.stack.cells[0][0]
    Hs, cache = rc.forward(cell, m.X[:, None, :])
    o = rc.linear_forward(Hs[:, 0], m.params["W_y"], m.params["c"])
    loss, dO_rows = rc.softmax_cross_entropy(o[m.has_loss], m.targets[m.has_loss], reduction="sum")
    dO = np.zeros_like(o)
    dO[m.has_loss] = dO_rows
    dW_y, dc, dHs = rc.linear_backward(dO, Hs[:, 0], m.params["W_y"])
    return cell, cache, dHs[:, None, :], loss, {"W_y": dW_y, "c": dc}


def test_hello_has_vocabulary_ehlo_one_hot_inputs_and_next_character_targets():
    vocab, X, targets = U.word_sequence("hello")
    assert vocab == ("e", "h", "l", "o")
    assert X.shape == (4, 4) and (X.sum(axis=1) == 1).all()
    assert [vocab[i] for i in X.argmax(axis=1)] == list("hell")
    assert [vocab[i] for i in targets] == list("ello")


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("architecture", STANDARD)
def test_running_sum_at_first_step_equals_engine_backward(kind, opts, architecture):
    trace = U.unroll(kind, word="hello", hidden_size=3, architecture=architecture, seed=1, **opts)
    cell, cache, dHs, loss, out_grads = _reference(trace)
    grads, _, _ = rc.backward(cell, dHs, cache)
    assert trace.loss == pytest.approx(loss, rel=SUM_TOL)
    for name, expected in {**grads, **out_grads}.items():
        assert rc.relative_error(trace.running[name][0], expected) < SUM_TOL, name
        assert np.array_equal(trace.grads[name], trace.running[name][0])
        assert np.array_equal(trace.full_grads[name], trace.grads[name])


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_dh_is_the_finite_difference_gradient_of_the_loss_wrt_each_hidden_state(kind):
    """dL/dh_t = from o_t + from step t+1, checked by perturbing h_t and re-running steps t+1..T."""
    trace = U.unroll(kind, word="hello", hidden_size=3, seed=2)
    cell, W_y, c = trace.model.stack.cells[0][0], trace.params["W_y"], trace.params["c"]

    def loss_from(t, h_t, c_t):
        state = (h_t, c_t) if kind == "lstm" else h_t
        L = rc.softmax_cross_entropy(rc.linear_forward(h_t, W_y, c), trace.targets[t:t + 1], "sum")[0]
        for s in range(t + 1, trace.T):
            state, _ = rc.step_forward(cell, trace.X[s:s + 1], state)
            h = state[0] if kind == "lstm" else state
            L += rc.softmax_cross_entropy(rc.linear_forward(h, W_y, c), trace.targets[s:s + 1], "sum")[0]
        return L

    for t in range(trace.T):
        h_t = trace.h[t:t + 1].copy()
        c_t = trace.c[t:t + 1].copy() if kind == "lstm" else None
        numeric = rc.numerical_gradient(lambda: loss_from(t, h_t, c_t), h_t, eps=1e-5)[0]
        assert rc.relative_error(trace.dh[t], numeric) < FD_TOL, t
    assert np.allclose(trace.dh_from_output, trace.dO @ W_y, rtol=0, atol=1e-15)
    assert not trace.dh_from_next[-1].any()  # nothing comes after the last step


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("k1,k2", [(1, 1), (2, 2), (3, 3), (1, 3), (3, 1), (2, 4), (4, 2)])
def test_truncated_running_sum_equals_truncated_backward(kind, k1, k2):
    vectors = U.random_sequence(6, 3, seed=4)
    trace = U.unroll(kind, vectors=vectors, hidden_size=4, k1=k1, k2=k2, seed=3)
    cell, cache, dHs, _, out_grads = _reference(trace)
    grads, _, _ = rc.truncated_backward(cell, dHs, cache, k1, k2)
    full, _, _ = rc.backward(cell, dHs, cache)
    assert trace.windows == rc.truncation_windows(6, k1, k2)
    for name, expected in {**grads, **out_grads}.items():
        assert rc.relative_error(trace.grads[name], expected) < SUM_TOL, name
    for name, expected in {**full, **out_grads}.items():
        assert rc.relative_error(trace.full_grads[name], expected) < SUM_TOL, name
    assert rc.relative_error(trace.grads["W_h"], full["W_h"]) > 1e-3  # truncation really changed it


@settings(deadline=None, max_examples=25)
@given(T=st.integers(1, 7), k1=st.integers(1, 8), k2=st.integers(1, 8),
       kind=st.sampled_from(["rnn", "lstm", "gru"]), architecture=st.sampled_from(STANDARD))
def test_truncated_trace_matches_engine_for_any_windows(T, k1, k2, kind, architecture):
    trace = U.unroll(kind, vectors=U.random_sequence(T, 2, seed=T), hidden_size=2,
                     architecture=architecture, k1=k1, k2=k2, seed=0)
    cell, cache, dHs, _, _ = _reference(trace)
    grads, _, _ = rc.truncated_backward(cell, dHs, cache, k1, k2)
    for name in grads:
        assert np.allclose(trace.grads[name], grads[name], rtol=0, atol=1e-13), name


def test_truncation_flags_mark_what_the_windows_ignore():
    vectors = U.random_sequence(4, 2, seed=0)
    chunks = U.unroll("rnn", vectors=vectors, hidden_size=2, k1=2, k2=2)
    assert chunks.edge_used.tolist() == [True, False, True]  # no gradient from step 3 into step 2
    assert chunks.loss_used.all() and chunks.step_used.all()
    assert not chunks.dh_from_next[1].any() and chunks.dh_from_next[0].any()
    short = U.unroll("rnn", vectors=vectors, hidden_size=2, k1=4, k2=1)  # one window, one step back
    assert short.loss_used.tolist() == [False, False, False, True]
    assert short.step_used.tolist() == [False, False, False, True]
    assert not short.contributions["W_h"][:3].any()
    full = U.unroll("rnn", vectors=vectors, hidden_size=2, k1=4, k2=4)
    assert full.edge_used.all() and full.loss_used.all()
    assert all(np.array_equal(full.grads[k], full.full_grads[k]) for k in full.grads)


def test_output_recurrent_backward_matches_finite_differences():
    rng = np.random.default_rng(5)
    T, B, D, H, V = 4, 2, 3, 4, 5
    params = {"W_x": rng.standard_normal((H, D)), "W_h": rng.standard_normal((H, V)) * 0.5,
              "b": rng.standard_normal(H), "W_y": rng.standard_normal((V, H)), "c": rng.standard_normal(V)}
    X, o0, R = rng.standard_normal((T, B, D)), rng.standard_normal((B, V)), rng.standard_normal((T, B, V))

    def loss():
        return float((R * U.output_recurrent_forward(params, X, o0)[0]).sum())

    _, steps = U.output_recurrent_forward(params, X, o0)
    grads, dX, do0 = U.output_recurrent_backward(params, R, steps)
    for name, arr in [*params.items(), ("X", X), ("o0", o0)]:
        analytic = {**grads, "X": dX, "o0": do0}[name]
        assert rc.relative_error(analytic, rc.numerical_gradient(loss, arr, eps=1e-5)) < FD_TOL, name


def test_output_to_hidden_trace_recurs_through_the_previous_output():
    trace = U.unroll("rnn", word="hello", hidden_size=3, architecture="output-to-hidden", seed=1)
    p = trace.params
    assert p["W_h"].shape == (3, 4)  # (H, V): it multiplies o_{t-1}
    assert not trace.h_prev[0].any()
    assert np.array_equal(trace.h_prev[1:], trace.o[:-1])
    assert np.allclose(trace.h[2], np.tanh(p["W_x"] @ trace.X[2] + p["W_h"] @ trace.o[1] + p["b"]),
                       rtol=0, atol=1e-15)
    _, steps = U.output_recurrent_forward(p, trace.X[:, None, :])
    dO = trace.dO[:, None, :]
    grads, _, _ = U.output_recurrent_backward(p, dO, steps)
    for name in grads:
        assert rc.relative_error(trace.grads[name], grads[name]) < SUM_TOL, name
    truncated = U.unroll("rnn", word="hello", hidden_size=3, architecture="output-to-hidden",
                         seed=1, k1=1, k2=1)
    assert rc.relative_error(truncated.grads["W_h"], grads["W_h"]) > 1e-3
    assert rc.relative_error(truncated.full_grads["W_h"], grads["W_h"]) < SUM_TOL


@pytest.mark.parametrize("kind,architecture", [(k, a) for k in ("rnn", "lstm", "gru") for a in STANDARD]
                         + [("rnn", "output-to-hidden")])
def test_gradient_check_agrees_with_finite_differences(kind, architecture):
    trace = U.unroll(kind, word="hello", hidden_size=3, architecture=architecture, seed=0)
    checks = U.gradient_check(trace)
    assert set(checks) == set(trace.grads)
    for name, check in checks.items():
        assert check.error < FD_TOL, name
        assert check.entries == min(check.size, 24)


def test_gradient_check_shows_that_a_truncated_gradient_is_not_the_gradient():
    trace = U.unroll("lstm", word="hello", hidden_size=3, k1=1, k2=1)
    checks = U.gradient_check(trace)
    assert checks["W_h"].error < FD_TOL
    assert checks["W_h"].shown_error > 1e-2
    assert checks["W_y"].shown_error < FD_TOL  # the output layer is not recurrent: untouched


def test_gradient_check_samples_large_parameters_and_leaves_the_trace_unchanged():
    trace = U.unroll("lstm", vectors=U.random_sequence(3, 6), hidden_size=8, depth=2)
    before = {k: v.copy() for k, v in trace.model.stack.cells[0][0].params.items()}
    checks = U.gradient_check(trace, max_entries=10)
    assert checks["W_x"].entries == 10 and checks["W_x"].size == 32 * 6
    assert max(c.error for c in checks.values()) < FD_TOL
    assert all(np.array_equal(before[k], v) for k, v in trace.model.stack.cells[0][0].params.items())


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
def test_gate_terms_add_up_to_the_values_in_the_step_cache(kind, opts):
    trace = U.unroll(kind, word="hello", hidden_size=3, seed=6, **opts)
    act = {"tanh": np.tanh, "sigmoid": lambda a: 1 / (1 + np.exp(-a)), "relu": lambda a: np.maximum(a, 0),
           "linear": lambda a: a}
    assert "".join(b.name for b in trace.blocks) == {"rnn": "h", "lstm": "ifgo", "gru": "rzn"}[kind]
    for block in trace.blocks:
        assert np.array_equal(block.pre, block.input + block.recurrent + block.bias)
        assert np.allclose(act[block.activation](block.pre), block.value, rtol=0, atol=1e-14), block.name
    if kind == "lstm":
        i, f, g, o = (b.value for b in trace.blocks)
        assert np.allclose(trace.c, f * trace.c_prev + i * g, rtol=0, atol=1e-15)
        assert np.allclose(trace.h, o * np.tanh(trace.c), rtol=0, atol=1e-15)
    if kind == "gru":
        _, z, n = (b.value for b in trace.blocks)
        assert np.allclose(trace.h, (1 - z) * n + z * trace.h_prev, rtol=0, atol=1e-15)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("depth,bidirectional", [(2, False), (1, True), (3, True)])
def test_deep_and_bidirectional_views_match_stack_backward(kind, depth, bidirectional):
    trace = U.unroll(kind, word="hello", hidden_size=3, depth=depth, bidirectional=bidirectional, seed=7)
    m, K = trace.model, 2 if bidirectional else 1
    top, cache = rc.stack_forward(m.stack, m.X[:, None, :])
    o = rc.linear_forward(top[:, 0], m.params["W_y"], m.params["c"])
    _, dO = rc.softmax_cross_entropy(o, m.targets, reduction="sum")
    grads, _, _ = rc.stack_backward(m.stack, (dO @ m.params["W_y"])[:, None, :], cache)
    for name in m.stack.cells[0][0].params:
        assert rc.relative_error(trace.grads[name], grads[f"l0.{name}"]) < SUM_TOL, name
    assert len(trace.layers) == depth and all(len(layer) == K for layer in trace.layers)
    assert np.array_equal(trace.layers[0][0], trace.h)
    assert np.allclose(np.concatenate(trace.layers[-1], axis=1), top[:, 0], rtol=0, atol=0)
    plain = U.unroll(kind, word="hello", hidden_size=3, seed=7)
    assert np.array_equal(plain.params["W_h"], trace.params["W_h"])  # same layer 1 in every view
    assert max(c.error for c in U.gradient_check(trace, max_entries=8).values()) < FD_TOL


def test_architectures_place_inputs_and_losses_as_documented():
    m2o = U.unroll("rnn", word="hello", architecture="many-to-one")
    assert m2o.has_loss.tolist() == [False, False, False, True]
    assert np.isnan(m2o.o[:3]).all() and np.isfinite(m2o.o[3]).all()
    assert not m2o.losses[:3].any() and m2o.loss == m2o.losses[3]
    o2m = U.unroll("rnn", word="hello", architecture="one-to-many")
    assert o2m.X[0].tolist() == [0, 1, 0, 0] and not o2m.X[1:].any()  # "h", then zeros
    assert o2m.input_ids.tolist() == [1, -1, -1, -1] and o2m.label(1) == "h"
    assert U.unroll("rnn", vectors=U.random_sequence(3, 2)).label(0) == "1"  # classes count from 1
    m2m = U.unroll("gru", word="hello")
    assert np.allclose(m2m.y.sum(axis=1), 1) and m2m.loss == pytest.approx(m2m.losses.sum())
    assert np.allclose(m2m.losses, -np.log(m2m.y[np.arange(4), m2m.targets]), rtol=1e-12)


def test_trace_survives_pickling_for_the_page_cache():
    trace = U.unroll("lstm", word="hello", depth=2, bidirectional=True)
    again = pickle.loads(pickle.dumps(trace))
    assert np.array_equal(again.running["W_h"], trace.running["W_h"])
    assert [b.name for b in again.blocks] == list("ifgo")
    assert all(np.array_equal(a.value, b.value) for a, b in zip(again.blocks, trace.blocks))


@pytest.mark.parametrize("architecture", U.ARCHITECTURES)
@pytest.mark.parametrize("kind,depth,bidirectional",
                         [("rnn", 1, False), ("lstm", 2, True), ("gru", 3, False)])
def test_cost_grows_linearly_in_T(kind, architecture, depth, bidirectional):
    if architecture == "output-to-hidden":
        kind, depth, bidirectional = "rnn", 1, False
    costs = [U.cost(kind, 4, 3, 4, T, depth, bidirectional, architecture) for T in range(1, 12)]
    for field in ("floats", "forward_macs", "backward_macs", "sequential_steps"):
        steps = np.diff([getattr(c, field) for c in costs])
        assert (steps == steps[0]).all() and steps[0] > 0, field
    assert all(c.floats - costs[0].floats == (c.T - 1) * c.floats_per_step for c in costs)
    assert all(c.forward_macs - costs[0].forward_macs == (c.T - 1) * c.macs_per_step for c in costs)
    if architecture != "many-to-one":
        assert all(c.floats == c.T * c.floats_per_step for c in costs)


@pytest.mark.parametrize("kind,opts", VARIANTS, ids=VARIANT_IDS)
def test_cost_floats_count_the_arrays_the_engine_really_keeps(kind, opts):
    T, D, H = 5, 3, 4
    cell = rc.make_cell(kind, D, H, seed=0, dtype=np.float64, **opts)
    _, cache = rc.forward(cell, np.ones((T, 1, D)))
    arrays = {id(a): a.size for s in cache.steps for a in s}  # h_prev is the previous step's h
    state0 = H * (2 if kind == "lstm" else 1)
    cost = U.cost(kind, D, H, 2, T, architecture="many-to-one")  # no per-step output
    assert sum(arrays.values()) - state0 == cost.floats - 2 == T * cost.floats_per_step


def test_cost_of_a_stack_has_a_dependency_chain_of_T_plus_L_minus_1():
    assert U.cost("lstm", 4, 3, 4, 10, depth=3).sequential_steps == 12
    one = U.cost("rnn", 4, 3, 4, 10)
    assert one.macs_per_step == 3 * (4 + 3) + 4 * 3 and one.backward_macs == 2 * one.forward_macs


@pytest.mark.parametrize("kwargs,message", [
    ({"kind": "lstm", "architecture": "output-to-hidden"}, "output-to-hidden"),
    ({"architecture": "output-to-hidden", "depth": 2}, "single-layer"),
    ({"architecture": "sideways"}, "architecture must be one of"),
    ({"depth": 4}, "depth must be 1, 2 or 3"),
    ({"k1": 2}, "give both k1 and k2"),
    ({"k1": 2, "k2": 2, "depth": 2}, "truncated BPTT is shown on a single-layer"),
    ({"k1": 0, "k2": 2}, "k1 must be a positive integer"),
    ({"word": "a"}, "word must be a string of 2"),
    ({"seed": None}, "seed must be a non-negative integer"),
    ({"kind": "transformer"}, "kind must be one of"),
    ({"vectors": np.ones((1, 3))}, "vectors must be"),
    ({"vectors": np.full((3, 2), np.nan)}, "NaN"),
])
def test_bad_choices_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        U.unroll(**kwargs)


def test_graph_has_a_node_per_value_and_flags_what_truncation_cuts():
    def names(nodes, edges, kind):
        return [(nodes[e.src].name, nodes[e.src].t, nodes[e.dst].name, nodes[e.dst].t, e.used)
                for e in edges if e.kind == kind]

    nodes, edges = U.graph(U.unroll("rnn", word="hello"))
    assert sorted(n.name for n in nodes) == sorted(["h0"] + ["x", "h", "o", "L"] * 4)
    weights = {e.kind: e.weight for e in edges}
    assert weights == {"input": "W_x", "recurrent": "W_h", "output": "W_y", "loss": ""}
    assert len(edges) == 16 and all(e.used for e in edges)

    nodes, edges = U.graph(U.unroll("rnn", word="hello", architecture="many-to-one"))
    assert [n.t for n in nodes if n.name in "oL"] == [3, 3]

    nodes, edges = U.graph(U.unroll("rnn", word="hello", k1=2, k2=2))
    assert names(nodes, edges, "recurrent") == [("h0", -1, "h", 0, True), ("h", 0, "h", 1, True),
                                               ("h", 1, "h", 2, False), ("h", 2, "h", 3, True)]

    nodes, edges = U.graph(U.unroll("gru", word="hello", depth=3, bidirectional=True))
    assert sum(e.kind == "up" for e in edges) == 2 * 4 * 2 * 2  # (L-1) layers, T steps, K*K links
    reverse = names(nodes, edges, "recurrent")
    assert ("h", 3, "h", 2, True) in reverse and ("h0", 4, "h", 3, True) in reverse  # right to left

    nodes, edges = U.graph(U.unroll("rnn", word="hello", architecture="output-to-hidden"))
    assert names(nodes, edges, "recurrent")[:2] == [("o0", -1, "h", 0, True), ("o", 0, "h", 1, True)]
