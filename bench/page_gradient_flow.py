"""Server time of a slider move on the Gradient-flow page, hidden 64, T = 200 (target: < 150 ms).

    python bench/page_gradient_flow.py [--threads 1] [--repeats 15]

Two measurements, each a median over slider positions never seen before (so st.cache_data misses,
as it does for a student moving the slider):

1. compute + figures (the target): what the rerun does for the first tab: the engine call
   rnn_core.analysis.flow_summary, the page's own figure builders, and the conversion that
   st.plotly_chart performs (validation, JSON).
2. AppTest rerun (for reference): the whole script after moving the spectral-radius slider
   (app.py, the shared sidebar, the page, Streamlit's messages), plus AppTest's own polling and
   element-tree parsing, which a real server does not do. A server compiles each script once
   (its Runtime keeps one ScriptCache); AppTest makes a new cache, so recompiles, at every run:
   the benchmark gives it one shared cache, as the server has.

BLAS threads are set before NumPy loads (default 1: on the classroom server many sessions share
two cores, so one session should not count on more than one).
"""
import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
parser.add_argument("--repeats", type=int, default=15, help="slider positions timed per measurement")
args = parser.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import logging  # noqa: E402  (after the thread variables)

import numpy as np  # noqa: E402
import plotly.io as pio  # noqa: E402
import plotly.tools  # noqa: E402
import streamlit.testing.v1.app_test as app_test  # noqa: E402
import streamlit.testing.v1.local_script_runner as local_script_runner  # noqa: E402
from streamlit.runtime.scriptrunner.script_cache import ScriptCache  # noqa: E402

logging.getLogger("streamlit").setLevel(logging.ERROR)  # bare-mode warnings: no runtime here
SHARED_SCRIPT_CACHE = ScriptCache()
app_test.ScriptCache = local_script_runner.ScriptCache = lambda: SHARED_SCRIPT_CACHE

from harness import run_page  # noqa: E402
from rnn_core import analysis as A  # noqa: E402

from lab_ui.gradient_flow_figures import lag_figures, readout  # noqa: E402

CONTROLS = dict(construction="orthogonal", H=64, pairs=(), reals=(), skew=1.0, nonlinearity="tanh",
                T=200, input_scale=0.1, seed=0)
RHOS = np.round(np.linspace(0.5, 1.5, args.repeats + 2), 4)  # +2 warm-up positions


def rerun_work(rho):
    """The first tab's rerun without Streamlit's transport: compute, figures, chart conversion."""
    view = A.flow_summary(rho=float(rho), **CONTROLS)
    readout(view)
    for fig in lag_figures(view).values():
        checked = plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)
        pio.to_json(checked, validate=False)


def median_ms(fn, values):
    """Median and minimum wall time, and median CPU time of this process (less sensitive to other
    programs sharing the cores), in ms; the first two values only warm up."""
    wall, cpu = [], []
    for i, value in enumerate(values):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(value)
        if i >= 2:
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return 1e3 * float(np.median(wall)), 1e3 * float(np.min(wall)), 1e3 * float(np.median(cpu))


def main():
    compute = median_ms(rerun_work, RHOS)
    at = run_page("views/gradient_flow.py", timeout=60)

    def slider_move(rho):
        at.sidebar.slider(key="gf_rho").set_value(float(rho))
        at.run()
        assert not at.exception, at.exception

    # The slider's step is 0.05: new positions are multiples of it, each visited once.
    positions = [round(0.1 + 0.05 * i, 2) for i in range(1, 39) if round(0.1 + 0.05 * i, 2) != 0.9]
    apptest = median_ms(slider_move, positions[:args.repeats + 2])
    load = os.getloadavg()[0]
    print(f"Gradient-flow page, hidden 64, T 200, {args.threads} BLAS thread(s), load average {load:.1f} "
          f"on {os.cpu_count()} cores")
    for label, (median, least, cpu) in (("compute + figures + chart JSON ", compute),
                                        ("AppTest rerun after slider move", apptest)):
        print(f"{label}: median {median:6.1f} ms wall (min {least:6.1f} ms), {cpu:6.1f} ms CPU")
    print(f"target < 150 ms for compute + figures: {'met' if compute[0] < 150 else 'NOT met'} (median wall time)")


if __name__ == "__main__":
    main()
