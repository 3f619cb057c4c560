"""The chapter as a student opens it: notebook 01 run in a real browser.

Run by ``python3 tasks.py browser-check`` (nox session ``browser-check``,
and .ci/run after the test command) with the Python of .nox/jupyter, which
has Selenium.  It needs
Debian's Chromium and ChromeDriver (/usr/bin/chromium, /usr/bin/chromedriver:
``apt-get install chromium chromium-driver``).

1. copies notebooks/ to build/browser/notebooks/ (JupyterLab saves what it
   runs; the stored notebooks must not change);
2. starts JupyterLab there exactly as ``python3 tasks.py lab`` does, on a
   free port of 127.0.0.1, with a token of its own;
3. opens notebook 01 in headless Chromium, runs every cell from JupyterLab's
   Run menu, waits until the kernel is idle and every code cell has an
   execution count; the notebook names the standard ``python3`` kernel,
   which the lab does not offer, so this also checks that the lab starts
   its default kernel by itself (no "Select Kernel" dialog);
3a. checks which kernel ran: the server's session for the notebook is
   ``mxparams-mxnet-DEFAULT_KERNEL_VERSION``, and a cell appended to the
   copy (``print("MXNet", mxnet.__version__)``) shows the MXNet version of
   that environment's Python;
4. checks that the page shows the ``mp.summary`` HTML table (a
   ``table.mxparams`` with its Path and Elements columns and its
   Parameters footer) and no error output, and keeps a screenshot: build/browser/notebook01.png;
5. writes the HTML report of ``mxparams notebooks check --cpu sse41
   --html`` on tests/notebook_drift/float-digits.ipynb (MXNet
   ``DEFAULT_KERNEL_VERSION``), opens it from disk, and checks that it
   renders without a console error: the summary table, the drifting cell
   with the stored and the new output side by side, the differing digits
   marked (screenshot build/browser/drift-report.png).

Every process it starts is stopped when it ends, passed or not.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))
import jupyter  # noqa: E402  (one definition of how the lab is started)

OUT = ROOT / "build" / "browser"
NOTEBOOK = "01_truy_cap_tham_so.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Seconds to wait for the server, the page, and all cells to run.
TIMEOUT = {"server": 60, "page": 90, "run": 240}


def fail(msg: str) -> None:
    raise SystemExit(f"[browser-check] FAILED: {msg}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, seconds: float, check, every: float = 0.5):
    """Poll ``check()`` until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    fail(f"timed out after {seconds:.0f} s waiting for {what}")


def server_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def browser() -> webdriver.Chrome:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            fail(f"{path} is missing; install Debian's browser: "
                 "apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # Headless, as root in a sandboxed machine with no network beyond
    # localhost: without the background-networking switches Chromium keeps
    # trying to reach Google's hosts.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,1800",
                 f"--user-data-dir={OUT / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def page_state(driver) -> dict:
    """What the rendered notebook shows, read from JupyterLab's DOM."""
    return driver.execute_script("""
        const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
        if (!panel) return {loaded: false};
        const cells = [...panel.querySelectorAll('.jp-CodeCell')];
        const prompts = cells.map(c => {
            const p = c.querySelector('.jp-InputArea-prompt');
            return p ? p.textContent.trim() : '';
        });
        const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
        const tables = [...panel.querySelectorAll('table.mxparams')].map(t => ({
            header: [...t.querySelectorAll('thead th')].map(th => th.textContent),
            footer: t.querySelector('tfoot') ? t.querySelector('tfoot').textContent : ''
        }));
        const errors = [...panel.querySelectorAll(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
            .map(e => e.textContent.slice(0, 500));
        const last = cells.length ? cells[cells.length - 1].querySelector('.jp-OutputArea') : null;
        return {loaded: true, cells: cells.length, prompts: prompts,
                busy: status ? status.getAttribute('data-status') : null,
                tables: tables, errors: errors,
                lastOutput: last ? last.textContent : ''};
    """)


def code_cells(path: Path) -> int:
    return sum(c["cell_type"] == "code"
               for c in json.loads(path.read_text())["cells"])


VERSION_CELL = 'import mxnet\nprint("MXNet", mxnet.__version__)'


def add_version_cell(path: Path) -> str:
    """Append a cell that prints the kernel's MXNet version to the copy of
    the notebook; returns what it must print (the version of the default
    kernel's environment, asked of its Python)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb["cells"].append({"cell_type": "code", "execution_count": None,
                        "id": "browser-check-version", "metadata": {},
                        "outputs": [], "source": VERSION_CELL})
    path.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")
    python = jupyter.env_python(jupyter.DEFAULT_KERNEL_VERSION)
    done = subprocess.run([str(python), "-c", VERSION_CELL], capture_output=True,
                          text=True)
    if done.returncode != 0:
        fail(f"{python} cannot import mxnet: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def session_kernel(base: str, token: str) -> str:
    """The kernel of the server's session for the notebook."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}",
                                timeout=10) as response:
        sessions = json.load(response)
    names = [s["kernel"]["name"] for s in sessions
             if s.get("path", "").endswith(NOTEBOOK)]
    if len(names) != 1:
        fail(f"{len(names)} kernel sessions for {NOTEBOOK}: {sessions!r}")
    return names[0]


