"""One char-RNN training step, rnn_core against PyTorch CPU: tokens per second and the ratio.

Both sides do the same work on the same random windows, float32: embedding (rnn_core gathers
columns of W_x; PyTorch's nn.Embedding holds one-hot rows, the same gather), the recurrent
layers with the state carried between windows, the output layer, mean cross-entropy, BPTT,
clipping to global norm 5, and Adam.

    .venv/bin/python bench/char_step.py                        # 1 thread, hidden 128
    .venv/bin/python bench/char_step.py --threads 2 --hidden 64 128 256
    .venv/bin/python -m bench --only char                      # the same table from the driver

Thread counts are read by OpenBLAS when NumPy loads, so the script sets them before importing it.
"""
import os
import sys

if __name__ == "__main__":  # run as a script: set the thread counts before NumPy loads
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hidden", type=int, nargs="+", default=[128])
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    ARGS = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.cells import median_seconds  # noqa: E402
from rnn_core.charmodel import make_char_model, train_step  # noqa: E402
from rnn_core.optim import Adam  # noqa: E402

T, B, V = 64, 32, 80   # window, batch, vocabulary (a typical English text has 65-100 characters)
CLIP, LR = 5.0, 1e-3
WINDOWS = 10           # distinct windows, cycled through; every call is one training step


def windows(n, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))) for _ in range(n)]


def cycle(data):
    """An endless round of the windows: each runner call takes the next one."""
    while True:
        yield from data


def rnn_core_runner(kind, H, layers, data):
    model = make_char_model(kind, V, H, layers, seed=0)
    opt = Adam(model.params, lr=LR)
    batches, carried = cycle(data), [None]

    def run():
        X, Y = next(batches)
        carried[0] = train_step(model, opt, X, Y, carried[0], clip=CLIP).states
    return run


class TorchCharModel(torch.nn.Module):
    def __init__(self, kind, H, layers):
        super().__init__()
        self.embed = torch.nn.Embedding(V, V, _weight=torch.eye(V), _freeze=True)  # one-hot rows
        self.rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](V, H, layers)
        self.out = torch.nn.Linear(H, V)

    def forward(self, ids, state):
        Hs, state = self.rnn(self.embed(ids), state)
        return self.out(Hs), state


def torch_runner(kind, H, layers, data):
    torch.manual_seed(0)
    model = TorchCharModel(kind, H, layers)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=LR)
    batches = cycle([(torch.from_numpy(X), torch.from_numpy(Y)) for X, Y in data])
    carried = [None]

    def detach(s):
        return None if s is None else tuple(x.detach() for x in s) if isinstance(s, tuple) else s.detach()

    def run():
        X, Y = next(batches)
        logits, state = model(X, detach(carried[0]))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), Y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        carried[0] = state
    return run


def main(quick=False, threads=1, hidden=(128,), kinds=("rnn", "lstm", "gru"), layers=1):
    torch.set_num_threads(threads)
    data = windows(WINDOWS)
    repeats = 10 if quick else 100
    print(f"\nChar-RNN training step, float32, V={V}, B={B}, T={T}, layers={layers}, Adam, clip "
          f"{CLIP:g}; {threads} thread(s); median of {repeats} steps, the two engines in turns "
          f"(tokens/s, higher is better)")
    print("| cell | hidden | rnn_core | PyTorch | ratio |\n|---|---:|---:|---:|---:|")
    rows = []
    for H in hidden:
        for kind in kinds:
            t_np, t_pt = median_seconds([rnn_core_runner(kind, H, layers, data),
                                         torch_runner(kind, H, layers, data)], repeats, warmup=WINDOWS)
            rows.append((kind, H, t_pt / t_np))
            print(f"| {kind.upper()} | {H} | {T * B / t_np:,.0f} | {T * B / t_pt:,.0f} "
                  f"| {t_pt / t_np:.2f}x |", flush=True)
    return rows


if __name__ == "__main__":
    main(ARGS.quick, ARGS.threads, tuple(ARGS.hidden), tuple(ARGS.cells), ARGS.layers)
