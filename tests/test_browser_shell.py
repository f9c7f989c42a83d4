"""The app shell in a real browser: home, themes, navigation, deep links on a fresh server."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from harness import assert_no_error_elements, screenshot, sidebar_seed, wait_for_app
from lab_ui import nav

pytestmark = pytest.mark.browser

# Pages other than Home that exist now; None stands for "none yet", which must fail, not skip.
OTHER_PAGES = [spec for spec in nav.existing_pages() if spec is not nav.HOME] or [None]
NO_PAGE_MESSAGE = (f"no page besides Home exists in {nav.PAGES_DIR}/: the deep-link and "
                   "navigation tests need at least one (unroll.py, gradient_flow.py, ...)")


def browser_title(spec: nav.PageSpec) -> str:
    return "RNN Lab" if spec is nav.HOME else f"{spec.title} · RNN Lab"


def assert_inside_app_frame(page, spec: nav.PageSpec, timeout: float = 10_000) -> None:
    """The page `spec` is shown by app.py: title, shared sidebar, our navigation, no errors."""
    expect(page).to_have_title(browser_title(spec), timeout=timeout)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("Random seed", exact=True)).to_be_visible(timeout=timeout)
    expect(sidebar.get_by_text("Notation", exact=True)).to_be_visible(timeout=timeout)
    links = page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
    expect(links, "the navigation is not app.py's (legacy mode lists file names: app, unroll)"
           ).to_have_text([re.compile(rf"{re.escape(s.title)}\s*$") for s in nav.existing_pages()],
                          timeout=timeout)
    active = page.locator('[data-testid="stSidebarNavLink"][aria-current="page"]')
    expect(active).to_have_text(re.compile(rf"{re.escape(spec.title)}\s*$"), timeout=timeout)
    expect(page.get_by_text("Page not found"),
           "a 'Page not found' dialog: Streamlit's legacy multipage mode (see PAGES_DIR in lab_ui/nav.py)").to_have_count(0)
    assert_no_error_elements(page)


def background_luminance(page) -> float:
    """Relative luminance (0 black .. 1 white) of the app's background colour."""
    rgb = page.evaluate("""() => getComputedStyle(document.querySelector('[data-testid="stApp"]'))
                                 .backgroundColor.match(/\\d+/g).slice(0, 3).map(Number)""")
    return sum(weight * value / 255 for weight, value in zip((0.2126, 0.7152, 0.0722), rgb))


def test_home_loads_with_sidebar_and_no_errors(streamlit_server, page):
    page.goto(streamlit_server)
    wait_for_app(page)
    assert_inside_app_frame(page, nav.HOME)
    assert page.get_by_text("Notation card").is_visible()
    assert sidebar_seed(page) == "0"
    screenshot(page, "home-light")


def test_home_renders_in_dark_theme(streamlit_server, browser):
    # No theme.base in config.toml: the app follows the system colour scheme.
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, color_scheme="dark")
    try:
        dark = context.new_page()
        dark.goto(streamlit_server)
        wait_for_app(dark)
        assert_inside_app_frame(dark, nav.HOME)
        screenshot(dark, "home-dark")
        assert background_luminance(dark) < 0.2
    finally:
        context.close()


def test_light_theme_has_light_background(streamlit_server, page):
    page.emulate_media(color_scheme="light")
    page.goto(streamlit_server)
    wait_for_app(page)
    assert background_luminance(page) > 0.8


def test_deep_link_with_seed_shows_seed_in_sidebar(streamlit_server, page):
    page.goto(f"{streamlit_server}/?seed=7")
    wait_for_app(page)
    assert sidebar_seed(page) == "7"
    assert_no_error_elements(page)


