"""The leaderboard served by `streamlit run` on loopback, driven by Debian's headless Chromium.

Each page loads without an exception, shows its content, and is saved as a
screenshot (in pytest's tmp dir; also copied to $AOSTBENCH_SCREENSHOTS when
set). The pages still load while another process keeps writing runs, and a
download is checked byte for byte. The CLI's `aostbench leaderboard` is checked
to serve the app on the given DB. Browser tests skip only when chromium or
chromedriver is absent.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from benchmark.profiles import SMOKE
from benchmark.store import Metrics, RunResult, Store, queries, tables
from tests.leaderboard_fixtures import AUTOLINK_REASON, seed_demo_db

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "leaderboard_app" / "app.py"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
BROWSER_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run")
BEST_RGB = "rgba(214, 39, 40, 1)"  # style.BEST (#d62728), as the browser computes it
SECOND_RGB = "rgba(31, 95, 191, 1)"  # style.SECOND (#1f5fbf)
# page url -> (title, a CSS selector that appears once the page's content has rendered)
PAGES = {
    "": ("Leaderboard · Table 2", "table.lb td[data-test]"),
    "ablation": ("Ablation · Table 3", "[data-testid='stVegaLiteChart']"),
    "fid": ("FID · Figs. 8 and 9", "[data-testid='stVegaLiteChart']"),
    "attributes": ("Attributes", "[data-testid='stImage'] img"),
    "runs": ("Runs", "[data-testid='stDataFrame']"),
    "submissions": ("Submissions", "[data-testid='stExpander']"),
    "downloads": ("Downloads", "[data-testid='stDownloadButton']"),
}

_have_browser = Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()
needs_browser = pytest.mark.skipif(
    not _have_browser, reason=f"browser test needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}); "
                              "install them with `apt-get install -y chromium chromium-driver` (.ci/run does)")
pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, proc: subprocess.Popen, limit: float = 90.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"nothing answered on port {port} within {limit:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    """End the server and everything it started (its own process group)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(15)
        except ProcessLookupError:
            pass


