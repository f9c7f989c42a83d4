"""The Gates page in a real browser: every tab's charts are drawn, the first tab also in the dark
theme, and moving the forget-gate bias slider redraws the sweep. Screenshots go to test-artifacts/."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from harness import assert_no_error_elements, screenshot, wait_for_app

pytestmark = pytest.mark.browser

TABS = {"Gates over time": 6, "Memory path": 2, "Forget-gate bias": 2, "GRU conventions": 4,
        "RNN vs LSTM vs GRU": 2}  # charts per tab
CHART = '[data-testid="stPlotlyChart"]'


def open_page(page, visited_server, query=""):
    page.goto(f"{visited_server}/gates{query}")
    wait_for_app(page)


def charts_drawn(page, n):
    """Exactly n Plotly charts, each with its SVG drawn (Plotly has rendered, not just mounted)."""
    expect(page.locator(CHART)).to_have_count(n)
    for chart in page.locator(CHART).all():
        expect(chart.locator(".main-svg").first).to_be_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_tab_draws_its_charts_without_errors(visited_server, browser, scheme):
    """Light: every tab. Dark: the heatmaps of the first tab (the colour scales are the same
    elsewhere), to keep the test short."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        open_page(page, visited_server)
        charts_drawn(page, TABS["Gates over time"])
        screenshot(page, f"gates-{scheme}")
        for label, n in list(TABS.items())[1:] if scheme == "light" else []:
            page.get_by_role("tab", name=label).click()
            wait_for_app(page)
            charts_drawn(page, n)
            assert_no_error_elements(page)
        assert_no_error_elements(page)
    finally:
        context.close()


def test_moving_the_bias_slider_redraws_the_sweep(visited_server, page):
    open_page(page, visited_server, "?tab=Forget-gate+bias&length=200")
    charts_drawn(page, 2)
    readout = page.locator('[data-testid="stMain"] [data-testid="stAlertContainer"]').first
    expect(readout).to_contain_text("b_f = 1, the mean f")
    marker = page.locator(f"{CHART} .textpoint text").first     # the value printed at the marker
    first_value = marker.text_content()
    thumb = page.locator('[data-testid="stSidebar"] [data-testid="stSlider"]').filter(
        has_text="Memory-gate bias").get_by_role("slider")
    thumb.focus()
    # One key press, one rerun: keys pressed while a rerun is under way can be lost.
    thumb.press("End")                                           # 1.0 -> 5.0, the maximum
    wait_for_app(page)
    expect(readout).to_contain_text("b_f = 5, the mean f")
    expect(marker).not_to_have_text(first_value)
    assert "bias=5.0" in page.url
    thumb.press("ArrowLeft")                                     # 5.0 -> 4.75: one step redraws too
    wait_for_app(page)
    expect(readout).to_contain_text("b_f = 4.75, the mean f")
    charts_drawn(page, 2)
    assert_no_error_elements(page)
    screenshot(page, "gates-after-slider")
