"""Browser tests: a real Yajin server (the debug binary, demo data, embedded sandbox bank)
driven in headless Chromium by Playwright.

Run from the repository root after `cargo build`:
    python -m pytest crates/interfaces/tests/browser
Environment: YAJIN_BIN (default target/debug/yajin), CHROMIUM (default /usr/bin/chromium),
YAJIN_SCREENSHOTS (a folder: the main pages are saved there at 390x844 and 1440x900).
"""

import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[4]
PHONE = (390, 844)
DESKTOP = (1440, 900)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def base_url():
    binary = Path(os.environ.get("YAJIN_BIN", ROOT / "target" / "debug" / "yajin"))
    assert binary.exists(), f"{binary} is missing: run `cargo build` first"
    data = tempfile.mkdtemp(prefix="yajin-browser-")
    port = free_port()
    log = open(Path(data) / "server.log", "w")
    server = subprocess.Popen(
        [str(binary), "serve", "--demo", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/readyz", timeout=1)
            break
        except Exception:
            assert server.poll() is None, (Path(data) / "server.log").read_text()
            assert time.time() < deadline, "the server did not become ready"
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(10)
    log.close()


@pytest.fixture(scope="session")
def chromium():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
        yield browser
        browser.close()


class Session:
    """One person's browser: a context of its own (its cookies), zh-CN unless told."""

    def __init__(self, chromium, base_url, size, locale="zh-CN"):
        self.base = base_url
        self.context = chromium.new_context(viewport={"width": size[0], "height": size[1]}, locale=locale)
        self.page = self.context.new_page()
        self.errors = []
        # Script errors, and any sub-resource (style, script, image) that failed. A page itself
        # may answer 4xx on purpose (a refused form comes back as 422), which Chromium also
        # logs as a console error: those are the test's to check, not noise to fail on.
        self.page.on(
            "console",
            lambda m: self.errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None,
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(
            "response",
            lambda r: self.errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document"
            else None,
        )

    def go(self, path):
        response = self.page.goto(self.base + path)
        return response

    def shot(self, name):
        folder = os.environ.get("YAJIN_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            width = self.page.viewport_size["width"]
            self.page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)

    def assert_fits(self):
        """Nothing sticks out sideways: the page needs no horizontal scrolling."""
        width = self.page.evaluate("document.scrollingElement.scrollWidth")
        screen = self.page.viewport_size["width"]
        assert width <= screen, f"{self.page.url} is {width}px wide on a {screen}px screen"

    def reload_until(self, predicate, seconds=20):
        """Reloads until `predicate(page)` holds: for what the bank does in the background."""
        deadline = time.time() + seconds
        while not predicate(self.page):
            assert time.time() < deadline, f"never happened on {self.page.url}"
            time.sleep(0.3)
            self.page.reload()

    def close(self):
        assert not self.errors, f"the browser reported errors: {self.errors}"
        self.context.close()


@pytest.fixture
def person(chromium, base_url):
    opened = []

    def open_session(size=PHONE, locale="zh-CN"):
        s = Session(chromium, base_url, size, locale)
        opened.append(s)
        return s

    yield open_session
    for s in opened:
        s.close()


def merchant_login(s, phone, password="Demo@12345"):
    s.go("/")
    s.page.get_by_label("手机号").fill(phone)
    s.page.get_by_label("密码").fill(password)
    s.page.get_by_role("button", name="登录").click()
    s.page.wait_for_url(re.compile(r".*/devices$"))


def staff_login(s, username):
    s.go("/console")
    s.page.get_by_label("用户名").fill(username)
    s.page.get_by_label("密码").fill("Staff@12345")
    s.page.get_by_role("button", name="登录").click()
    s.page.wait_for_url(re.compile(r".*/console/\w+"))
