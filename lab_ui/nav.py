"""The learning path: every page of RNN Lab, in the order a student should visit them.

app.py builds the navigation from this list and Home draws the learning path from it, so a page
is added in one place. Pages whose file does not exist yet are left out.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

REPO_ROOT = Path(__file__).resolve().parent.parent

# Where the page files live: deliberately not "pages". A folder of that name beside app.py puts
# Streamlit (1.67) in its legacy multipage mode until some session has called st.navigation, so
# a deep link as the first request after a server start runs the page without app.py, or pops
# up "Page not found" when the URL differs from the file name (/gradient-flow). The browser test
# tests/test_browser_shell.py opens each page as the first request of a fresh server.
PAGES_DIR = "views"


class PageSpec(NamedTuple):
    path: str       # relative to the repository root, e.g. "views/unroll.py"
    title: str
    url_path: str   # stable deep-link path; "" is Home, the default page
    icon: str       # a Material icon: the classroom machines have no emoji font
    teaches: str    # one line for the learning path on Home


LEARNING_PATH = (
    PageSpec(f"{PAGES_DIR}/home.py", "Home", "", ":material/home:",
             "What an RNN is, and the notation used on every page."),
    PageSpec(f"{PAGES_DIR}/unroll.py", "Unroll", "unroll", ":material/linear_scale:",
             "Unroll a tiny RNN in time: step it forward, then backpropagate through time."),
    PageSpec(f"{PAGES_DIR}/gradient_flow.py", "Gradient flow", "gradient-flow",
             ":material/trending_down:",
             "Why gradients vanish or explode over long lags, and what clipping does."),
    PageSpec(f"{PAGES_DIR}/gates.py", "Gates", "gates", ":material/tune:",
             "Inside the LSTM and GRU: gates that keep the gradient alive."),
    PageSpec(f"{PAGES_DIR}/char_rnn.py", "Char-RNN", "char-rnn", ":material/text_fields:",
             "Train a character language model live, then sample from it."),
    PageSpec(f"{PAGES_DIR}/exercises.py", "Exercises", "exercises", ":material/assignment:",
             "Exercises set by your instructor, checked by the app."),
)

HOME = LEARNING_PATH[0]


def existing_pages() -> list[PageSpec]:
    """The pages of the learning path whose file exists, in learning-path order."""
    return [page for page in LEARNING_PATH if (REPO_ROOT / page.path).exists()]