def run_check(base: str, token: str, folder: Path, version_line: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    driver = browser()
    try:
        driver.set_page_load_timeout(TIMEOUT["page"])
        driver.get(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
        expected = code_cells(folder / NOTEBOOK)
        state = wait_for(f"the notebook's {expected} code cells and an idle "
                         "kernel", TIMEOUT["page"],
                         lambda: (lambda s: s if s.get("loaded")
                                  and s["cells"] == expected
                                  and s["busy"] == "idle" else None)(
                             page_state(driver)))
        print(f"[browser-check] notebook open: {state['cells']} code cells")
        # Run > Run All Cells, as a student would.
        menu = wait_for("the Run menu", 30, lambda: driver.find_elements(
            By.XPATH, "//li[contains(@class,'lm-MenuBar-item')]"
                      "[.//div[normalize-space()='Run']]"))
        menu[0].click()
        item = wait_for("Run All Cells", 30, lambda: driver.find_elements(
            By.XPATH, "//li[contains(@class,'lm-Menu-item')]"
                      "[.//div[normalize-space()='Run All Cells']]"))
        item[0].click()

        def all_ran():
            s = page_state(driver)
            done = s["busy"] == "idle" and len(s["prompts"]) == expected and all(
                p.startswith("[") and p[1:-2].strip().isdigit()
                for p in s["prompts"])
            return s if done else None
        state = wait_for("every cell to run", TIMEOUT["run"], all_ran, every=1)
        driver.save_screenshot(str(OUT / "notebook01.png"))
        print(f"[browser-check] every cell ran: {', '.join(state['prompts'])}")
        if state["errors"]:
            fail(f"{len(state['errors'])} error output(s), the first: "
                 f"{state['errors'][0]!r}")
        summaries = [t for t in state["tables"] if {"Path", "Elements"}
                     <= set(t["header"]) and "Parameters" in t["footer"]]
        if not summaries:
            fail(f"no mp.summary HTML table on the page (tables found: "
                 f"{state['tables']!r})")
        print(f"[browser-check] the mp.summary table is shown (columns "
              f"{', '.join(summaries[0]['header'])}); no error output; "
              f"screenshot {(OUT / 'notebook01.png').relative_to(ROOT)}")
        kernel = session_kernel(base, token)
        wanted = jupyter.kernel_name(jupyter.DEFAULT_KERNEL_VERSION)
        if kernel != wanted:
            fail(f"the notebook ran on the kernel {kernel!r}, not {wanted!r}")
        if version_line not in state["lastOutput"]:
            fail(f"the kernel printed {state['lastOutput']!r}, not {version_line!r}")
        print(f"[browser-check] kernel {kernel}: {version_line}")
    finally:
        driver.quit()


DRIFT = ROOT / "tests" / "notebook_drift" / "float-digits.ipynb"


def report_check() -> None:
    """The HTML drift report, as a reader opens it from a CI artifact."""
    folder = OUT / "report"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy(DRIFT, folder)  # the kernel runs beside the notebook
    report = OUT / "drift-report.html"
    python = jupyter.env_python(jupyter.DEFAULT_KERNEL_VERSION)
    done = subprocess.run([str(python), "-m", "mxparams", "notebooks", "check",
                           str(folder / DRIFT.name), "--cpu", "sse41",
                           "--html", str(report)], capture_output=True, text=True)
    if done.returncode != 1 or not report.is_file():
        fail(f"notebooks check --html exited {done.returncode} (1 expected: the "
             f"float cell drifts): {done.stderr.strip()[-500:]}")
    driver = browser()
    try:
        driver.get(report.as_uri())
        state = driver.execute_script("""
            const panels = [...document.querySelectorAll('section.cell figure')];
            return {summary: document.querySelectorAll('table.mxparams tbody tr').length,
                    cells: [...document.querySelectorAll('section.cell h3')]
                        .map(h => h.textContent),
                    panels: panels.map(f => f.querySelector('figcaption').textContent),
                    marks: document.querySelectorAll('section.cell mark.new').length,
                    widths: panels.map(f => f.getBoundingClientRect().width)};
        """)
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        driver.save_screenshot(str(OUT / "drift-report.png"))
    finally:
        driver.quit()
    if errors:
        fail(f"the report logs {len(errors)} console error(s): {errors[0]!r}")
    if state["cells"] != ["Cell 2 float-digits"] or state["summary"] != 1:
        fail(f"the report shows {state['cells']!r} with {state['summary']} summary "
             "row(s); 'Cell 2 float-digits' and 1 row expected")
    if len(state["panels"]) < 2 or not state["panels"][0].startswith("stored") \
            or state["marks"] < 1 or min(state["widths"]) <= 0:
        fail(f"the report's outputs are not drawn side by side with marks: {state!r}")
    print(f"[browser-check] the drift report renders: {state['cells'][0]}, panels "
          f"{' | '.join(state['panels'])}, {state['marks']} mark(s), no console "
          f"error; screenshot {(OUT / 'drift-report.png').relative_to(ROOT)}")


def main() -> int:
    folder = OUT / "notebooks"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(jupyter.NOTEBOOKS, folder)
    version_line = add_version_cell(folder / NOTEBOOK)
    port, token = free_port(), secrets.token_hex(16)
    versions = tuple(sorted(  # the kernels the env sessions wrote
        k.name.removeprefix("mxparams-mxnet-") for k in jupyter.KERNELS.glob("mxparams-mxnet-*")))
    argv, env = jupyter.lab_command(folder, versions, [
        "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}"])
    log = open(OUT / "jupyterlab.log", "w")
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("JupyterLab to answer", TIMEOUT["server"],
                 lambda: server.poll() is not None or server_up(
                     f"{base}/api/status?token={token}"))
        if server.poll() is not None:
            fail(f"JupyterLab exited ({server.returncode}); see "
                 f"{(OUT / 'jupyterlab.log').relative_to(ROOT)}")
        run_check(base, token, folder, version_line)
        report_check()
    except WebDriverException as err:
        fail(f"the browser: {err.msg}")
    finally:
        server.terminate()  # JupyterLab shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        try:  # and anything of its session that is left
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log.close()
    print("[browser-check] passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
