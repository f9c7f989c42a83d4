"""Helpers for page tests: run a page with AppTest, read its Plotly figures, drive a real browser.

Page AppTests run inside the app shell: `run_page("views/unroll.py")` runs app.py (navigation,
shared sidebar) and selects the page, as a browser deep link does. Why not the page file alone:
st.page_link and st.switch_page need app.py's st.navigation, the seed and notation come from
the shell's sidebar as in production, and a page that forgot to initialise its own keys fails
here as it would for a student. Widget keys are the same either way; AppTest never fires
`run_every`, and each at.run() runs a fragment once.

Browser helpers (`wait_for_app`, `assert_no_error_elements`, ...) take a Playwright sync Page.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from streamlit.testing.v1 import AppTest

from lab_ui import nav

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "test-artifacts"

# Elements that mean a page failed. stException: an uncaught Python exception;
# stAlertContentError: st.error. Checked against the DOM of Streamlit 1.67.
ERROR_SELECTORS = ('[data-testid="stException"]', '[data-testid="stAlertContentError"]')


def app_path(rel: str) -> str:
    """Absolute path of `rel` (e.g. "views/unroll.py") under the repository root."""
    return str(REPO_ROOT / rel)


def page_file(url_path: str) -> str:
    """The file of the page served at `url_path` ("unroll", "gradient-flow", "" for Home),
    relative to the repository root, e.g. "views/unroll.py": tests need not know the folder."""
    for spec in nav.LEARNING_PATH:
        if spec.url_path == url_path:
            return spec.path
    raise ValueError(f"url_path must be one of {[s.url_path for s in nav.LEARNING_PATH]}; "
                     f"got {url_path!r}")


def run_page(rel_path: str, query: Mapping[str, Any] | None = None,
             session: Mapping[str, Any] | None = None, timeout: float = 30) -> AppTest:
    """Run app.py with the page `rel_path` selected; return the AppTest after that run.

    `query` becomes the URL's query parameters (values str()-ed) for every run, as a deep link;
    `session` presets session-state entries before the first run. Home is run first because
    AppTest can only select a page by its url_path once st.navigation has registered the pages.
    """
    at = AppTest.from_file(app_path("app.py"), default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = str(value)
    for key, value in (session or {}).items():
        at.session_state[key] = value
    at.run()
    if rel_path != nav.HOME.path:
        no_exceptions(at)
        at.switch_page(rel_path)
        at.run()
    return at


def no_exceptions(at: AppTest) -> None:
    """Fail with the message and stack trace of every exception the last run showed."""
    if len(at.exception):
        details = "\n\n".join(
            f"{exc.message}\n" + "\n".join(exc.stack_trace) for exc in at.exception
        )
        raise AssertionError(f"the page raised {len(at.exception)} exception(s):\n{details}")


def plotly_specs(at: AppTest) -> list[dict]:
    """The Plotly figures of the last run, as dicts; typed arrays decoded to NumPy arrays."""
    return [_decode(json.loads(element.proto.spec)) for element in at.get("plotly_chart")]


def _decode(node: Any) -> Any:
    """Recursively turn Plotly's {"dtype", "bdata", "shape"?} records into NumPy arrays."""
    if isinstance(node, dict):
        if "bdata" in node and "dtype" in node:
            dtype = np.dtype(node["dtype"]).newbyteorder("<")  # Plotly writes little-endian
            array = np.frombuffer(base64.b64decode(node["bdata"]), dtype=dtype)
            shape = node.get("shape")
            if shape is not None:
                if isinstance(shape, str):
                    shape = [int(part) for part in shape.split(",")]
                array = array.reshape(shape)
            return array.astype(dtype.newbyteorder("="))
        return {key: _decode(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_decode(value) for value in node]
    return node


# --- browser -----------------------------------------------------------------------------

def wait_for_app(page, timeout: float = 30_000) -> None:
    """Wait until the app shell and page are drawn and the script has stopped running.

    Ready means: connected, script state "notRunning", and the shared sidebar's seed input and
    notation selector drawn (app.py draws them on every page), all holding for 0.5 s. The
    sidebar matters: the browser can report "notRunning" while it is still rendering what the
    run sent (lazily loaded widget code, seconds on a loaded machine). A page's own elements may still be rendering: assert on them with
    Playwright's `expect`, which waits.
    """
    page.locator('[data-testid="stApp"]').wait_for(timeout=timeout)
    page.evaluate("() => { window.__labIdleSince = undefined; }")  # forget an earlier wait
    try:
        page.wait_for_function(
            """() => {
                const app = document.querySelector('[data-testid="stApp"]');
                const ready = app
                    && app.getAttribute('data-test-script-state') === 'notRunning'
                    && app.getAttribute('data-test-connection-state') === 'CONNECTED'
                    && document.querySelector('[data-testid="stAppViewContainer"]')
                    && document.querySelector(
                        '[data-testid="stSidebar"] [data-testid="stNumberInput"] input')
                    && document.querySelector(
                        '[data-testid="stSidebar"] [data-testid="stSelectbox"]');
                const now = performance.now();
                if (!ready) { window.__labIdleSince = undefined; return false; }
                if (window.__labIdleSince === undefined) window.__labIdleSince = now;
                return now - window.__labIdleSince > 500;
            }""",
            timeout=timeout, polling=100,
        )
    except Exception as error:
        state = page.evaluate("""() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app ? [app.getAttribute('data-test-script-state'),
                          app.getAttribute('data-test-connection-state')] : null;
        }""")
        raise AssertionError(
            f"the app at {page.url} was not ready within {timeout / 1000:.0f} s "
            f"(script and connection state: {state}); ready needs the shared sidebar (seed, "
            "notation), which app.py draws: missing means the page ran outside the app frame"
        ) from error


def assert_no_error_elements(page) -> None:
    """Fail if the page shows an exception or an st.error, quoting their text."""
    found = []
    for selector in ERROR_SELECTORS:
        for element in page.locator(selector).all():
            found.append(f"{selector}: {element.inner_text()[:500]}")
    assert not found, "error elements on the page:\n" + "\n".join(found)


def sidebar_seed(page) -> str:
    """The value shown in the sidebar's seed input."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stNumberInput"]').filter(
        has_text="Random seed")
    return box.locator("input").input_value()


def screenshot(page, name: str) -> Path:
    """Save a screenshot of the whole app to test-artifacts/<name>.png and return its path.

    Streamlit scrolls inside its main container, so a "full page" screenshot would stop at the
    viewport: the viewport is stretched to the content's height for the shot, then restored.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    viewport = page.viewport_size
    height = page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        return main ? main.scrollHeight : document.body.scrollHeight;
    }""")
    if viewport and height > viewport["height"]:
        page.set_viewport_size({"width": viewport["width"], "height": min(height, 6000)})
        page.wait_for_timeout(300)  # let Plotly and the layout follow the new size
    page.screenshot(path=str(path))
    if viewport:
        page.set_viewport_size(viewport)
    return path
