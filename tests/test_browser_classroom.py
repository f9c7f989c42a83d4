"""A classroom on one server: seven browser sessions at once, each opened by a different deep link,
two of them training a Char-RNN. No session sees another's state (PRODUCT.md, Targets: Classroom).

Every check reads what the page draws (widget values, the URL, headings, chart data) and waits for
a condition, never for a time: the sessions still training are the clock for the ones that must
stand still. The expected values differ between sessions (checked first), so a value that leaked
from one session to another shows up as a wrong value. The load measurement is bench/classroom.py.
"""
from __future__ import annotations

from typing import NamedTuple

import pytest
from playwright.sync_api import expect

from harness import ARTIFACTS, assert_no_error_elements, wait_for_app

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1600, "height": 1000}  # as conftest.py's page fixture
LOAD_MS = 90_000  # a tab parses plotly.js (seconds of CPU); the 2-core test machine may be busy


class Session(NamedTuple):
    name: str
    path: str
    query: dict[str, str]     # the deep link's query parameters, which the URL must keep showing
    widgets: dict[str, str]   # widget label -> the value the widget must show

    @property
    def link(self) -> str:
        return self.path + "?" + "&".join(f"{key}={value}" for key, value in self.query.items())


SMALL = dict(gf_hidden="16", gf_T="60")  # a light Gradient-flow page: the test is about state
TRAIN = dict(corpus="arithmetic", hidden="64", seq="32", batch="16", steps="10000")  # never done
SESSIONS = [
    Session("flow-low", "/gradient-flow", dict(seed="3", gf_rho="0.8", gf_nonlin="tanh", **SMALL),
            {"Random seed": "3", "Spectral radius ρ": "0.80", "Nonlinearity": "tanh"}),
    Session("flow-high", "/gradient-flow", dict(seed="5", gf_rho="1.2", gf_nonlin="linear", **SMALL),
            {"Random seed": "5", "Spectral radius ρ": "1.20", "Nonlinearity": "linear"}),
    Session("unroll-lstm", "/unroll", dict(seed="11", unroll_cell="lstm", unroll_t="3"),
            {"Random seed": "11", "Cell": "LSTM", "Hidden size H": "3", "Phase": "Forward pass"}),
    Session("unroll-gru", "/unroll",
            dict(seed="2", unroll_cell="gru", unroll_hidden="5", unroll_phase="backward", unroll_t="2"),
            {"Random seed": "2", "Cell": "GRU", "Hidden size H": "5", "Phase": "Backward pass (BPTT)"}),
    Session("char-idle", "/char-rnn", dict(seed="9", corpus="stories", cell="lstm", hidden="128"),
            {"Random seed": "9", "Cell": "LSTM", "Hidden size H": "128"}),
    Session("char-rnn", "/char-rnn", dict(seed="1", cell="rnn", **TRAIN),
            {"Random seed": "1", "Cell": "RNN (tanh)", "Hidden size H": "64"}),
    Session("char-gru", "/char-rnn", dict(seed="4", cell="gru", **TRAIN),
            {"Random seed": "4", "Cell": "GRU", "Hidden size H": "64"}),
]

# The value a widget shows, found by its label: a slider's value text, a radio's selected option,
# or an input's value (selectbox, number input).
WIDGET_JS = """(label) => {
    for (const tag of document.querySelectorAll('[data-testid="stWidgetLabel"]')) {
        if (tag.innerText.trim() !== label) continue;
        const widget = tag.parentElement;
        const range = widget.querySelector('input[type="range"]');
        if (range) return range.getAttribute('aria-valuetext');
        const option = widget.querySelector('[data-testid="stRadioOption"][data-selected="true"]');
        if (option) return option.innerText.trim();
        const input = widget.querySelector('input');
        if (input) return input.value;
    }
    return null;
}"""
STEP_JS = """() => {
    const metric = [...document.querySelectorAll('[data-testid="stMetric"]')].find(m =>
        m.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim() === 'Step');
    return metric ? Number(metric.querySelector('[data-testid="stMetricValue"]')
                                 .innerText.replace(/,/g, '')) : null;
}"""
LOSS_JS = """() => {
    const plot = [...document.querySelectorAll('.js-plotly-plot')]
        .find(p => p.layout && p.layout.title && /Perplexity/.test(p.layout.title.text));
    const train = plot && plot._fullData[0];  // decoded: data keeps the binary records sent
    return train ? {x: Array.from(train.x), y: Array.from(train.y)} : null;
}"""
UNROLL_STEP_JS = """() => {
    const graph = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    const ring = graph && graph.data && graph.data.find(trace => trace.name === 'current');
    return ring ? Array.from(new Set(Array.from(ring.x))) : null;
}"""


