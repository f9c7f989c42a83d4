"""The Gradient-flow page in a real browser: every plot drawn (light and dark), a slider move redraws,
the clipping training runs live and stops on demand. Screenshots go to test-artifacts/."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from harness import assert_no_error_elements, screenshot, wait_for_app

pytestmark = pytest.mark.browser

TABS = {"Gradient by lag": 6, "Non-normal W_h": 1, "Clipping": 1, "RNN vs LSTM vs GRU": 1}  # charts per tab
CHART = '[data-testid="stPlotlyChart"]'


def open_page(page, visited_server, query=""):
    page.goto(f"{visited_server}/gradient-flow{query}")
    wait_for_app(page)


def open_tab(page, label):
    page.get_by_role("tab", name=label).click()
    wait_for_app(page)


def charts_drawn(page, n):
    """Exactly n Plotly charts, each with its SVG drawn (Plotly has rendered, not just mounted)."""
    expect(page.locator(CHART)).to_have_count(n)
    for chart in page.locator(CHART).all():
        expect(chart.locator(".main-svg").first).to_be_visible()


def readout(page):
    """The verdict box above the plots (expect() on it waits for a rerun to replace it)."""
    return page.locator('[data-testid="stMain"] [data-testid="stAlertContainer"]').first


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_tab_draws_its_plots_without_errors(visited_server, browser, scheme):
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        open_page(page, visited_server)
        for label, n in TABS.items():
            open_tab(page, label)
            charts_drawn(page, n)
            assert_no_error_elements(page)
            screenshot(page, f"gradient-flow-{label.split()[0].lower()}-{scheme}")
    finally:
        context.close()


def test_moving_the_spectral_radius_slider_redraws_the_plots(visited_server, page):
    open_page(page, visited_server, "?gf_rho=0.5")
    charts_drawn(page, 6)
    expect(readout(page)).to_contain_text("vanishing")
    title = page.locator(".gtitle").filter(has_text="Eigenvalues")
    expect(title).to_contain_text("ρ = 0.5")
    thumb = page.locator('[data-testid="stSidebar"] [data-testid="stSlider"]').filter(
        has_text="Spectral radius").get_by_role("slider")
    thumb.focus()
    # One key press, one rerun: keys pressed while a rerun is under way can be lost, as the
    # slider takes the value the visited_server confirms.
    thumb.press("End")                       # 0.5 -> 2.0, the slider's maximum
    wait_for_app(page)
    expect(title).to_contain_text("ρ = 2)")
    expect(readout(page)).to_contain_text("exploding")
    assert re.search(r"gf_rho=2\.0", page.url)
    thumb.press("ArrowLeft")                 # 2.0 -> 1.95: a one-step move redraws too
    wait_for_app(page)
    expect(title).to_contain_text("ρ = 1.95")
    assert_no_error_elements(page)
    screenshot(page, "gradient-flow-after-slider")


def test_clipping_training_runs_live_and_stops(visited_server, page):
    open_page(page, visited_server)
    open_tab(page, "Clipping")
    page.get_by_role("button", name="Train").click()
    progress = page.get_by_text(re.compile(r"step \d+ of 300"))

    def step():
        return int(re.search(r"step (\d+) of", progress.inner_text()).group(1))

    # The fragment reruns every 0.3 s, 10 steps at a time: steps appear without any click.
    expect(progress).to_be_visible()
    page.wait_for_function("""() => {
        const m = document.body.innerText.match(/step (\\d+) of 300/);
        return m && Number(m[1]) >= 40;
    }""", timeout=60_000, polling=200)
    charts_drawn(page, 1)                     # the cliff (Plotly) ...
    vega = page.locator('[data-testid="stVegaLiteChart"]')
    expect(vega).to_have_count(2)             # ... and the live loss and gradient-norm charts
    for chart in vega.all():
        expect(chart.locator("canvas, svg").first).to_be_visible()
    page.get_by_role("button", name="Stop").click()
    wait_for_app(page)
    stopped_at = step()
    page.wait_for_timeout(2000)               # > 6 refresh periods
    assert step() == stopped_at
    expect(page.get_by_role("button", name="Train")).to_be_enabled()
    assert_no_error_elements(page)
    screenshot(page, "gradient-flow-clipping-stopped")
