"""The Char-RNN page in a real browser: live training through run_every, a milestone sample,
Pause and Resume; screenshots in light and dark for a person to look at."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from harness import assert_no_error_elements, screenshot, wait_for_app

TALL = {"width": 1600, "height": 3200}  # Streamlit scrolls inside the app: a tall window shows all

pytestmark = pytest.mark.browser

LINK = "/char-rnn?corpus=arithmetic&cell=rnn&hidden=64&seq=32&batch=16&steps=10000"  # fast steps, never done


def step_shown(page) -> int:
    value = page.locator('[data-testid="stMetric"]').filter(has_text="Step")
    return int(value.locator('[data-testid="stMetricValue"]').inner_text().replace(",", ""))


POINTS_JS = """() => {
    const plots = [...document.querySelectorAll('.js-plotly-plot')]
        .filter(p => p.layout && p.layout.title && /Perplexity/.test(p.layout.title.text));
    // _fullData: Plotly's decoded traces (data keeps the binary-array records the server sent)
    return plots.length ? plots[plots.length - 1]._fullData[0].x.length : -1;
}"""


def loss_points(page) -> int:
    """Points of the training-loss trace, read from the Plotly figure in the DOM (waits for it:
    a chart being redrawn by the next tick is briefly absent)."""
    page.wait_for_function(f"({POINTS_JS})() > 0", timeout=10_000)
    return page.evaluate(POINTS_JS)


def open_page(page, url: str) -> None:
    # Home first: on a server's very first request a deep link to a page whose URL differs from
    # its file name (char-rnn vs char_rnn.py) shows "Page not found" over the page (a shell issue).
    page.goto(url)
    wait_for_app(page)
    page.goto(url + LINK)
    wait_for_app(page)
    assert_no_error_elements(page)
    expect(page.get_by_role("heading", name="Char-RNN")).to_be_visible()


def test_training_grows_the_chart_keeps_a_sample_and_pauses_and_resumes(streamlit_server, page):
    open_page(page, streamlit_server)
    screenshot(page, "char-rnn-before-light")
    page.get_by_role("button", name="Start").click()

    expect(page.get_by_text("Step 100", exact=True)).to_be_visible(timeout=60_000)
    first = loss_points(page)
    page.wait_for_timeout(1500)
    assert loss_points(page) > first > 0  # new points while nobody touches the page

    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Resume")).to_be_enabled()
    page.wait_for_timeout(800)  # let a tick that was already under way finish
    paused = step_shown(page)
    page.wait_for_timeout(1500)
    assert step_shown(page) == paused and loss_points(page) == paused
    assert_no_error_elements(page)
    page.set_viewport_size(TALL)
    page.wait_for_timeout(1000)
    screenshot(page, "char-rnn-paused-light")
    page.set_viewport_size({"width": 1600, "height": 1000})

    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("button", name="Pause")).to_be_enabled()
    page.wait_for_timeout(1500)
    assert step_shown(page) > paused
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Resume")).to_be_enabled()
    assert_no_error_elements(page)


def test_page_trains_and_draws_in_dark_theme(streamlit_server, browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, color_scheme="dark")
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        open_page(page, streamlit_server)
        page.get_by_role("button", name="Start").click()
        expect(page.get_by_text("Step 100", exact=True)).to_be_visible(timeout=60_000)
        page.get_by_role("button", name="Pause").click()
        expect(page.get_by_role("button", name="Resume")).to_be_enabled()
        page.set_viewport_size(TALL)
        page.wait_for_timeout(1500)
        assert_no_error_elements(page)
        screenshot(page, "char-rnn-paused-dark")
    finally:
        context.close()
