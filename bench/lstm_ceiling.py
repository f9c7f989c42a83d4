"""How fast can a NumPy LSTM char-RNN step be? An experiment, not part of the engine.

PRODUCT.md asks the char-RNN training step to run at least 1.2x PyTorch at hidden 128. rnn_core's
RNN and GRU steps do; its LSTM step runs at about 0.85x. This script measures the best LSTM step
we could write in NumPy, to show where the ceiling is. Everything that made it faster is here:

- feature-major layout: states are (H, B), so the i, f, g, o blocks of a step are contiguous
  (H, B) slabs and every element-wise operation runs on contiguous memory;
- one exp per step for all four gates: rows of W_h and of the input table are scaled by -1
  (-2 for g), so exp gives exp(-a) for i, f, o and exp(-2 a_g), and g = 2 sigmoid(2 a_g) - 1;
- the derivative factors of the backward step are computed in bulk after the forward loop;
- every per-step buffer is allocated once and reused across steps.

It agrees with rnn_core.charmodel to rounding (checked in float64 before timing) and is still
only about as fast as PyTorch's fused oneDNN LSTM. The script also times the step's matrix products
alone (the floor): the 128 sequential per-step products, dW_h, dW_x and the output layer, about
0.93 GFLOP that no NumPy step can avoid. A 1.2x step must fit in PyTorch's time / 1.2; the floor
shows how little of that is left for the 128 sequential steps' element-wise work, the loss,
clipping and Adam, at about a microsecond per NumPy call.

    .venv/bin/python bench/lstm_ceiling.py          # 1 thread, hidden 128
"""
import os
import sys

if __name__ == "__main__":
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.cells import machine_line, median_seconds  # noqa: E402
from bench.char_step import B, CLIP, LR, T, V, WINDOWS, cycle, rnn_core_runner, torch_runner, windows  # noqa: E402
from rnn_core.charmodel import char_loss, make_char_model  # noqa: E402
from rnn_core.optim import Adam, clip_grad_norm  # noqa: E402


class FeatureMajorLSTM:
    """A one-layer LSTM char model over rnn_core's parameter dict, with reusable buffers."""

    def __init__(self, params):
        self.params = params
        self.buffers = {}

    def buffer(self, name, shape, dtype):
        buf = self.buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self.buffers[name] = np.empty(shape, dtype)
        return buf

    def loss_and_grads(self, ids, targets, h0, c0):
        """Mean NLL and gradients keyed like params; h0, c0 and the returned state are (H, B)."""
        p = self.params
        W_x, W_h, b, W_y, c_out = p["l0.W_x"], p["l0.W_h"], p["l0.b"], p["W_y"], p["c"]
        (n_t, n_b), (GH, H), dt = ids.shape, W_h.shape, W_h.dtype
        scale = np.full((GH, 1), -1, dt)
        scale[2 * H:3 * H] = -2
        W_hs = W_h * scale
        XA = np.take((W_x + b[:, None]) * scale, ids, axis=1)       # (4H, T, B), scaled
        S = self.buffer("S", (n_t, GH, n_b), dt)                     # sigma(a) and sigma(2 a_g)
        G = self.buffer("G", (n_t, H, n_b), dt)
        C = self.buffer("C", (n_t + 1, H, n_b), dt)
        Hs = self.buffer("Hs", (n_t + 1, H, n_b), dt)
        TC = self.buffer("TC", (n_t, H, n_b), dt)
        tmp = self.buffer("tmp", (H, n_b), dt)
        Hs[0], C[0] = h0, c0
        with np.errstate(over="ignore"):                             # exp(-a) -> inf gives 0
            for t in range(n_t):
                a = S[t]
                np.matmul(W_hs, Hs[t], out=a)
                a += XA[:, t]
                np.exp(a, out=a)
                a += 1
                np.reciprocal(a, out=a)
                np.multiply(a[2 * H:3 * H], 2, out=G[t])
                G[t] -= 1
                np.multiply(a[H:2 * H], C[t], out=C[t + 1])
                np.multiply(a[:H], G[t], out=tmp)
                C[t + 1] += tmp
                np.tanh(C[t + 1], out=TC[t])
                np.multiply(a[3 * H:], TC[t], out=Hs[t + 1])
        # Backward factors in bulk: da_i = dc g i(1-i), da_f = dc c_prev f(1-f),
        # da_g = dc i (1-g^2) = dc i 4 s(1-s), da_o = dh tanh(c) o(1-o); dc += dh o (1-tanh^2 c).
        Q = self.buffer("Q", (n_t, GH, n_b), dt)
        np.subtract(1, S, out=Q)
        Q *= S
        Q4, S4 = Q.reshape(n_t, 4, H, n_b), S.reshape(n_t, 4, H, n_b)
        Q4[:, 0] *= G
        Q4[:, 1] *= C[:n_t]
        Q4[:, 2] *= S4[:, 0]
        Q4[:, 2] *= 4
        Q4[:, 3] *= TC
        P = self.buffer("P", (n_t, H, n_b), dt)
        np.multiply(TC, TC, out=P)
        np.subtract(1, P, out=P)
        P *= S4[:, 3]
        # Output layer and loss over the (H, T*B) states.
        H_all = np.ascontiguousarray(Hs.transpose(1, 0, 2))          # (H, T+1, B)
        H_out = H_all[:, 1:].reshape(H, n_t * n_b)
        logits = W_y @ H_out
        logits += c_out[:, None]
        logits -= logits.max(axis=0)
        e = np.exp(logits)
        total = e.sum(axis=0)
        flat, cols = targets.reshape(-1), np.arange(n_t * n_b)
        loss = float((np.log(total) - logits[flat, cols]).mean())
        e /= total
        e[flat, cols] -= 1
        e *= 1.0 / (n_t * n_b)
        dW_y, dc_out = e @ H_out.T, e.sum(axis=1)
        dHs = (W_y.T @ e).reshape(H, n_t, n_b)
        DA = self.buffer("DA", (GH, n_t, n_b), dt)
        dh, dc, dh_next = (self.buffer(k, (H, n_b), dt) for k in ("dh", "dc", "dh_next"))
        dc.fill(0)
        dh_next.fill(0)
        for t in range(n_t - 1, -1, -1):
            np.add(dHs[:, t], dh_next, out=dh)
            np.multiply(dh, P[t], out=tmp)
            dc += tmp
            d4 = DA[:, t].reshape(4, H, n_b)
            np.multiply(dc, Q4[t, :3], out=d4[:3])
            np.multiply(dh, Q4[t, 3], out=d4[3])
            np.matmul(W_h.T, DA[:, t], out=dh_next)
            dc *= S4[t, 1]
        DA2 = DA.reshape(GH, n_t * n_b)
        onehot = np.zeros((n_t * n_b, W_x.shape[1]), dt)
        onehot[cols, ids.reshape(-1)] = 1
        dW_x = DA2 @ onehot
        grads = {"l0.W_x": dW_x, "l0.W_h": DA2 @ H_all[:, :n_t].reshape(H, n_t * n_b).T,
                 "l0.b": dW_x.sum(axis=1), "W_y": dW_y, "c": dc_out}
        return loss, grads, (Hs[n_t].copy(), C[n_t].copy())


