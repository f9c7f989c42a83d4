"""lab_ui.allocator: a freed training temporary is reused, not faulted in again from the kernel.

Each case runs in a fresh interpreter: this test process has imported PyTorch, which already
raised glibc's dynamic mmap threshold, so only a new process shows what the app starts with.
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# 40 times: allocate and touch three 4 MB float32 arrays (a char step's caches at H = 128), then free
# them together, as a step ends; print the minor page faults that cost. Freeing one array alone
# would not show it: glibc then raises its mmap threshold and keeps that one block.
PROBE = """
import resource, sys
sys.path.insert(0, {root!r})
import numpy as np
if {tuned}:
    from lab_ui.allocator import keep_temporaries_in_heap
    assert keep_temporaries_in_heap()
def step():
    arrays = [np.ones(1 << 20, np.float32) for _ in range(3)]
    del arrays
step()  # the first step faults its pages in whatever the setting
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(tuned):
    out = subprocess.run([sys.executable, "-c", PROBE.format(root=str(ROOT), tuned=tuned)],
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_tuned_process_reuses_freed_arrays_instead_of_faulting_them_in():
    plain, tuned = page_faults(False), page_faults(True)
    assert plain > 40 * 500        # the premise: at least half an array (512 pages) is faulted in anew per step
    assert tuned < 200             # tuned: the same heap block each time, no new pages


def test_tuning_is_done_once_and_by_the_app_entry_point():
    from lab_ui.allocator import keep_temporaries_in_heap

    assert keep_temporaries_in_heap() is keep_temporaries_in_heap()
    assert "allocator.keep_temporaries_in_heap()" in (ROOT / "app.py").read_text()
