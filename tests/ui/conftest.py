"""Browser tests of the pages: the service on loopback, Debian's chromium driven by Playwright.

- ``ui_server`` (session): the synthetic demo region and demo registry served by uvicorn on
  a free loopback port, with an admin and a coordinator of the demo's first 小学校区.
- ``ui``: opens pages in fresh browser contexts where every request that is not to
  loopback is aborted (the machines have no internet; the background tiles fail and the
  pages must cope). It records JavaScript errors (a test fails on any), dialogs (an
  ``alert`` from injected markup shows up here), runs axe-core and writes screenshots to
  ``tests/ui/screenshots/`` (git-ignored; look at them).

The browser is ``/usr/bin/chromium`` (``apt-get install chromium fonts-noto-cjk``): browsers
cannot be downloaded here. Without it the tests skip, unless ``GEO_SERVICE_REQUIRE_BROWSER``
is set (CI sets it, so that a missing browser fails rather than hides the tests).
"""

from __future__ import annotations

import csv
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.utils.clients import ADMIN, add_user, bearer

CHROMIUM = "/usr/bin/chromium"
HERE = Path(__file__).resolve().parent
AXE_SOURCE = HERE / "vendor" / "axe.min.js"
SCREENSHOTS = HERE / "screenshots"
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
COORDINATOR = ("coord", "coord-pass-1")


def wait_for_map(page: Any) -> None:
    """Wait until no Leaflet map on the page is zooming or panning, checked on two animation
    frames in a row (an animation asked for starts on the next frame)."""
    page.wait_for_function("""() => {
        const busy = Boolean(document.querySelector('.leaflet-zoom-anim, .leaflet-pan-anim'));
        const was = window.__gsMapBusy;
        window.__gsMapBusy = busy;
        return !busy && was === false;
    }""", polling="raf")


@dataclass
class UIServer:
    """The running service: its address, store, region and accounts."""

    url: str
    store: Any
    region: Any
    coordinator_area: str  # the coordinator's area id (first area of the first layer)
    app: Any = None  # the FastAPI app it serves
    settings: Any = None  # the ServiceSettings it is served with

    def api(self, path: str, *, method: str = "GET", body: Any = None,
            login: tuple[str, str] | None = None) -> Any:
        """The JSON answer (``None`` when empty) of ``method path`` with ``body`` as JSON,
        as the user ``login`` (user name, password) when given; an error status raises."""
        with httpx.Client(base_url=self.url, timeout=120) as client:
            headers = bearer(client, *login) if login else {}
            r = client.request(method, path, json=body, headers=headers)
            r.raise_for_status()
            return r.json() if r.content else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a daemon thread; yield its URL
    once it accepts connections, and stop it on leaving."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True


@contextmanager
def demo_server(folder: Path) -> Iterator[UIServer]:
    """The demo region and registry in ``folder``, with an admin and a coordinator, served
    by uvicorn on loopback."""
    from geo_service.api import create_app
    from tests.utils.demo import demo_service

    demo = demo_service(folder, secret_key="u" * 40)
    region, store = demo.region, demo.store
    app = create_app(demo.settings, store=store)
    area = str(region.areas[0].ids[0])
    add_user(store, *ADMIN, role="admin")
    add_user(store, *COORDINATOR, areas=[area])
    with served(app) as url:
        yield UIServer(url, store, region, area, app, demo.settings)


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory) -> Iterator[UIServer]:
    """The demo served for the whole session (:func:`demo_server`)."""
    with demo_server(tmp_path_factory.mktemp("ui")) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium under Playwright (skips when absent, unless CI requires it)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("GEO_SERVICE_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@dataclass
class UI:
    """Opens pages of the test server and checks them (see the module)."""

    server: UIServer
    browser: Any
    contexts: list[Any] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    in_flight: set[Any] = field(default_factory=set)  # requests started, not yet answered

    def open(self, path: str = "/", *, width: int = 1280, height: int = 900,
             login: tuple[str, str] | None = None, lang: str = "ja") -> Any:
        """A new browser context at ``width`` × ``height`` (CSS px) showing ``path``;
        ``login`` logs in first through the staff page's form."""
        context = self.browser.new_context(viewport={"width": width, "height": height},
                                           locale="ja-JP" if lang == "ja" else "en-US",
                                           accept_downloads=True)
        context.route("**/*", self._only_loopback)
        self.contexts.append(context)
        page = context.new_page()
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        page.on("request", lambda r: self.in_flight.add(r))
        page.on("requestfinished", lambda r: self.in_flight.discard(r))
        page.on("requestfailed", lambda r: self.in_flight.discard(r))
        if login is not None:
            self.log_in(page, *login)
        page.goto(self.server.url + path)
        return page

    def log_in(self, page: Any, username: str, password: str) -> None:
        """Log in through the staff page's form (the token stays in the tab's session)."""
        page.goto(self.server.url + "/staff")
        page.get_by_label("ユーザー名").fill(username)
        page.get_by_label("パスワード").fill(password)
        page.get_by_role("button", name="ログイン").click()
        page.get_by_role("button", name="ログアウト").wait_for()

    def _only_loopback(self, route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host in LOOPBACK:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def axe(self, page: Any, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
        """axe-core's violations of ``impacts`` on the page as shown (empty when none)."""
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8") + "\n;0")
        found = page.evaluate("""async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 4).map(n => n.target.join(' '))}));
        }""")
        return [f"{v['impact']} {v['id']}: {v['help']} at {v['nodes']}"
                for v in found if v["impact"] in impacts]

    def download_csv(self, page: Any, selector: str) -> list[list[str]]:
        """Click ``selector``, check the saved file starts with a UTF-8 BOM (Excel) and
        return its rows (the header first)."""
        with page.expect_download() as info:
            page.locator(selector).click()
        data = Path(info.value.path()).read_bytes()
        assert data.startswith(b"\xef\xbb\xbf")
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))

    def wait_for_quiet_network(self, page: Any, *, timeout_s: float = 10.0) -> None:
        """Wait until every request the page has started has finished or failed, and the
        page's tasks queued by them have run (so an injected ``onerror`` would have fired
        and its dialog would be in ``dialogs``)."""
        settle = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"
        page.evaluate(settle)  # tasks pending now start their requests
        deadline = time.monotonic() + timeout_s
        while self.in_flight:
            if time.monotonic() > deadline:
                raise AssertionError(f"requests still open: {[r.url for r in self.in_flight]}")
            page.evaluate(settle)  # one frame, during which Playwright's events arrive
        page.evaluate(settle)  # load/error handlers of the last responses

    def fits_the_screen(self, page: Any) -> bool:
        """The page needs no sideways scrolling at its viewport's width."""
        width = page.viewport_size["width"]
        return bool(page.evaluate("document.documentElement.scrollWidth") <= width)

    def screenshot(self, page: Any, name: str) -> Path:
        """Write the whole page to ``screenshots/<name>-<width>.png``."""
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}-{page.viewport_size['width']}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def at(self, url: str) -> UI:
        """This session on another test server (``url``): its pages close with this
        session's and their JavaScript errors fail the test as this session's do."""
        return UI(replace(self.server, url=url), self.browser, contexts=self.contexts,
                  dialogs=self.dialogs, errors=self.errors)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def ui(ui_server, browser):
    """Pages of the test server in fresh contexts; fails the test on any JavaScript error."""
    session = UI(ui_server, browser)
    yield session
    session.close()
    assert session.errors == [], "JavaScript errors on the page"

