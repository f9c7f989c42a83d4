"""A classroom on one server: 30 browser sessions, 10 of them training a Char-RNN (PRODUCT.md, Targets).

    .venv/bin/python bench/classroom.py [--sessions 30] [--training 10] [--interactions 6]
                                        [--duration 60] [--settle 150] [--browser-first]

Starts a fresh `streamlit run app.py` (headless, a free port, OPENBLAS_NUM_THREADS=1, as the README
serves it) and opens every session in its own context of Debian's Chromium. The first --training
sessions start the Char-RNN page with its defaults (cells LSTM, GRU, RNN in turn, one seed each); the
others alternate between Gradient flow (hidden 64, T = 200, a seed each, so the cache misses as for
students) and Unroll. While the runs train for at least --duration seconds it measures:

(a) redraw time of every non-training session: from the key press or click (a spectral-radius slider
    step up; Unroll's next step) until the page shows the new value and Streamlit's script state is
    back to notRunning, on the page's own clock; and the server's part of it (see below); a think
    time of 1-4 s between interactions;
(b) each training page's new points per second, redraws per second and longest gap between redraws;
(c) the server's memory (VmRSS over its process tree) at start, with every session, and after all
    pages are closed: sampled for --settle seconds (Streamlit keeps a disconnected session for
    server.disconnectedSessionTTL = 120 s and drops it lazily), then once more after one new visit.

Chromium runs on the same two cores as the server (in a class each browser has its own machine):
it runs as SCHED_IDLE so that the server gets the cores first (--browser-first: both at normal
priority), the server time in (a) leaves rendering out, and the table gives the CPU time of both
sides. Not part of CI.
"""
import argparse
import asyncio
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]  # as tests/conftest.py
VIEWPORT = {"width": 1600, "height": 1000}
CELLS = ("lstm", "gru", "rnn")
POLL_MS = 50         # the training pages read their step this often (in-page poller)
THINK_S = (1.0, 4.0)  # a student's pause between two control changes, uniform

READY_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.getAttribute('data-test-script-state') === 'notRunning'
        && app.getAttribute('data-test-connection-state') === 'CONNECTED'
        && document.querySelector('[data-testid="stSidebar"] [data-testid="stNumberInput"] input') !== null;
}"""
STEP_JS = """() => {
    const metric = [...document.querySelectorAll('[data-testid="stMetric"]')].find(m =>
        m.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim() === 'Step');
    return metric ? Number(metric.querySelector('[data-testid="stMetricValue"]').innerText.replace(/,/g, '')) : null;
}"""
# Records (time, step) whenever the step shown changes.
POLLER_JS = f"""() => {{
    window.__ticks = []; let last = null;
    setInterval(() => {{
        const step = ({STEP_JS})();
        if (step !== null && step !== last) {{ window.__ticks.push([performance.now(), step]); last = step; }}
    }}, {POLL_MS});
}}"""
# The time of the next user action (key press or click), on the page's clock.
MARK_JS = """() => {
    window.__t0 = undefined;
    for (const type of ['keydown', 'click'])
        document.addEventListener(type, () => { window.__t0 ??= performance.now(); }, {capture: true, once: true});
}"""
# Truthy (the redraw time in ms) once the text is on the page and the script has finished.
DONE_JS = """([selector, text]) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const shown = [...document.querySelectorAll(selector)].some(e => e.textContent.includes(text));
    return shown && window.__t0 !== undefined && app.getAttribute('data-test-script-state') === 'notRunning'
        ? performance.now() - window.__t0 : false;
}"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                               "--server.headless", "true", "--server.fileWatcherType", "none"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not answer its health check within 60 s")


def process_tree(root):
    """`root` and all its descendants, from /proc."""
    children = {}
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        except (ValueError, OSError):
            continue
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def rss_mb(root):
    """VmRSS summed over the process tree of `root`, in MB."""
    total = 0
    for pid in process_tree(root):
        try:
            line = next(ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("VmRSS"))
            total += int(line.split()[1])
        except (OSError, StopIteration):
            continue
    return total / 1024


