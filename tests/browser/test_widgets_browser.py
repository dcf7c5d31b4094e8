"""The labs' widgets in a real browser: JupyterLab on 127.0.0.1, headless Chromium driven by selenium.

For each notebook: open it, run all cells, then for every interactive figure check that exactly one figure is
shown, move a slider with the keyboard (arrow keys on the focused handle) and by dragging its handle, and check
that the figure's pixels changed each time. Skipped where Chromium, chromedriver (Debian: ``apt-get install
chromium chromium-driver``), selenium or JupyterLab is missing; .ci/run installs them. On failure a screenshot
is written to a temporary folder named in the failure message.
"""

import importlib.util
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = [name for name, present in [("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER),
                                      ("selenium", importlib.util.find_spec("selenium")),
                                      ("jupyterlab", importlib.util.find_spec("jupyterlab"))] if not present]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} for the browser test")

NOTEBOOKS = ["01_transform_images.ipynb", "08_evaluation.ipynb"]
SCREENSHOTS = Path(tempfile.gettempdir()) / "reglab-browser-screenshots"
QUIET = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                              "checkForUpdates": False}}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, timeout, what):
    """Poll ``condition`` until it returns something true; an element replaced while we look at it (the figure is
    redrawn between finding its <img> and reading its pixels) is a reason to look again, not a failure."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except StaleElementReferenceException:
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(driver, base URL, token, folder): JupyterLab serving a copy of the notebooks, and a headless Chromium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    folder = tmp_path_factory.mktemp("browser")
    for name in NOTEBOOKS:                                   # a copy: JupyterLab's autosave never touches the repo
        shutil.copy(ROOT / "solutions" / name, folder / name)
    shutil.copy(ROOT / "labs" / NOTEBOOKS[0], folder / f"lab_{NOTEBOOKS[0]}")
    settings = folder / ".settings"
    for relative, values in QUIET.items():
        (settings / relative).parent.mkdir(parents=True, exist_ok=True)
        (settings / relative).write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "JUPYTER_RUNTIME_DIR": str(folder / ".runtime"),
                   "JUPYTERLAB_WORKSPACES_DIR": str(folder / ".workspaces")}
    environment.pop("MPLBACKEND", None)                      # the kernel's figures are inline, as for a student
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}", "--LabApp.expose_app_in_browser=True",
         f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={folder / '.workspaces'}",
         "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False", "--allow-root"],
        cwd=folder, env=environment, stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "w"))
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).status == 200
        except OSError:
            return False

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000", f"--user-data-dir={folder / '.chromium'}"]:
        options.add_argument(flag)
    driver = None
    try:
        wait_for(up, 60, f"JupyterLab on {base} (log: {folder / 'server.log'})")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.set_script_timeout(30)
        yield driver, base, token, folder
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def open_notebook(driver, base, token, name):
    """Open ``name`` in JupyterLab and wait for its kernel; returns nothing (the notebook is the current widget)."""
    driver.get(f"{base}/lab/tree/{name}?reset&token={token}")
    wait_for(lambda: driver.execute_script(
        "const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
        " && w.sessionContext.session.kernel.connectionStatus === 'connected'"
        " && w.sessionContext.kernelDisplayStatus === 'idle' && w.context.isReady);"), 60, f"{name}'s kernel")


def run_all(driver, name, timeout=120):
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    time.sleep(1)
    wait_for(lambda: driver.execute_script(
        "const w = window.jupyterapp.shell.currentWidget;"
        "const code = w.content.widgets.filter(c => c.model.type === 'code');"
        "return w.sessionContext.kernelDisplayStatus === 'idle'"
        " && code.every(c => c.model.executionCount !== null && !c.promptNode.textContent.includes('*'));"),
        timeout, f"all cells of {name} to run")


def pixels(element):
    """The element as it is drawn on screen: an (H, W, 4) float array."""
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(element.screenshot_as_png), format="png")


def redrawn(driver, figure_of, before, what):
    """Wait until the widget's figure differs from ``before`` (a new <img> or new pixels); returns the new pixels."""
    def changed():
        image = figure_of()
        if image is None:
            return None
        now = pixels(image)
        return [now] if now.shape != before.shape or np.abs(now - before).max() > 0.05 else None
    return wait_for(changed, 90, f"the figure to redraw after {what}")[0]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_widgets_redraw_when_a_slider_moves(lab, name):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver, base, token, folder = lab
    try:
        open_notebook(driver, base, token, name)
        run_all(driver, name)
        widgets = driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .widget-interact")
        assert widgets, f"{name}: no interactive figure rendered (widget-interact)"
        for number, widget in enumerate(widgets):
            cell = widget.find_element(By.XPATH, "ancestor::div[contains(@class, 'jp-CodeCell')]")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", widget)

            def figure_of():
                images = widget.find_elements(By.CSS_SELECTOR, ".widget-output img")
                return images[0] if len(images) == 1 else None

            figure = wait_for(figure_of, 30, f"{name}: widget {number}'s figure")
            shown = cell.find_elements(By.CSS_SELECTOR, ".jp-Cell-outputWrapper img")
            assert len(shown) == 1, f"{name}: widget {number}'s cell shows {len(shown)} figures, expected exactly 1"

            def drawn():
                image = figure_of()
                return [pixels(image)] if image is not None else None

            before = wait_for(drawn, 30, f"{name}: widget {number}'s pixels")[0]
            modes = [b for b in widget.find_elements(By.CSS_SELECTOR, ".widget-toggle-button")
                     if b.text.strip() == "checkerboard"]
            if modes:                                          # the viewer: its tile slider works in this mode only
                modes[0].click()
                before = redrawn(driver, figure_of, before, "the checkerboard button")
            handles = driver.execute_script(
                "return [...arguments[0].querySelectorAll('.noUi-handle, .ui-slider-handle')].filter(h =>"
                " h.offsetParent !== null && !h.closest('[disabled]') && !h.closest('.ui-state-disabled'));", widget)
            assert handles, f"{name}: widget {number} has no enabled slider"
            handle = handles[0]
            handle.click()                                     # focus the handle, then the arrow keys move it
            ActionChains(driver).send_keys(Keys.ARROW_RIGHT).pause(0.2).send_keys(Keys.ARROW_RIGHT).perform()
            after_keys = redrawn(driver, figure_of, before, "two → keys")
            ActionChains(driver).click_and_hold(handle).move_by_offset(-80, 0).pause(0.2).release().perform()
            redrawn(driver, figure_of, after_keys, "dragging the handle 80 px left")
            assert len(cell.find_elements(By.CSS_SELECTOR, ".jp-Cell-outputWrapper img")) == 1
            if os.environ.get("REGLAB_SCREENSHOTS"):             # to look at the widgets as a student sees them
                Path(os.environ["REGLAB_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
                cell.screenshot(str(Path(os.environ["REGLAB_SCREENSHOTS"]) / f"{name[:2]}_widget{number}.png"))
    except BaseException:
        SCREENSHOTS.mkdir(exist_ok=True)
        shot = SCREENSHOTS / f"{name}.png"
        driver.save_screenshot(str(shot))
        print(f"screenshot: {shot}; JupyterLab's log: {folder / 'server.log'}")
        raise


def test_a_lab_opens_unmodified(lab):
    """Opening a lab does not mark it modified (its kernel spec is the one ipykernel installs)."""
    driver, base, token, folder = lab
    open_notebook(driver, base, token, f"lab_{NOTEBOOKS[0]}")
    time.sleep(2)
    assert driver.execute_script("return window.jupyterapp.shell.currentWidget.context.model.dirty;") is False
