"""The Unroll page in a real Chromium: the graph is drawn, "Forward one" moves the highlighted
step, no error element, in the light and the dark theme (screenshots in test-artifacts/)."""
import pytest

from harness import assert_no_error_elements, screenshot, wait_for_app

pytestmark = pytest.mark.browser

# A fresh browser context parses plotly.js before it draws the page: seconds of CPU, far more on
# the shared 2-core test machine (measured up to 30 s under load), so the first load may wait longer.
FIRST_LOAD_MS = 90_000
TALL = {"width": 1600, "height": 2400}  # Streamlit scrolls inside the app: a tall viewport shows it all

# The graph is the first Plotly chart; Plotly keeps the figure's traces on its div as `.data`.
HIGHLIGHTED_STEPS = """() => {
    const graph = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    const ring = graph && graph.data && graph.data.find(trace => trace.name === 'current');
    return ring ? Array.from(new Set(Array.from(ring.x))) : null;
}"""
BACKGROUND = """() => getComputedStyle(document.querySelector('[data-testid="stApp"]')).backgroundColor"""


def open_unroll(page, base_url, query="", timeout=FIRST_LOAD_MS):
    page.goto(f"{base_url}/unroll{query}")
    wait_for_app(page, timeout=timeout)
    page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot .main-svg').first.wait_for(timeout=timeout)


def brightness(css_color):
    """Mean of the r, g, b channels of a CSS "rgb(r, g, b)" or "rgba(r, g, b, a)" colour."""
    channels = css_color[css_color.index("(") + 1:css_color.index(")")].split(",")[:3]
    return sum(float(v) for v in channels) / 3


def test_graph_is_drawn_and_forward_one_moves_the_highlighted_step(page, streamlit_server):
    open_unroll(page, streamlit_server)
    assert page.locator('[data-testid="stPlotlyChart"] .main-svg').count() >= 1
    assert page.evaluate(HIGHLIGHTED_STEPS) == [1]
    assert_no_error_elements(page)

    page.get_by_role("button", name="Forward one").click()
    page.wait_for_function(f"({HIGHLIGHTED_STEPS})()?.[0] === 2")
    wait_for_app(page)
    assert page.evaluate(HIGHLIGHTED_STEPS) == [2]
    assert "unroll_t=2" in page.url
    assert page.get_by_role("heading", name="Step 2: forward").is_visible()
    assert_no_error_elements(page)


def test_backward_phase_and_truncation_render_in_the_light_and_the_dark_theme(page, streamlit_server):
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(TALL)
    open_unroll(page, streamlit_server, "?unroll_cell=lstm&unroll_phase=backward&unroll_t=1")
    page.get_by_text("The summed BPTT gradient and central finite differences agree").wait_for()
    assert page.evaluate(HIGHLIGHTED_STEPS) == [1]
    assert brightness(page.evaluate(BACKGROUND)) > 200
    assert_no_error_elements(page)
    screenshot(page, "unroll-backward-light")

    page.emulate_media(color_scheme="dark")  # Streamlit follows the system theme as it changes
    page.wait_for_function(f"({BACKGROUND})() !== 'rgb(255, 255, 255)'")
    assert brightness(page.evaluate(BACKGROUND)) < 60
    page.wait_for_timeout(1000)  # charts redraw with the dark theme's colours
    assert_no_error_elements(page)
    screenshot(page, "unroll-backward-dark")

    truncated = "?unroll_trunc=true&unroll_k1=2&unroll_k2=2&unroll_phase=backward&unroll_t=3"
    open_unroll(page, streamlit_server, truncated)
    page.get_by_text("truncated BPTT ignores").wait_for()
    assert page.evaluate(HIGHLIGHTED_STEPS) == [3]
    assert_no_error_elements(page)
    screenshot(page, "unroll-truncated-dark")