def check_against_rnn_core(seed=0, H=16):
    """The experiment computes what rnn_core computes: loss and gradients in float64."""
    rng = np.random.default_rng(seed)
    model = make_char_model("lstm", V, H, seed=seed, dtype=np.float64)
    ids, targets = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    h0, c0 = rng.standard_normal((2, B, H))
    loss, grads, states = char_loss(model, ids, targets, [(h0, c0)])
    loss2, grads2, (h_T, c_T) = FeatureMajorLSTM(model.params).loss_and_grads(ids, targets, h0.T, c0.T)
    worst = max(np.abs(grads[k] - grads2[k]).max() / np.abs(grads[k]).max() for k in grads)
    if abs(loss - loss2) > 1e-12 or worst > 1e-12 or np.abs(h_T.T - states[0][0]).max() > 1e-12:
        raise AssertionError(f"the experiment disagrees with rnn_core: loss {loss} vs {loss2}, "
                             f"largest relative gradient difference {worst:.2e}")
    return worst


def ceiling_runner(H, data):
    model = make_char_model("lstm", V, H, seed=0)
    net, opt = FeatureMajorLSTM(model.params), Adam(model.params, lr=LR)
    batches = cycle(data)
    state = [(np.zeros((H, B), np.float32), np.zeros((H, B), np.float32))]

    def run():
        X, Y = next(batches)
        _, grads, state[0] = net.loss_and_grads(X, Y, *state[0])
        grads, _ = clip_grad_norm(grads, CLIP)
        opt.step(grads)
    return run


def matrix_product_runner(H, data):
    """Only the step's matrix products, shapes as in FeatureMajorLSTM: the floor of any NumPy step."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    W_h, W_y = rng.standard_normal((4 * H, H)).astype(f32), rng.standard_normal((V, H)).astype(f32)
    h, da = np.zeros((H, B), f32), np.zeros((4 * H, B), f32)
    DA, H_all = np.zeros((4 * H, T * B), f32), np.zeros((H, T * B), f32)
    E, onehot = np.zeros((V, T * B), f32), np.zeros((T * B, V), f32)

    def run():
        for _ in range(T):
            np.matmul(W_h, h, out=da)        # forward recurrence
        for _ in range(T):
            np.matmul(W_h.T, da, out=h)      # backward recurrence
        DA @ H_all.T, DA @ onehot            # dW_h, dW_x
        W_y @ H_all, E @ H_all.T, W_y.T @ E  # output layer: logits, dW_y, dH
    return run


def main(H=128, repeats=100):
    torch.set_num_threads(1)
    print(machine_line(1))
    print(f"float64 check against rnn_core: largest relative gradient difference "
          f"{check_against_rnn_core():.1e}")
    data = windows(WINDOWS)
    t_engine, t_ceiling, t_floor, t_torch = median_seconds(
        [rnn_core_runner("lstm", H, 1, data), ceiling_runner(H, data), matrix_product_runner(H, data),
         torch_runner("lstm", H, 1, data)], repeats, warmup=WINDOWS)
    print(f"\nLSTM char-RNN step, hidden {H}, median of {repeats} steps in turns (tokens/s)")
    print("| implementation | ms per step | tokens/s | ratio to PyTorch |\n|---|---:|---:|---:|")
    for name, seconds in (("rnn_core", t_engine), ("NumPy ceiling (this file)", t_ceiling),
                          ("its matrix products alone", t_floor), ("PyTorch", t_torch)):
        print(f"| {name} | {seconds * 1e3:.1f} | {T * B / seconds:,.0f} | {t_torch / seconds:.2f}x |")
    print(f"\nA 1.2x step must take at most {t_torch / 1.2 * 1e3:.1f} ms; the matrix products take "
          f"{t_floor * 1e3:.1f} ms, which leaves {(t_torch / 1.2 - t_floor) * 1e3:.1f} ms for everything else "
          f"({(t_torch / 1.2 - t_floor) / (2 * T) * 1e6:.0f} us per sequential step, loss and Adam included); "
          f"the ceiling spends {(t_ceiling - t_floor) * 1e3:.1f} ms there.")


if __name__ == "__main__":
    main()
