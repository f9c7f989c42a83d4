"""Shared fixtures: a Streamlit server, a Chromium page, screenshots on failure, no skips in CI.

Fixture names: `browser` and `page` are ours. pytest-playwright (installed) defines fixtures
with the same names, so pytest.ini disables that plugin (`-p no:playwright`); we use
Playwright's sync API directly with the system Chromium.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import ARTIFACTS, REPO_ROOT

# One BLAS thread, for the servers these tests start as for the app (README): the matrices are
# small, so a second thread only adds contention, which a loaded 2-core machine turns into
# slowdowns of 10x (measured: 100 char-RNN steps 81 s instead of 6 s).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1600, "height": 1000}
SERVER_START_TIMEOUT = 60.0
# Playwright's expect() waits 5 s by default. A 2-core machine that also runs the server and
# Chromium's renderers can take longer than that to draw a page of Plotly charts, and a wait is
# a condition, not a speed check (speed lives in bench/), so every expect gets 20 s.
EXPECT_TIMEOUT_MS = 20_000


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real Streamlit server with Chromium")
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)


# --- skips are failures in CI --------------------------------------------------------------

def _skip_is_failure() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)  # read by the page fixture for screenshots
    if _skip_is_failure() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped tests are failures when CI is set: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    report = outcome.get_result()
    if _skip_is_failure() and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"a module skipped at collection (CI is set): {report.longrepr}"


# --- Streamlit server ----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(log_name: str, app_dir: Path = REPO_ROOT) -> tuple[subprocess.Popen, str, Path]:
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    log_path = ARTIFACTS / f"server-{log_name}-{port}.log"
    log = open(log_path, "w")
    command = [sys.executable, "-m", "streamlit", "run", "app.py",
               "--server.port", str(port), "--server.headless", "true",
               "--server.fileWatcherType", "none"]  # tests never edit sources; saves CPU
    # PYTHONPATH: an app outside the repository (a test's tiny app) still imports lab_ui.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(command, cwd=app_dir, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with code {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return process, url, log_path
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            _stop_server(process)
            pytest.fail(f"streamlit did not answer {url}/_stcore/health within "
                        f"{SERVER_START_TIMEOUT:.0f} s:\n{log_path.read_text()}")
        time.sleep(0.2)


def _stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def streamlit_server() -> Iterator[str]:
    """Base URL of a Streamlit server running app.py, shared by the whole session."""
    process, url, _ = _start_server("session")
    yield url
    _stop_server(process)


@pytest.fixture
def fresh_server() -> Iterator[Callable[..., str]]:
    """Factory: each call starts a new server (no request served yet) and returns its URL.

    `fresh_server()` serves the repository's app.py; `fresh_server(tmp_path)` serves the app.py
    in that folder (with lab_ui importable), for a test's own tiny app.
    """
    processes = []

    def start(app_dir: Path = REPO_ROOT) -> str:
        process, url, _ = _start_server("fresh", Path(app_dir))
        processes.append(process)
        return url

    yield start
    for process in processes:
        _stop_server(process)


@pytest.fixture(scope="module")
def visited_server(streamlit_server, browser) -> str:
    """The shared server after one visit to Home, for tests of a page itself (deep links as a fresh
    server's first request are tests/test_browser_shell.py's subject)."""
    from harness import wait_for_app

    context = browser.new_context()
    try:
        home = context.new_page()
        home.goto(streamlit_server)
        wait_for_app(home)
    finally:
        context.close()
    return streamlit_server


# --- Chromium --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser():
    """Headless system Chromium via Playwright's sync API. Missing Chromium fails, never skips."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it (apt-get install chromium); "
                    "bash .ci/run does this when run as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):
    """A 1600x1000 page in a fresh context; on failure its screenshot goes to test-artifacts/."""
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        except Exception as error:  # a crashed page must not hide the test's own failure
            print(f"could not save the failure screenshot: {error}")
    context.close()
