"""Browser tests: Playwright for Python driving the system's Chromium (Debian's package, at
/usr/bin/chromium or $JPSI_CHROMIUM), headless, against a real jpsi-serve on 127.0.0.1.

Playwright's own browser download cannot work offline, so it is never used. Without Chromium
these tests fail and say how to get it; JPSI_SKIP_BROWSER_TESTS=1 skips them on purpose.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.server import start, stop

CHROMIUM = Path(os.environ.get("JPSI_CHROMIUM", "/usr/bin/chromium"))
SKIP = os.environ.get("JPSI_SKIP_BROWSER_TESTS") == "1"
HOW_TO_GET_IT = (
    f"Chromium not found at {CHROMIUM}: the browser tests need it. Install it with\n"
    "    apt-get update && apt-get install -y chromium\n"
    "(as root; .ci/run does this in CI), or point JPSI_CHROMIUM at a Chromium binary. "
    "To skip the browser tests on purpose: JPSI_SKIP_BROWSER_TESTS=1 make test"
)
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
"""Where the tests leave screenshots for a developer to look at (not committed)."""

LOCAL_HOSTS = {"127.0.0.1"}


# per module, not per session: Playwright's sync API keeps an event loop running on this
# thread while it is open, and asyncio.run() in a later test of the same worker would fail
@pytest.fixture(scope="module")
def browser() -> Iterator:
    if SKIP:
        pytest.skip("JPSI_SKIP_BROWSER_TESTS=1: browser tests skipped on purpose")
    if not CHROMIUM.exists():
        pytest.fail(HOW_TO_GET_IT, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


class Server:
    """A running jpsi-serve: its base URL and a JSON helper that talks to it directly."""

    def __init__(self, port: int, key: str | None = None):
        self.base = f"http://127.0.0.1:{port}"
        self.key = key

    def post(self, path: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["X-API-Key"] = self.key
        req = urllib.request.Request(
            self.base + path, json.dumps(body).encode(), headers, method="POST"
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())


@pytest.fixture(scope="module")
def server(browser) -> Iterator[Server]:
    proc, port = start()
    try:
        yield Server(port)
    finally:
        stop(proc)


class Visit:
    """A page whose every request is intercepted: the ones to 127.0.0.1 go on, any other is
    aborted and recorded in ``foreign`` (the tests assert it stays empty)."""

    def __init__(self, context):
        self.context = context
        self.requests: list[str] = []
        self.foreign: list[str] = []
        self.failed: list[str] = []
        self.blocked: list[str] = []  # refused by the pages' Content-Security-Policy
        context.route("**/*", self._route)
        self.page = context.new_page()
        self.page.on("response", self._response)
        self.page.on("pageerror", lambda exc: self.failed.append(f"page error: {exc}"))
        self.page.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.blocked.append(message.text)

    def _route(self, route) -> None:
        url = route.request.url
        self.requests.append(url)
        if urllib.parse.urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()

    def _response(self, response) -> None:
        path = urllib.parse.urlsplit(response.url).path
        if response.status >= 400 and not path.startswith("/v1/"):
            self.failed.append(f"{response.status} {response.url}")

    def assert_local(self, may_block: tuple[str, ...] = ()) -> None:
        """Every request went to 127.0.0.1 and succeeded; the page's policy refused nothing
        but URLs containing one of ``may_block``."""
        assert self.requests, "no request was seen: the interception is not working"
        assert self.foreign == [], f"requests left the host: {self.foreign}"
        assert self.failed == [], self.failed
        unexpected = [b for b in self.blocked if not any(m in b for m in may_block)]
        assert unexpected == [], unexpected

    def screenshot(self, name: str, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def visit(browser) -> Iterator:
    contexts = []

    def make(width: int = 1280, height: int = 800) -> Visit:
        context = browser.new_context(
            viewport={"width": width, "height": height}, accept_downloads=True
        )
        contexts.append(context)
        return Visit(context)

    try:
        yield make
    finally:
        for c in contexts:
            c.close()
