"""What every page must hold to, checked across all of them.

- The source (the pages as sent, their shared ``<head>`` filled in, and the scripts): no
  inline script, no ``on…=`` attribute, no HTML built from strings (``innerHTML`` and
  kin), no Leaflet popup or tooltip given a string — so that a registry string can only
  ever become text.
- The answers: every page's Content-Security-Policy allows scripts from the service only.
- In the browser: a resource named like an attack shows as text and runs nothing on any
  page; the public pages never send a logged-in coordinator's token and never show
  staff-only resources.
"""

from __future__ import annotations

import re

import httpx
import pytest

from geo_service.api.routes.pages import PAGES, render_page
from tests.conftest import ROOT
from tests.ui.conftest import COORDINATOR

STATIC = ROOT / "static"
HTML = sorted(PAGES.values())
SCRIPTS = sorted((STATIC / "js").glob("*.js"))
XSS = "<img src=x onerror=alert(1)>"


def test_there_are_pages():
    assert set(HTML) >= {"resident.html", "handout.html", "staff.html", "council.html"}


@pytest.mark.parametrize("name", HTML)
def test_pages_have_no_inline_script_or_handler(name):
    html = render_page(name)
    assert "<script" in html
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html, re.I) == []
    assert re.findall(r"<[^>]+\son[a-z]+\s*=", html, re.I) == []
    assert re.findall(r"(?:src|href)=\"(?:https?:)?//", html, re.I) == []  # nothing remote


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_scripts_never_build_html_from_strings(path):
    js = path.read_text(encoding="utf-8")
    assert re.findall(r"\.(?:inner|outer)HTML\s*=|insertAdjacentHTML|document\.write|"
                      r"\beval\(|new Function\(", js) == []
    # Leaflet treats a string popup/tooltip as HTML: they must be given DOM nodes
    assert re.findall(r"(?:bindPopup|bindTooltip|setContent)\(\s*[`'\"]", js) == []


def test_every_page_allows_only_the_services_scripts(ui_server):
    for path in PAGES:
        r = httpx.get(ui_server.url + path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        policy = dict(part.strip().split(" ", 1) for part in
                      r.headers["content-security-policy"].split(";"))
        assert policy["script-src"] == "'self'", (path, policy["script-src"])
        assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"


@pytest.fixture
def add(ui_server):
    """Add a salon in the coordinator's area (``add(name, **fields)`` → its id); what a
    test adds is deleted after it, so that other tests' lists stay theirs."""
    from geo_service.registry.resources import ResourceFields

    added: list[str] = []

    def add_one(name: str, **fields) -> str:
        lon, lat = _centre(ui_server)
        [resource] = ui_server.store.add_many(
            [ResourceFields(name=name, category="salon", lon=lon, lat=lat, **fields)],
            user="test", action="test")
        added.append(resource.id)
        return resource.id

    yield add_one
    for rid in added:
        ui_server.store.delete(rid, user="test")


def _centre(ui_server) -> tuple[float, float]:
    """A point inside the coordinator's area (so that their list shows what is added)."""
    layer = ui_server.region.areas[0]
    areas = layer.areas.to_crs(4326)
    spot = areas[areas["area_id"] == ui_server.coordinator_area].representative_point().iloc[0]
    return round(spot.x, 6), round(spot.y, 6)


def test_a_name_like_an_attack_is_text_on_every_page(ui, add):
    rid = add(XSS)
    lon, lat = _centre(ui.server)
    for path, login in ((f"/?lat={lat}&lon={lon}", None), (f"/handout?place={rid}", None),
                        ("/staff", COORDINATOR), ("/council", None)):
        page = ui.open(path, width=1280, login=login)
        page.wait_for_selector("body[data-ready]")
        page.wait_for_load_state("networkidle")
        if path != "/council":  # the council page shows areas, not resource names
            assert XSS in page.inner_text("body"), path
        assert page.locator("img[src='x']").count() == 0, path
    assert ui.dialogs == []


def test_public_pages_send_no_token_and_show_no_staff_only_resource(ui, add):
    lon, lat = _centre(ui.server)
    secret = "職員のみ：見守り対象者宅"
    rid = add(secret, visibility="staff")
    page = ui.open("/staff", login=COORDINATOR)  # a coordinator is logged in in this tab
    page.wait_for_load_state("networkidle")  # the staff page's own requests are done
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "authorization" in r.headers else None)
    for path in (f"/?lat={lat}&lon={lon}", f"/handout?place={rid}"):
        page.goto(ui.server.url + path)
        page.wait_for_load_state("networkidle")
        assert secret not in page.inner_text("body"), path
    assert sent == []


@pytest.mark.parametrize(("path", "shown"), [("/redoc", "API docs by Redocly"),
                                             ("/docs", "geo-service")])
def test_api_docs_render_asking_nothing_of_another_site(ui, path, shown):
    """Issue 16, item 16: ReDoc's footer asked cdn.redoc.ly for its logo (which the
    Content-Security-Policy blocked). The documentation pages render, in the browser,
    asking nothing of another site: no request leaves the loopback, none is refused by
    the policy."""
    page = ui.open(path)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.reload()  # now with the console heard from the start
    page.get_by_text(shown).first.wait_for()
    page.wait_for_load_state("networkidle")
    refused = [m for m in console if "Content Security Policy" in m]
    assert ui.blocked == [] and refused == [] and ui.errors == []
