"""PyTorch references for the engine tests: modules with RNN Lab's weights copied in, and
hand-written autograd versions of the two cells PyTorch does not have (Cho GRU, linear RNN)."""
import numpy as np
import torch

from rnn_core.interop import to_pytorch

torch.set_default_dtype(torch.float64)


def t(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def torch_module(cell):
    """The nn.RNN / nn.LSTM / nn.GRU equivalent of a cell (float64), or None if PyTorch has none."""
    kind, opts = cell.kind, cell.options
    if kind == "rnn" and opts["nonlinearity"] == "linear" or kind == "gru" and not opts["reset_after"]:
        return None
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    kw = {"nonlinearity": opts["nonlinearity"]} if kind == "rnn" else {}
    mod = cls(cell.input_size, cell.hidden_size, **kw).double()
    with torch.no_grad():
        for name, value in to_pytorch(cell).items():
            getattr(mod, name).copy_(torch.from_numpy(np.asarray(value, dtype=np.float64)))
    return mod


def manual_forward(cell, X, state0):
    """Autograd forward of the Cho GRU (reset before W_hn) and the linear RNN, step by step."""
    p = {k: t(v, grad=True) for k, v in cell.params.items()}
    H, h, outs = cell.hidden_size, state0, []
    for x in X:
        if cell.kind == "rnn":
            h = x @ p["W_x"].T + h @ p["W_h"].T + p["b"]
        else:
            a = x @ p["W_x"].T + p["b"]
            r = torch.sigmoid(a[:, :H] + h @ p["W_h"][:H].T)
            z = torch.sigmoid(a[:, H:2 * H] + h @ p["W_h"][H:2 * H].T)
            n = torch.tanh(a[:, 2 * H:] + (r * h) @ p["W_h"][2 * H:].T)
            h = (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs), p


def torch_run(cell, X, state0=None, dHs=None, dc_T=None):
    """Forward and backward in PyTorch float64 with loss sum(dHs * Hs) (+ sum(dc_T * c_T)).

    Returns Hs, grads (RNN Lab names), dX, dstate0 as NumPy arrays.
    """
    from rnn_core.interop import grads_from_pytorch
    T, B, _ = np.shape(X)
    H = cell.hidden_size
    Xt = t(X, grad=True)
    lstm = cell.kind == "lstm"
    s0 = state0 if state0 is not None else ((np.zeros((B, H)),) * 2 if lstm else np.zeros((B, H)))
    h0 = t(s0[0] if lstm else s0, grad=True)
    c0 = t(s0[1], grad=True) if lstm else None
    mod = torch_module(cell)
    if mod is None:
        Hs, p = manual_forward(cell, Xt, h0)
        c_T = None
    else:
        Hs, hidden = mod(Xt, (h0[None], c0[None]) if lstm else h0[None])
        c_T = hidden[1][0] if lstm else None
    loss = (Hs * t(dHs)).sum() if dHs is not None else Hs.sum()
    if dc_T is not None:
        loss = loss + (c_T * t(dc_T)).sum()
    loss.backward()
    if mod is None:
        grads = {k: v.grad.numpy() for k, v in p.items()}
    else:
        grads = grads_from_pytorch(cell, {n: q.grad.numpy() for n, q in mod.named_parameters()})
    dstate0 = (h0.grad.numpy(), c0.grad.numpy()) if lstm else h0.grad.numpy()
    return Hs.detach().numpy(), grads, Xt.grad.numpy(), dstate0
