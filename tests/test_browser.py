"""The student path in a real browser: JupyterLab on loopback, driven by headless Chromium.

Opens F1, runs all cells from the Run menu, moves one explorer slider with the keyboard, and
checks that the explorer's figure changed and that no cell ended in an error. Needs Debian's
``chromium`` (``make test`` installs it) and the ``playwright`` package (no browser download:
it drives the system Chromium)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from snnkit import chapters

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "snnkit-browser-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a copy of book/ (running cells must not write into the sources)."""
    root = tmp_path / "book"
    shutil.copytree(chapters.BOOK, root, ignore=shutil.ignore_patterns("_build"))
    port = _free_port()
    cmd = [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser",
           "--ip=127.0.0.1", f"--port={port}", f"--ServerApp.token={TOKEN}",
           f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")})
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=1)
            break
        except OSError:
            assert server.poll() is None, (tmp_path / "lab.log").read_text()
            time.sleep(0.5)
    yield url, root
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def test_student_runs_f1_and_moves_a_slider(lab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), "Debian's chromium is missing: `make test` installs it"
    url, root = lab
    notebook = chapters.find("F1").notebook
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/{notebook}?token={TOKEN}")
        page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=120_000)
        select_kernel = page.locator(".jp-Dialog .jp-mod-accept")
        try:                            # a fresh server may ask which kernel to start
            select_kernel.wait_for(timeout=15_000)
            select_kernel.click()
        except PlaywrightTimeout:
            pass
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=120_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""", timeout=300_000)

        slider = page.locator(".widget-slider").first
        slider.scroll_into_view_if_needed()
        figure = page.locator(".jupyter-widgets img").first
        figure.scroll_into_view_if_needed()
        before = figure.screenshot()
        readout = slider.locator(".widget-readout")
        value = readout.inner_text()
        handle = slider.locator(".noUi-handle").first
        handle.focus()
        for _ in range(5):
            handle.press("ArrowRight")
        page.wait_for_function("([el, v]) => el.textContent !== v",
                               arg=[readout.element_handle(), value], timeout=30_000)
        deadline = time.time() + 60
        after = figure.screenshot()
        while after == before and time.time() < deadline:
            time.sleep(0.5)
            after = figure.screenshot()
        moved_to = readout.inner_text()
        page.keyboard.press("Control+s")
        time.sleep(2)
        browser.close()

    assert moved_to != value, "the slider did not move"
    assert after != before, f"the explorer's figure did not change (slider {value} -> {moved_to})"
    saved = json.loads((root / notebook).read_text())
    code = [c for c in saved["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code), "not every cell ran"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, errors