@contextmanager
def serving(cmd: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(port, proc)
        yield proc
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("lbb")
    return seed_demo_db(root / "results" / "aostbench.duckdb", root / "results" / "runs")


@pytest.fixture(scope="module")
def server(demo, tmp_path_factory):
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]
    env = dict(os.environ, AOSTBENCH_DB=str(demo.db_path), AOSTBENCH_RUNS=str(demo.runs_dir))
    with serving(cmd, port, env, tmp_path_factory.mktemp("log") / "streamlit.log"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1500,1100")
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def screens(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screens")


def load(driver, url: str, title: str, ready: str, limit: float = 90.0) -> None:
    """Open a page and wait until its title and content are there and the script has finished."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, limit, poll_frequency=0.25)
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid='stMain'] h1"), title))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ready)))
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']"))
    time.sleep(0.5)  # charts draw a moment after their element appears


def assert_no_error(driver) -> None:
    from selenium.webdriver.common.by import By

    assert not driver.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")
    text = driver.find_element(By.TAG_NAME, "body").text
    assert "Traceback" not in text and "StreamlitAPIException" not in text


def assert_text_not_linked(driver, text: str) -> None:
    """`text` is on the page as text, and no link anywhere in the page's content points where it names."""
    from selenium.webdriver.common.by import By

    body = driver.find_element(By.TAG_NAME, "body").text
    assert text in body.replace("\n", " ")
    hrefs = [a.get_attribute("href") or "" for a in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stMain'] a")]
    assert not [h for h in hrefs if "example" in h or h.startswith("mailto:")], hrefs


def screenshot(driver, folder: Path, name: str) -> Path:
    """The whole page: the window grows to the content's height first."""
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : 1100;")
    driver.set_window_size(1500, int(min(max(height + 80, 900), 6000)))
    time.sleep(0.4)
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1500, 1100)
    extra = os.environ.get("AOSTBENCH_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)
    return path


# -- every page in a real browser ---------------------------------------------------------------------
@needs_browser
@pytest.mark.browser
@pytest.mark.parametrize("page", list(PAGES))
def test_each_page_loads_in_chromium_and_is_saved(server, browser, screens, demo, page):
    from selenium.webdriver.common.by import By

    title, ready = PAGES[page]
    query = f"?run={demo.sheet_run}" if page == "attributes" else ""
    load(browser, f"{server}/{page}{query}", title, ready)
    assert_no_error(browser)
    body = browser.find_element(By.TAG_NAME, "body").text
    if page in ("", "ablation"):
        assert "FineGPR+AOST" in body and "sim-FineGPR+AOST (procedural)" in body
    if page == "attributes":
        assert len(browser.find_elements(By.CSS_SELECTOR, "[data-testid='stVegaLiteChart']")) >= 17
    if page == "submissions":
        assert "<script>alert('x')</script>" in body  # the hostile name, shown as typed text
        for summary in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stExpander'] summary"):
            browser.execute_script("arguments[0].scrollIntoView(); arguments[0].click();", summary)
        time.sleep(0.5)
        assert_text_not_linked(browser, AUTOLINK_REASON)
    if page == "runs":
        from selenium.webdriver.support.ui import WebDriverWait

        box = browser.find_element(By.CSS_SELECTOR, "[data-testid='stSelectbox'] input")
        box.click()
        box.send_keys("failed")
        options = WebDriverWait(browser, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "[role='option']"))
        options[0].click()
        WebDriverWait(browser, 60).until(lambda d: "evil.example" in d.find_element(By.TAG_NAME, "body").text)
        assert_text_not_linked(browser, AUTOLINK_REASON)
        scripts = browser.execute_script(
            "return Array.from(document.querySelectorAll('script')).filter(s => s.text.includes('alert')).length")
        assert scripts == 0  # it did not become a script element
    shot = screenshot(browser, screens, page or "leaderboard")
    assert shot.stat().st_size > 10_000


@needs_browser
@pytest.mark.browser
def test_the_browser_paints_best_red_and_second_blue_on_the_stored_maxima(server, browser):
    from selenium.webdriver.common.by import By

    load(browser, server + "/", *PAGES[""])
    cells = browser.find_elements(By.CSS_SELECTOR, "td[data-test='sim-market1501'][data-metric='r1']")
    groups: dict[str, list] = {}
    for td in cells:
        if td.get_attribute("data-value") and td.get_attribute("data-supervised") == "0":
            groups.setdefault(td.get_attribute("data-group"), []).append(td)
    checked = 0
    for members in groups.values():
        if len(members) < 2:
            continue
        top = max(float(td.get_attribute("data-value")) for td in members)
        for td in members:
            colour = td.find_element(By.CSS_SELECTOR, "span.v").value_of_css_property("color")
            if float(td.get_attribute("data-value")) == top:
                assert colour == BEST_RGB
            else:
                assert colour != BEST_RGB
        checked += 1
    assert checked >= 2
    assert browser.find_elements(By.CSS_SELECTOR, "span.v.second")[0].value_of_css_property("color") == SECOND_RGB
    sup = browser.find_elements(By.CSS_SELECTOR, "span.v.sup")[0]
    assert "underline" in sup.value_of_css_property("text-decoration-line")


@needs_browser
@pytest.mark.browser
def test_a_download_from_the_browser_is_the_stores_csv(server, browser, demo):
    from selenium.webdriver.common.by import By

    load(browser, server + "/downloads", *PAGES["downloads"])
    browser.find_element(By.CSS_SELECTOR, ".st-key-dl-table2-csv button").click()
    target = Path(browser.downloads) / "table2.csv"
    deadline = time.monotonic() + 30
    while not target.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    expected = tables.to_csv(queries.table_rows(2, db_path=demo.db_path))
    assert target.read_text(encoding="utf-8") == expected


# -- while a run is writing ---------------------------------------------------------------------------
def _keep_writing(db: str, runs_dir: str, seconds: float, started, written) -> None:
    """A writer like `aostbench run`: start and finish runs, one short transaction each, for a while."""
    store = Store(db, runs_dir)
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        run = RunResult.new("sim-finegpr+random", SMOKE, 100 + i, ["sim-market1501"])
        store.start_run(run)
        run.metrics["sim-market1501"] = Metrics(r1=20.0 + i % 10, r5=40.0, map=10.0)
        run.train_images = 300
        store.finish_run(run)
        i += 1
        with written.get_lock():
            written.value = i
        started.set()


@needs_browser
@pytest.mark.browser
def test_pages_load_while_another_process_keeps_writing(server, browser, screens, demo):
    from selenium.webdriver.common.by import By

    before = len(queries.runs_df(demo.db_path))
    ctx = mp.get_context("spawn")
    started, written = ctx.Event(), ctx.Value("i", 0)
    writer = ctx.Process(target=_keep_writing, args=(str(demo.db_path), str(demo.runs_dir), 12.0, started, written))
    writer.start()
    try:
        assert started.wait(60), "the writer never wrote"
        overlapped = 0
        for page in ("", "runs"):
            alive = writer.is_alive()
            load(browser, f"{server}/{page}", *PAGES[page])
            assert_no_error(browser)
            overlapped += alive
        assert overlapped >= 1, "the writer finished before any page loaded: nothing was tested"
        screenshot(browser, screens, "runs-while-writing")
    finally:
        writer.join(60)
        if writer.is_alive():
            writer.kill()
    assert writer.exitcode == 0
    # after the writer is done, the page shows what it wrote
    load(browser, f"{server}/runs", *PAGES["runs"])
    caption = next(e.text for e in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stCaptionContainer']")
                   if "runs, newest first" in e.text)
    assert caption.startswith(f"{before + written.value} of {before + written.value} runs")


# -- the CLI serves the app ---------------------------------------------------------------------------
def test_cli_leaderboard_serves_the_app_on_the_given_db(tmp_path):
    db = tmp_path / "given.duckdb"
    port = free_port()
    cmd = [sys.executable, "-m", "cli.main", "leaderboard", "--db", str(db), "--port", str(port),
           "--host", "127.0.0.1"]
    with serving(cmd, port, dict(os.environ), tmp_path / "cli.log") as proc:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
        children = psutil.Process(proc.pid).children(recursive=True)
        streamlit = [c for c in children if str(APP) in c.cmdline()]
        assert streamlit, [c.cmdline() for c in children]
        assert streamlit[0].environ().get("AOSTBENCH_DB") == str(db.resolve())
        assert "--server.headless" in streamlit[0].cmdline()
    assert proc.poll() is not None
    assert not db.exists()  # serving never creates the DB