def shows_widgets(tab, widgets: dict[str, str], who: str) -> None:
    """Wait until every widget shows its value; fail naming the session, label and value seen."""
    for label, value in widgets.items():
        try:
            tab.wait_for_function(f"(label) => ({WIDGET_JS})(label) === {value!r}", arg=label,
                                  timeout=30_000, polling=200)
        except Exception as error:
            raise AssertionError(f"session {who}: widget {label!r} shows "
                                 f"{tab.evaluate(WIDGET_JS, label)!r}, expected {value!r}") from error


def step_reaches(tab, at_least: int) -> None:
    tab.wait_for_function(f"() => ({STEP_JS})() >= {at_least}", timeout=60_000, polling=200)


def loss_series(tab) -> dict:
    """The train-perplexity trace (steps x, values y); waits for it, as a tick briefly redraws it."""
    found = tab.wait_for_function(f"() => {{ const s = ({LOSS_JS})(); return s && s.x.length ? s : null; }}",
                                  timeout=30_000, polling=200)
    return found.json_value()


def never_trained(tab) -> None:
    """A Char-RNN session whose Start was never pressed: no step, no loss chart, Start enabled."""
    assert tab.evaluate(STEP_JS) is None, f"a session that never trained shows step {tab.evaluate(STEP_JS)}"
    assert tab.evaluate(LOSS_JS) is None, "a session that never trained shows a loss chart"
    expect(tab.get_by_role("button", name="Start", exact=True)).to_be_enabled()


def nav_to(tab, link: str, heading: str) -> None:
    """Go to another page of the app by the sidebar's navigation, as a student does."""
    tab.locator('[data-testid="stSidebarNavLink"]').filter(has_text=link).click()
    expect(tab.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    wait_for_app(tab)


def eigen_title(tab):
    return tab.locator(".gtitle").filter(has_text="Eigenvalues")


def widget(tab, kind: str, label: str):
    return tab.locator(f'[data-testid="{kind}"]').filter(
        has=tab.locator('[data-testid="stWidgetLabel"]', has_text=label))


@pytest.fixture
def classroom(streamlit_server, browser, request):
    """One tab per SESSIONS entry, each in its own browser context (own cookies: own session);
    on failure every tab's screenshot goes to test-artifacts/classroom-<name>.png."""
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in SESSIONS]
    tabs = {s.name: context.new_page() for s, context in zip(SESSIONS, contexts)}
    for tab in tabs.values():
        tab.set_default_timeout(60_000)
    try:
        first = tabs[SESSIONS[0].name]  # a server's very first request should not be a deep link
        first.goto(streamlit_server)    # (see tests/test_browser_char_rnn.py)
        wait_for_app(first, timeout=LOAD_MS)
        # One load after the other (all tabs stay open): seven at once cost Chromium about 1.5
        # times the CPU. tests/test_browser_shell.py checks tabs opened at the same moment.
        for s in SESSIONS:
            tabs[s.name].goto(streamlit_server + s.link)
            wait_for_app(tabs[s.name], timeout=LOAD_MS)
        yield tabs
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            for name, tab in tabs.items():
                try:
                    tab.screenshot(path=str(ARTIFACTS / f"classroom-{name}.png"))
                except Exception as error:  # a crashed tab must not hide the test's own failure
                    print(f"no screenshot of {name}: {error}")
    finally:
        for context in contexts:
            context.close()