def cpu_seconds(pids):
    """User + system CPU time of `pids`, in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError):
            continue
    return total


def say(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def ready(page, timeout=300_000):
    await page.wait_for_function(READY_JS, timeout=timeout, polling=200)


async def watch_websocket(page):
    """The times (s, Chromium's network clock) of the page's websocket frames, sent and received."""
    frames = {"sent": [], "received": []}
    cdp = await page.context.new_cdp_session(page)
    cdp.on("Network.webSocketFrameSent", lambda event: frames["sent"].append(event["timestamp"]))
    cdp.on("Network.webSocketFrameReceived", lambda event: frames["received"].append(event["timestamp"]))
    await cdp.send("Network.enable")
    return frames


async def redraw_ms(page, frames, act, selector, text):
    """(page time, server time) in ms of one action. Page: from the action until `text` is drawn
    and the run is over. Server: from the rerun request leaving until the run's last message
    arrived, as Chromium's network service saw them (no rendering in it)."""
    await page.evaluate(MARK_JS)
    frames["sent"].clear()
    frames["received"].clear()
    await act()
    done = await page.wait_for_function(DONE_JS, arg=[selector, text], polling="raf", timeout=120_000)
    await asyncio.sleep(0.3)  # let the last network events reach us
    sent, received = frames["sent"][:1], [t for t in frames["received"] if frames["sent"] and t > frames["sent"][0]]
    server = 1000 * (max(received) - sent[0]) if sent and received else float("nan")
    return await done.json_value(), server


UNROLL_ORDER = [f"Step {t}: forward" for t in range(1, 5)] + [f"Step {t}: backward" for t in range(4, 0, -1)]  # "hello": T = 4


async def next_change(page, kind):
    """(the action, the selector and text that show it is done), from what the page shows now."""
    if kind == "gradient-flow":  # rho up by one slider step: a value this session has not seen
        thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Spectral radius").get_by_role("slider")
        rho = float(await thumb.get_attribute("aria-valuetext"))
        await thumb.focus()
        return (lambda: thumb.press("ArrowRight")), ".gtitle", f"ρ = {round(rho + 0.05, 2):.3g})"
    shown = (await page.locator("h3").filter(has_text=re.compile(r"^Step \d+: ")).first.inner_text()).strip()
    i = UNROLL_ORDER.index(shown)
    if i + 1 == len(UNROLL_ORDER):
        return page.get_by_role("button", name="First step").click, "h3", UNROLL_ORDER[0]
    return page.get_by_role("button", name="Forward one").click, "h3", UNROLL_ORDER[i + 1]


async def interact(page, kind, n, rng):
    """`n` control changes in one session, with think times; their (page, server) times in ms,
    (None, None) for a change not drawn within 120 s."""
    times, frames = [], await watch_websocket(page)
    for _ in range(n):
        await asyncio.sleep(rng.uniform(*THINK_S))
        try:
            times.append(await redraw_ms(page, frames, *await next_change(page, kind)))
        except PlaywrightTimeout:
            times.append((None, None))
    return times


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def training_rates(ticks):
    """(new points per second, redraws per second, longest gap in s) from [(ms, step), ...]."""
    if len(ticks) < 2:
        return 0.0, 0.0, float("inf")
    span = (ticks[-1][0] - ticks[0][0]) / 1000
    gap = max(b[0] - a[0] for a, b in zip(ticks, ticks[1:])) / 1000
    return (ticks[-1][1] - ticks[0][1]) / span, (len(ticks) - 1) / span, gap


async def classroom(url, server, args):
    memory = {"server started": rss_mb(server.pid)}
    kinds = ["char-rnn"] * args.training + [("gradient-flow", "unroll")[i % 2]
                                            for i in range(args.sessions - args.training)]
    links = [f"/char-rnn?seed={i}&cell={CELLS[i % 3]}&steps=10000" if kind == "char-rnn" else
             f"/gradient-flow?seed={i}&gf_rho=0.5" if kind == "gradient-flow" else f"/unroll?seed={i}"
             for i, kind in enumerate(kinds)]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        contexts = [await browser.new_context(viewport=VIEWPORT) for _ in kinds]
        pages = [await context.new_page() for context in contexts]
        await pages[0].goto(url)  # a server's first request is not a deep link (tests/test_browser_char_rnn.py)
        await ready(pages[0])
        start = time.monotonic()
        await asyncio.gather(*(page.goto(url + link, wait_until="commit") for page, link in zip(pages, links)))
        await asyncio.gather(*(ready(page) for page in pages))
        load_s = time.monotonic() - start
        say(f"{len(pages)} pages loaded in {load_s:.0f} s")
        memory[f"{len(pages)} sessions loaded"] = rss_mb(server.pid)
        trainers = [page for page, kind in zip(pages, kinds) if kind == "char-rnn"]
        for page in trainers:
            await page.get_by_role("button", name="Start").click()
        await asyncio.gather(*(p.wait_for_function(f"() => ({STEP_JS})() >= 1", timeout=300_000) for p in trainers))
        await asyncio.gather(*(page.evaluate(POLLER_JS) for page in trainers))
        say(f"{len(trainers)} sessions training; the others change controls")

        browser_pids = [p for p in process_tree(os.getpid()) if p not in process_tree(server.pid)]
        cpu_start = cpu_seconds(process_tree(server.pid)), cpu_seconds(browser_pids)
        window = time.monotonic()
        rngs = [random.Random(i) for i in range(len(pages))]
        redraws = await asyncio.gather(asyncio.sleep(args.duration), *(
            interact(page, kind, args.interactions, rng) for page, kind, rng in zip(pages, kinds, rngs)
            if kind != "char-rnn"))
        ticks = await asyncio.gather(*(page.evaluate("window.__ticks") for page in trainers))
        window = time.monotonic() - window
        cpu = (cpu_seconds(process_tree(server.pid)) - cpu_start[0], cpu_seconds(browser_pids) - cpu_start[1])
        memory[f"{len(pages)} sessions, after {window:.0f} s with {len(trainers)} training"] = rss_mb(server.pid)
        for context in contexts:
            await context.close()
        say(f"all pages closed; watching memory for {args.settle} s")

        closed = time.monotonic()
        for mark in [5, *range(30, args.settle + 1, 30)]:
            await asyncio.sleep(max(0.0, closed + mark - time.monotonic()))
            memory[f"all pages closed, +{mark} s"] = rss_mb(server.pid)
        # Expired sessions are reaped when the session store is next written to: when a session
        # disconnects. So one more student comes and goes.
        probe = await browser.new_context()
        await (await probe.new_page()).goto(url)
        await ready(probe.pages[0])
        await probe.close()
        await asyncio.sleep(5)
        memory["one more visit, opened and closed, +5 s"] = rss_mb(server.pid)
        await browser.close()
    by_kind = {kind: [t for times, k in zip(redraws[1:], [k for k in kinds if k != "char-rnn"]) if k == kind
                      for t in times] for kind in ("gradient-flow", "unroll")}
    return load_s, window, by_kind, [training_rates(t) for t in ticks], memory, cpu


def report(args, load_s, window, by_kind, rates, memory, cpu):
    from bench.cells import machine_line  # imports PyTorch: only after the measurement
    print(machine_line(1) + f"; Streamlit served with OPENBLAS_NUM_THREADS=1; {os.cpu_count()} cores, "
          "Chromium on the same machine")
    print(f"\n{args.sessions} sessions ({args.training} training Char-RNN), {window:.0f} s of training; "
          f"all pages loaded in {load_s:.1f} s\n")
    print("| redraw after a control change (ms) | p50 | p95 | max | n |\n|---|---:|---:|---:|---:|")
    for kind, pairs in by_kind.items():
        for i, what in enumerate(["page: action to drawn", "server: request to last message"]):
            times = [pair[i] for pair in pairs if pair[i] is not None]
            print(f"| {kind}, {what} | {percentile(times, 50):,.0f} | {percentile(times, 95):,.0f} | "
                  f"{max(times, default=float('nan')):,.0f} | {len(times)} |")
    lost = sum(pair[0] is None for pairs in by_kind.values() for pair in pairs)
    if lost:
        print(f"\n{lost} control change(s) not drawn within 120 s (left out above).")
    print("\n| training, per session | median | worst | n |\n|---|---:|---:|---:|")
    for i, name in enumerate(["new points per second", "redraws per second", "longest gap between redraws (s)"]):
        values = [r[i] for r in rates]
        worst = max(values) if i == 2 else min(values)
        print(f"| {name} | {percentile(values, 50):.2f} | {worst:.2f} | {len(values)} |")
    print("\n| server memory (VmRSS, process tree) | MB |\n|---|---:|")
    for when, mb in memory.items():
        print(f"| {when} | {mb:,.0f} |")
    print(f"\nCPU during the training window: server {cpu[0] / window:.2f} cores, "
          f"Chromium + Playwright + this script {cpu[1] / window:.2f} cores "
          f"({'normal priority' if args.browser_first else 'SCHED_IDLE'}; {os.cpu_count()} cores).")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30, help="browser sessions in all (default 30)")
    parser.add_argument("--training", type=int, default=10, help="of which training a Char-RNN (default 10)")
    parser.add_argument("--interactions", type=int, default=6, help="control changes per other session (max 7)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of training at least (default 60)")
    parser.add_argument("--settle", type=int, default=150, help="seconds to watch memory after closing (default 150)")
    parser.add_argument("--browser-first", action="store_true",
                        help="run Chromium at normal priority (default: SCHED_IDLE, the server first)")
    args = parser.parse_args()
    if not 0 <= args.training <= args.sessions or not 1 <= args.interactions <= 7:
        parser.error("need 0 <= --training <= --sessions and 1 <= --interactions <= 7")
    sys.path.insert(0, str(ROOT))
    server = start_server(port := free_port())
    if not args.browser_first:  # this process and what it starts from now on: Playwright, Chromium.
        # Not nice(1): Chromium sets its own processes' niceness (as root even to -8); it keeps
        # the scheduling policy, so the browser only gets what the server leaves.
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    try:
        results = asyncio.run(classroom(f"http://127.0.0.1:{port}", server, args))
    finally:
        server.terminate()
        server.wait(timeout=10)
    report(args, *results)


if __name__ == "__main__":
    main()
