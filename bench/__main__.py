"""python -m bench [--threads N] [--quick]: rnn_core vs PyTorch CPU, same run, same threads.

BLAS thread counts are read by NumPy's OpenBLAS when it loads, so they are set here, before
anything imports NumPy, and PyTorch is given the same number.
"""
import argparse
import os

parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
parser.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS/torch threads (default: all cores)")
parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
parser.add_argument("--only", choices=["cells", "char"], help="run one table only")
args = parser.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

from bench import cells  # noqa: E402  (after the thread variables)

print(cells.machine_line(args.threads))
if args.only in (None, "cells"):
    cells.main(quick=args.quick, threads=args.threads)
if args.only in (None, "char"):
    from bench import char_step  # noqa: E402
    char_step.main(quick=args.quick, threads=args.threads)