def shows_state(tab, s: Session, widgets: dict[str, str], query: dict[str, str]) -> None:
    """The session `s` has its URL hold `query` (the server writes it at the end of a run, so a
    rerun under way has finished), shows `widgets`, and no error."""
    pairs = [f"{key}={value}" for key, value in query.items()]
    try:
        tab.wait_for_function("(pairs) => pairs.every(p => location.search.slice(1).split('&').includes(p))",
                              arg=pairs, timeout=30_000, polling=200)
    except Exception as error:
        raise AssertionError(f"session {s.name}: URL {tab.url} lacks some of {pairs}") from error
    shows_widgets(tab, widgets, s.name)
    assert_no_error_elements(tab)


def test_sessions_on_one_server_keep_their_own_controls_and_training(classroom):
    tabs = classroom
    by_name = {s.name: s for s in SESSIONS}
    widgets = {s.name: dict(s.widgets) for s in SESSIONS}
    query = {s.name: dict(s.query) for s in SESSIONS}

    # The checker can tell sessions apart: no two sessions expect the same seed, and sessions on
    # the same page expect different values for the control that sets them apart.
    assert len({w["Random seed"] for w in widgets.values()}) == len(SESSIONS)
    for a, b, label in (("flow-low", "flow-high", "Spectral radius ρ"), ("unroll-lstm", "unroll-gru", "Cell"),
                        ("char-idle", "char-rnn", "Cell"), ("char-rnn", "char-gru", "Cell")):
        assert widgets[a][label] != widgets[b][label]

    # 1. Each session, opened by its own deep link, shows its own values.
    for s in SESSIONS:
        shows_state(tabs[s.name], s, widgets[s.name], query[s.name])
    expect(eigen_title(tabs["flow-low"])).to_contain_text("ρ = 0.8)")
    expect(eigen_title(tabs["flow-high"])).to_contain_text("ρ = 1.2)")
    expect(tabs["unroll-lstm"].get_by_role("heading", name="Step 3: forward")).to_be_visible()
    expect(tabs["unroll-gru"].get_by_role("heading", name="Step 2: backward")).to_be_visible()

    # 2. At once, five sessions change a control; then all show their own new values.
    idle, low, high = tabs["char-idle"], tabs["flow-low"], tabs["flow-high"]
    widget(idle, "stNumberInput", "Random seed").locator('[data-testid="stNumberInputStepUp"]').click()
    widgets["char-idle"]["Random seed"] = query["char-idle"]["seed"] = "10"
    thumb = widget(low, "stSlider", "Spectral radius ρ").get_by_role("slider")
    thumb.focus()
    thumb.press("End")                          # 0.8 -> 2.0, the slider's maximum: one rerun
    widgets["flow-low"]["Spectral radius ρ"], query["flow-low"]["gf_rho"] = "2.00", "2.0"
    widget(high, "stRadio", "Nonlinearity").get_by_text("ReLU", exact=True).click()
    widgets["flow-high"]["Nonlinearity"], query["flow-high"]["gf_nonlin"] = "ReLU", "relu"
    tabs["unroll-lstm"].get_by_role("button", name="Forward one", exact=True).click()
    tabs["unroll-gru"].get_by_role("button", name="Back one", exact=True).click()  # backward runs t = T..1
    query["unroll-lstm"]["unroll_t"], query["unroll-gru"]["unroll_t"] = "4", "3"
    for s in SESSIONS:
        shows_state(tabs[s.name], s, widgets[s.name], query[s.name])
    seeds = [tabs[s.name].evaluate(WIDGET_JS, "Random seed") for s in SESSIONS]
    assert len(set(seeds)) == len(SESSIONS), seeds
    expect(eigen_title(low)).to_contain_text("ρ = 2)")
    expect(eigen_title(high)).to_contain_text("ρ = 1.2)")
    expect(tabs["unroll-lstm"].get_by_role("heading", name="Step 4: forward")).to_be_visible()
    expect(tabs["unroll-gru"].get_by_role("heading", name="Step 3: backward")).to_be_visible()
    assert tabs["unroll-lstm"].evaluate(UNROLL_STEP_JS) == [4]
    assert tabs["unroll-gru"].evaluate(UNROLL_STEP_JS) == [3]

    # 3. Two sessions train, each its own run: a later loss series agrees with the earlier one
    # wherever both have a point (the same run, never restarted or swapped; History thins old
    # points past 2,000), and the two runs' losses differ. (Training runs as briefly as the checks
    # allow: a live chart costs its browser about a core.)
    for name in ("char-rnn", "char-gru"):
        tabs[name].get_by_role("button", name="Start", exact=True).click()
    for name in ("char-rnn", "char-gru"):
        step_reaches(tabs[name], 1)
    early = {name: loss_series(tabs[name]) for name in ("char-rnn", "char-gru")}
    for name in ("char-rnn", "char-gru"):
        step_reaches(tabs[name], early[name]["x"][-1] + 10)
        first, grown = (dict(zip(series["x"], series["y"])) for series in (early[name], loss_series(tabs[name])))
        assert max(grown) > max(first) and max(first) in grown
        assert all(grown[step] == first[step] for step in first.keys() & grown.keys())
    first_rnn, first_gru = (dict(zip(early[name]["x"], early[name]["y"])) for name in ("char-rnn", "char-gru"))
    common = first_rnn.keys() & first_gru.keys()
    assert common and [first_rnn[step] for step in common] != [first_gru[step] for step in common]

    # 4. Pausing one run leaves the other running; the untouched Char-RNN session never trained.
    paused = tabs["char-rnn"]
    paused.get_by_role("button", name="Pause", exact=True).click()
    expect(paused.get_by_role("button", name="Resume", exact=True)).to_be_enabled()
    wait_for_app(paused)
    stopped_at, stopped_series = paused.evaluate(STEP_JS), loss_series(paused)
    assert stopped_series["x"][-1] == stopped_at
    step_reaches(tabs["char-gru"], tabs["char-gru"].evaluate(STEP_JS) + 30)  # the clock
    assert paused.evaluate(STEP_JS) == stopped_at and loss_series(paused) == stopped_series
    never_trained(idle)

    # 5. While the other run trains, sessions rerun once more, now after everyone else's changes,
    # and still show their own values. flow-low visits Home and comes back while flow-high moves
    # its slider: a page's controls survive the trip from this session's state, not anyone's.
    gru_step = tabs["char-gru"].evaluate(STEP_JS)
    thumb.focus()
    thumb.press("ArrowLeft")                    # 2.0 -> 1.95
    widgets["flow-low"]["Spectral radius ρ"], query["flow-low"]["gf_rho"] = "1.95", "1.95"
    tabs["unroll-lstm"].get_by_role("button", name="Forward one", exact=True).click()  # "hello": T = 4, so
    query["unroll-lstm"]["unroll_phase"] = "backward"                       # step 4 of the way back
    widgets["unroll-lstm"]["Phase"] = "Backward pass (BPTT)"
    widget(idle, "stNumberInput", "Random seed").locator('[data-testid="stNumberInputStepDown"]').click()
    widgets["char-idle"]["Random seed"] = query["char-idle"]["seed"] = "9"
    for name in ("flow-low", "unroll-lstm", "char-idle"):
        shows_state(tabs[name], by_name[name], widgets[name], query[name])
    never_trained(idle)                         # a rerun after two runs started elsewhere
    nav_to(low, "Home", "RNN Lab")
    high_thumb = widget(high, "stSlider", "Spectral radius ρ").get_by_role("slider")
    high_thumb.focus()
    high_thumb.press("ArrowRight")              # 1.2 -> 1.25
    widgets["flow-high"]["Spectral radius ρ"], query["flow-high"]["gf_rho"] = "1.25", "1.25"
    shows_state(high, by_name["flow-high"], widgets["flow-high"], query["flow-high"])
    nav_to(low, "Gradient flow", "Gradient flow")
    tabs["char-gru"].get_by_role("button", name="Pause", exact=True).click()  # a full rerun; and less load
    expect(tabs["char-gru"].get_by_role("button", name="Resume", exact=True)).to_be_enabled()
    for s in SESSIONS:
        shows_state(tabs[s.name], s, widgets[s.name], query[s.name])
    expect(eigen_title(low)).to_contain_text("ρ = 1.95)")
    expect(eigen_title(high)).to_contain_text("ρ = 1.25)")
    expect(tabs["unroll-lstm"].get_by_role("heading", name="Step 4: backward")).to_be_visible()
    assert tabs["char-gru"].evaluate(STEP_JS) > gru_step  # it trained on through all this
    never_trained(idle)