BANNER_APP = """
import streamlit as st
from lab_ui import widgets
st.session_state["exercise"] = {"title": "Ex 1: " + HOSTILE, "instructions": HOSTILE}
widgets.exercise_banner()
"""
HOSTILE = ("**bold** :red[x] :smile: :material/home: <b>tag</b> $x^2$ [link](http://evil.example) "
           "`code` # h1 ~~strike~~ &amp; | a | b |")


def test_exercise_banner_renders_user_text_literally(fresh_server, page, tmp_path):
    (tmp_path / "app.py").write_text(f"HOSTILE = {HOSTILE!r}\n{BANNER_APP}")
    page.goto(fresh_server(tmp_path))
    banner = page.locator('[data-testid="stAlertContentInfo"]')
    expect(banner).to_have_count(1, timeout=30_000)
    text = " ".join(banner.inner_text().split())
    assert f"Ex 1: {HOSTILE}" in text and text.endswith(HOSTILE), text
    # Nothing of the user's text became markup: the only bold is the title; no code, LaTeX,
    # strike-through, HTML tag, heading, table or extra icon. A bare URL may become a link
    # (GitHub-flavoured markdown), but only one showing its own target: no disguised links.
    expect(banner.locator("strong")).to_have_count(1)
    for selector in ("strong strong", "code", ".katex", "del", "b", "h1", "table", "img"):
        expect(banner.locator(selector)).to_have_count(0)
    for link in banner.locator("a").all():
        assert link.inner_text() == link.get_attribute("href"), link.evaluate("e => e.outerHTML")
    expect(banner.locator('[data-testid="stIconMaterial"]')).to_have_count(0)  # the banner's
    # own icon sits beside this content element, not inside it


def test_sidebar_navigation_reaches_every_page_inside_app_frame(streamlit_server, page):
    if OTHER_PAGES == [None]:
        pytest.fail(NO_PAGE_MESSAGE)
    page.goto(streamlit_server)
    wait_for_app(page)
    for spec in OTHER_PAGES + [nav.HOME]:
        page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=spec.title).click()
        page.wait_for_url(f"{streamlit_server}/{spec.url_path}*")
        wait_for_app(page)
        assert_inside_app_frame(page, spec)


@pytest.mark.parametrize("spec", OTHER_PAGES,
                         ids=[spec.url_path if spec else "none" for spec in OTHER_PAGES])
def test_first_request_deep_link_shows_page_inside_app_frame(fresh_server, page, spec):
    """The first request a fresh server sees is a deep link: the page still gets app.py's frame."""
    if spec is None:
        pytest.fail(NO_PAGE_MESSAGE)
    url = fresh_server()
    page.goto(f"{url}/{spec.url_path}?seed=7")
    wait_for_app(page)
    assert_inside_app_frame(page, spec)
    assert sidebar_seed(page) == "7"
    assert page.url.startswith(f"{url}/{spec.url_path}")
    screenshot(page, f"deep-link-{spec.url_path}")


def test_simultaneous_first_requests_all_get_the_app_frame(fresh_server, browser):
    """A class opening deep links at once right after a server start: every tab gets its page.

    Catches races between sessions' first runs (a half-imported pandas met by Plotly; the legacy
    multipage mode). Timeouts are long: three tabs render heavy pages on the machine's two cores.
    """
    if OTHER_PAGES == [None]:
        pytest.fail(NO_PAGE_MESSAGE)
    url = fresh_server()
    specs = [OTHER_PAGES[i % len(OTHER_PAGES)] for i in range(3)]
    contexts = [browser.new_context(viewport={"width": 1600, "height": 1000}) for _ in specs]
    try:
        tabs = [context.new_page() for context in contexts]
        for tab, spec in zip(tabs, specs):  # all requests leave before any page has loaded
            tab.goto(f"{url}/{spec.url_path}", wait_until="commit")
        for tab, spec in zip(tabs, specs):
            wait_for_app(tab, timeout=90_000)
            assert_inside_app_frame(tab, spec, timeout=60_000)
    finally:
        for context in contexts:
            context.close()
