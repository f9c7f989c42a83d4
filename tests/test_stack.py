"""Deep and bidirectional stacks against PyTorch's multi-layer, bidirectional modules (float64)."""
import numpy as np
import pytest
import torch

import rnn_core as rc
from rnn_core.interop import grads_from_pytorch, to_pytorch

TORCH_TOL = 1e-9  # float64: only rounding order differs


def _torch_stack(stack, kind):
    cell0 = stack.cells[0][0]
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    mod = cls(cell0.input_size, cell0.hidden_size, num_layers=stack.num_layers,
              bidirectional=stack.bidirectional).double()
    with torch.no_grad():
        for l, layer in enumerate(stack.cells):
            for k, cell in enumerate(layer):
                for name, value in to_pytorch(cell, suffix=f"_l{l}{'_reverse' if k else ''}").items():
                    getattr(mod, name).copy_(torch.from_numpy(value))
    return mod


@pytest.mark.parametrize("kind,opts", [("rnn", {}), ("lstm", {}), ("gru", {"reset_after": True})])
@pytest.mark.parametrize("layers,bidirectional", [(2, False), (1, True), (3, True)])
def test_stack_matches_torch_multilayer_bidirectional(kind, opts, layers, bidirectional):
    rng = np.random.default_rng(layers)
    T, B, D, H = 5, 2, 3, 4
    stack = rc.make_stack(kind, D, H, layers, bidirectional=bidirectional, seed=0,
                          dtype=np.float64, **opts)
    K = 2 if bidirectional else 1
    X = rng.standard_normal((T, B, D))
    dY = rng.standard_normal((T, B, K * H))
    h0 = rng.standard_normal((layers * K, B, H))
    c0 = rng.standard_normal((layers * K, B, H))
    states0 = [(h0[i], c0[i]) if kind == "lstm" else h0[i] for i in range(layers * K)]

    Y, cache = rc.stack_forward(stack, X, states0)
    grads, dX, dstates = rc.stack_backward(stack, dY, cache)

    mod = _torch_stack(stack, kind)
    Xt = torch.tensor(X, requires_grad=True)
    h0t, c0t = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    Yt, _ = mod(Xt, (h0t, c0t) if kind == "lstm" else h0t)
    (Yt * torch.tensor(dY)).sum().backward()

    assert Y.shape == (T, B, K * H)
    assert rc.relative_error(Y, Yt.detach().numpy()) < TORCH_TOL
    assert rc.relative_error(dX, Xt.grad.numpy()) < TORCH_TOL
    torch_grads = {n: p.grad.numpy() for n, p in mod.named_parameters()}
    for prefix, cell in stack.named_cells():
        l, rev = int(prefix[1:].rstrip("r")), prefix.endswith("r")
        expected = grads_from_pytorch(cell, torch_grads, suffix=f"_l{l}{'_reverse' if rev else ''}")
        for name in cell.params:
            assert rc.relative_error(grads[f"{prefix}.{name}"], expected[name]) < TORCH_TOL, (prefix, name)
    dh0 = np.stack([d[0] if kind == "lstm" else d for d in dstates])
    assert rc.relative_error(dh0, h0t.grad.numpy()) < TORCH_TOL
    if kind == "lstm":
        assert rc.relative_error(np.stack([d[1] for d in dstates]), c0t.grad.numpy()) < TORCH_TOL


def test_stack_params_are_the_cells_own_arrays():
    stack = rc.make_stack("gru", 2, 3, 2, bidirectional=True, seed=0)
    params = stack.params
    assert list(params)[:3] == ["l0.W_x", "l0.W_h", "l0.b"]
    assert "l1r.W_x" in params and params["l1.W_x"].shape == (9, 6)  # layer 1 reads 2H features
    params["l0.b"][0] = 123.0  # an optimizer's in-place update reaches the cell
    assert stack.cells[0][0].params["b"][0] == 123.0


def test_stack_rejects_bad_layer_count_and_state_count():
    with pytest.raises(ValueError, match="num_layers must be a positive integer"):
        rc.make_stack("rnn", 2, 3, 0)
    stack = rc.make_stack("rnn", 2, 3, 2, bidirectional=True)
    with pytest.raises(ValueError, match=r"states0 must hold L\*K = 4 states"):
        rc.stack_forward(stack, np.zeros((3, 1, 2)), [None, None])
