"""Forward + backward throughput of the cells: rnn_core against torch.nn.RNN/LSTM/GRU.

float32, B = 32, T = 64, D = H; tokens/s = T * B / (median time of forward + backward).
"""
import platform
import time

import numpy as np
import torch

import rnn_core as rc

T, B = 64, 32
HIDDEN = (64, 128, 256, 512)
KINDS = ("rnn", "lstm", "gru")


def machine_line(threads):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"machine: {cpu}, {threads} thread(s); Python {platform.python_version()}, "
            f"NumPy {np.__version__}, PyTorch {torch.__version__}")


def median_seconds(fns, repeats, warmup=2):
    """Median wall time of each function, run in turns so that any load on the machine
    falls on all of them alike (the ratio is what we report)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [float(np.median(ts)) for ts in times]


def numpy_step(kind, H, rng):
    cell = rc.make_cell(kind, H, H, seed=0, **({"reset_after": True} if kind == "gru" else {}))
    X = rng.standard_normal((T, B, H)).astype(np.float32)
    dHs = rng.standard_normal((T, B, H)).astype(np.float32)

    def step():
        _, cache = rc.forward(cell, X)
        rc.backward(cell, dHs, cache)
    return step


def torch_step(kind, H, rng):
    mod = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](H, H)
    X = torch.tensor(rng.standard_normal((T, B, H)), dtype=torch.float32, requires_grad=True)
    dHs = torch.tensor(rng.standard_normal((T, B, H)), dtype=torch.float32)

    def step():
        mod.zero_grad(set_to_none=True)
        out, _ = mod(X)
        out.backward(dHs)
    return step


def main(quick=False, threads=1):
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    print(f"\nForward + backward, float32, B={B}, T={T}, D=H (tokens/s, higher is better)")
    print(f"| cell | hidden | rnn_core | PyTorch | ratio |\n|---|---:|---:|---:|---:|")
    rows = []
    for kind in KINDS:
        for H in HIDDEN:
            repeats = 5 if quick else max(10, int(4e4 / H))
            t_np, t_pt = median_seconds([numpy_step(kind, H, rng), torch_step(kind, H, rng)], repeats)
            ratio = t_pt / t_np
            rows.append((kind, H, ratio))
            print(f"| {kind.upper()} | {H} | {T * B / t_np:,.0f} | {T * B / t_pt:,.0f} | {ratio:.2f}x |", flush=True)
    return rows
