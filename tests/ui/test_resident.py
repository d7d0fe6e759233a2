"""The residents' page (/) and the printable handout (/handout) in a browser.

The demo town's registry is shared with the other UI tests of the session: expectations are
computed from the API's own answer at test time (never global counts), and the resources
this module adds are its own (a markup-named one, added by the last test).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest

from geo_service.reports.wording import walk_minutes
from tests.ui.conftest import served, wait_for_map

#: a point in the demo town near its gathering places (between 本町 and 川南)
LAT, LON = 33.80, 130.785
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MARKUP = "<img src=x onerror=alert(1)>"


def api(ui_server, path: str, **params: Any) -> Any:
    query = f"?{urlencode(params)}" if params else ""
    with urlopen(ui_server.url + path + query, timeout=30) as r:  # noqa: S310 (loopback)
        return json.loads(r.read())


def nearby(ui_server, lat: float = LAT, lon: float = LON, minutes: float = 15) -> list[dict]:
    return [f["properties"] for f in
            api(ui_server, "/nearby", lat=lat, lon=lon, minutes=minutes)["features"]]


def open_resident(ui, path: str, *, width: int = 360, height: int = 800, **kw: Any) -> Any:
    page = ui.open(path, width=width, height=height, **kw)
    page.wait_for_selector("body[data-ready]", timeout=20_000)
    return page


def listed(page) -> list[str]:
    return page.eval_on_selector_all("#results .r-item", "els => els.map(e => e.dataset.id)")


def wait_list(page, ids: list[str]) -> None:
    page.wait_for_function("ids => JSON.stringify([...document.querySelectorAll('#results "
                           ".r-item')].map(e => e.dataset.id)) === JSON.stringify(ids)", arg=ids)


# ---------------------------------------------------------------- the list

@pytest.mark.parametrize("width", [360, 1280])
def test_list_sorted_by_walking_minutes_like_nearby(ui, ui_server, width) -> None:
    expected = nearby(ui_server)
    assert any(p["category"] == "salon" for p in expected)  # the demo's gathering places
    page = open_resident(ui, f"/?lat={LAT}&lon={LON}", width=width)
    wait_list(page, [p["id"] for p in expected])
    minutes = [p["walk_minutes"] for p in expected]
    assert minutes == sorted(minutes)
    first = page.locator("#results .r-item").first
    assert f"徒歩 {walk_minutes(expected[0]['walk_minutes'])}分" in first.inner_text()
    # the map shows the same items (clustered where dense): one marker per located item
    assert page.evaluate("RESIDENT.state.items.length") == len(expected)
    assert ui.fits_the_screen(page)
    assert ui.axe(page) == []
    ui.screenshot(page, "resident")
    if width == 360:
        sizes = page.evaluate("""() => {
            const all = [...performance.getEntriesByType('navigation'),
                         ...performance.getEntriesByType('resource')];
            return all.reduce((s, e) => s + (e.transferSize || 0), 0);
        }""")
        print(f"resident page first load: {sizes} bytes transferred")
        assert sizes < 700_000


def test_tap_on_the_map_chooses_the_point(ui, ui_server) -> None:
    page = open_resident(ui, "/")
    assert listed(page) == []
    assert "地図をタップ" in page.locator("#summary").inner_text()
    box = page.locator("#map").bounding_box()
    xy = page.evaluate(f"(() => {{ const p = RESIDENT.map.latLngToContainerPoint([{LAT}, "
                       f"{LON}]); return [p.x, p.y]; }})()")
    assert 0 < xy[0] < box["width"] and 0 < xy[1] < box["height"]
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
    page.wait_for_function("() => RESIDENT.state.loadedFor !== null")
    origin = page.evaluate("RESIDENT.state.origin")
    assert abs(origin["lat"] - LAT) < 0.001 and abs(origin["lon"] - LON) < 0.001
    wait_list(page, [p["id"] for p in nearby(ui_server, origin["lat"], origin["lon"])])
    assert "at=" in page.url  # the point is in the link


def test_list_and_map_highlight_each_other(ui, ui_server) -> None:
    every = nearby(ui_server)
    page = open_resident(ui, f"/?lat={LAT}&lon={LON}", width=1280)
    wait_list(page, [p["id"] for p in every])
    first, second = every[0], every[1]
    page.locator(f'#results [data-id="{first["id"]}"] a').hover()
    page.wait_for_function("id => { const e = RESIDENT.markers.get(id).getElement(); "
                           "return e && e.querySelector('.selected') !== null; }", arg=first["id"])
    page.evaluate(f"RESIDENT.map.setView(RESIDENT.markers.get('{second['id']}').getLatLng(), 18,"
                  " {animate: false})")
    page.locator(f'#map .gs-marker[title="{second["name"]}"]').click()
    page.wait_for_selector(f'#results .r-item.selected[data-id="{second["id"]}"]')
    assert page.locator("#results .r-item.selected").count() == 1
    page.wait_for_selector(".leaflet-popup-content .r-popup")
    assert second["name"] in page.locator(".leaflet-popup-content").inner_text()


def test_filters_change_the_list(ui, ui_server) -> None:
    every = nearby(ui_server)
    page = open_resident(ui, f"/?lat={LAT}&lon={LON}")
    wait_list(page, [p["id"] for p in every])
    page.locator('#cat-chips [data-cat="salon"]').click()
    salons = [p["id"] for p in every if p["category"] == "salon"]
    assert salons
    wait_list(page, salons)
    assert page.locator('#cat-chips [data-cat="salon"]').get_attribute("aria-pressed") == "true"
    assert page.locator('#cat-chips [data-cat=""]').get_attribute("aria-pressed") == "false"
    # the map shows the same items as the list
    assert page.evaluate("RESIDENT.cluster.getLayers().length") == len(salons)
    page.locator('#cat-chips [data-cat=""]').click()  # すべて
    wait_list(page, [p["id"] for p in every])
    assert page.evaluate("RESIDENT.cluster.getLayers().length") == len(every)

    page.locator("#chip-free").click()
    wait_list(page, [p["id"] for p in every if p["fee"]["kind"] == "free"])
    page.locator("#chip-free").click()

    def on(p: dict, day: str) -> bool:
        s = p["schedule"]
        return day in s["weekdays"] or any(x["weekday"] == day for x in s["stops"])

    page.select_option("#day", "wed")
    wed = [p["id"] for p in every if on(p, "wed")]
    assert wed
    wait_list(page, wed)
    page.select_option("#day", "")
    wait_list(page, [p["id"] for p in every])
    page.locator("#chip-today").click()
    today = page.evaluate("async () => (await import('/static/js/common.js')).today()")
    assert today == WEEKDAYS[date.today().weekday()]
    wait_list(page, [p["id"] for p in every if on(p, today)])
    assert page.locator("#chip-today").get_attribute("aria-pressed") == "true"
    assert page.locator("#day").input_value() == today
    assert ui.fits_the_screen(page)
    assert ui.axe(page) == []


# ---------------------------------------------------------------- the detail

@pytest.mark.parametrize("width", [360, 1280])
def test_detail_shows_schedule_fee_phone_and_walk(ui, ui_server, width) -> None:
    salon = next(p for p in nearby(ui_server) if p["name"] == "ふれあいサロン川べり")
    page = open_resident(ui, f"/?lat={LAT}&lon={LON}", width=width)
    page.wait_for_selector(f'#results [data-id="{salon["id"]}"]')
    page.locator(f'#results [data-id="{salon["id"]}"] a').click()
    page.wait_for_selector("#detail-view:not([hidden]) #detail-name")
    detail = page.locator("#detail-view")
    text = detail.inner_text()
    assert "ふれあいサロン川べり" in text
    assert "毎週水曜 10:00〜11:30" in text
    assert "無料" in text
    assert "申し込み不要" in text and "坂の町本町1-2" in text
    assert "2026年10月1日" in text  # 情報の確認日
    walk = f"徒歩 {walk_minutes(salon['walk_minutes'])}分（{round(salon['walk_distance_m'])} m）"
    assert walk in text
    assert detail.locator('a[href="tel:0000001001"]').inner_text() == "000-000-1001"
    assert f"place={salon['id']}" in page.url
    assert page.evaluate("document.activeElement.id") == "detail-name"
    assert detail.locator(f'a[href^="/handout?place={salon["id"]}"]').count() == 1
    assert ui.fits_the_screen(page)
    assert ui.axe(page) == []
    wait_for_map(page)
    ui.screenshot(page, "resident-detail")
    page.go_back()  # the browser's back button returns to the list
    page.wait_for_selector("#list-view:not([hidden])")
    assert page.locator("#detail-view").is_hidden()
    assert page.evaluate("document.activeElement.closest('.r-item')?.dataset.id") == salon["id"]


def test_detail_deep_link(ui, ui_server) -> None:
    cafe = next(f["properties"] for f in api(ui_server, "/resources", category="dementia_cafe")
                ["features"])
    page = open_resident(ui, f"/#place={cafe['id']}")
    page.wait_for_selector("#detail-name")
    assert cafe["name"] in page.locator("#detail-name").inner_text()
    assert "地図で場所を選ぶと" in page.locator("#detail-view").inner_text()
    page.locator(".r-back").click()  # opened by a link: back goes to the list, not away
    page.wait_for_selector("#list-view:not([hidden])")
    assert page.url.startswith(ui_server.url)
    # from a point farther than the list's 15 minutes: the walk is asked for up to the cap
    far = next(p for p in nearby(ui_server, minutes=30) if p["id"] == cafe["id"])
    assert far["walk_minutes"] > 15
    page = open_resident(ui, f"/#at={LAT},{LON}&place={cafe['id']}")
    page.wait_for_selector("#detail-name")
    walk = f"徒歩 {walk_minutes(far['walk_minutes'])}分（{round(far['walk_distance_m']):,} m）"
    page.wait_for_function("w => document.querySelector('#detail-view').innerText.includes(w)",
                           arg=walk)
    page = open_resident(ui, "/#place=r-doesnotexist")
    page.wait_for_selector("#detail-view .gs-error")


def test_a_point_outside_the_region_is_said(ui) -> None:
    page = open_resident(ui, "/?lat=35.0&lon=139.0")
    page.wait_for_selector("#status.gs-error")
    assert "範囲の外" in page.locator("#status").inner_text()
    assert listed(page) == []


# ---------------------------------------------------------------- what serves a home

@pytest.mark.parametrize("width", [360, 1280])
def test_reach_names_the_meal_delivery(ui, ui_server, width) -> None:
    answer = api(ui_server, "/reach", lat=LAT, lon=LON)
    names = [f["properties"]["name"] for f in answer["features"]]
    assert "まごころ配食サービス" in names
    page = open_resident(ui, f"/?lat={LAT}&lon={LON}", width=width)
    page.locator("#tab-reach").click()
    page.wait_for_selector("#reach-view:not([hidden]) .r-walkable")
    text = page.locator("#reach-view").inner_text()
    assert "まごころ配食サービス" in text and "市内全域" in text
    assert "毎週月・火・水・木・金曜 11:00〜13:00" in text and "1食500円" in text
    for w in answer["walkable"]:
        assert w["category_label"] in text
        if w["nearest_name"]:
            assert w["nearest_name"] in text
    assert "view=reach" in page.url
    assert ui.fits_the_screen(page)
    assert ui.axe(page) == []
    ui.screenshot(page, "resident-reach")


def test_reach_names_a_mobile_sales_stop(ui, ui_server) -> None:
    route = next(f["properties"] for f in api(ui_server, "/resources", category="mobile_sales")
                 ["features"] if f["properties"]["schedule"]["stops"])
    stop = route["schedule"]["stops"][0]
    page = open_resident(ui, f"/?lat={stop['lat']}&lon={stop['lon']}#view=reach"
                             f"&at={stop['lat']},{stop['lon']}")
    page.wait_for_selector("#reach-view:not([hidden]) .r-walkable")
    text = page.locator("#reach-view").inner_text()
    assert route["name"] in text
    assert f"{stop['name']}（毎週火曜 {stop['time']}から" in text


# ---------------------------------------------------------------- finding the point

def test_current_location_and_its_denial(ui, ui_server) -> None:
    page = open_resident(ui, "/")
    page.locator("#locate").click()  # no permission granted: denied
    page.wait_for_selector("#status.gs-error")
    assert "許可されていません" in page.locator("#status").inner_text()
    page.context.grant_permissions(["geolocation"], origin=ui_server.url)
    page.context.set_geolocation({"latitude": LAT, "longitude": LON})
    page.locator("#locate").click()
    wait_list(page, [p["id"] for p in nearby(ui_server)])


class _Geocoder(BaseHTTPRequestHandler):
    """A 国土地理院-style AddressSearch on loopback: one address is known."""

    def do_GET(self) -> None:  # noqa: N802
        known = "%E5%9D%82%E3%81%AE%E7%94%BA%E6%9C%AC%E7%94%BA" in self.path  # 坂の町本町
        body = json.dumps([{"geometry": {"coordinates": [LON, LAT], "type": "Point"},
                            "type": "Feature", "properties": {"title": "坂の町本町一丁目"}}]
                          if known else []).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def geocoding_server(ui_server) -> Iterator[str]:
    """A second instance of the service (same store and region) with a geocoder set."""
    from geo_service.api import create_app
    from geo_service.config import ServiceSettings

    fake = ThreadingHTTPServer(("127.0.0.1", 0), _Geocoder)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    first = ui_server.app.state.geo
    settings = ServiceSettings(
        database_url=first.settings.database_url, data_dir=first.settings.data_dir,
        secret_key="u" * 40, geocoder_url=f"http://127.0.0.1:{fake.server_port}/s?q=")
    with served(create_app(settings, store=ui_server.store, walking=first.walking)) as url:
        yield url
    fake.shutdown()


def test_address_search(ui, ui_server, geocoding_server) -> None:
    page = ui.open("/", width=360)
    page.goto(geocoding_server + "/")
    page.wait_for_selector("body[data-ready]")
    assert page.locator("#address-form").is_visible()
    page.get_by_label("住所で探す").fill("どこでもない町")
    page.get_by_role("button", name="探す", exact=True).click()
    page.wait_for_selector("#status.gs-error")
    assert "見つかりませんでした" in page.locator("#status").inner_text()
    page.get_by_label("住所で探す").fill("坂の町本町")
    page.get_by_role("button", name="探す", exact=True).click()
    wait_list(page, [p["id"] for p in nearby(ui_server)])
    assert "坂の町本町一丁目" in page.locator("#status").inner_text()
    assert ui.axe(page) == []
    # the demo service has none: no address form
    page = open_resident(ui, "/")
    assert page.locator("#address-form").is_hidden()


#: per result shown on the map: its marker's name, whether its centre is inside the map,
#: and what the page shows at that centre (the marker itself, or 「ここ」 over it); the
#: places counted in clusters; whether the point searched from is inside the map
MARKERS_SHOWN = """() => {
    const box = document.getElementById("map").getBoundingClientRect();
    const inside = (x, y) => x >= box.left && x <= box.right && y >= box.top && y <= box.bottom;
    const shown = [...document.querySelectorAll("#map .gs-marker")].map((m) => {
        const r = m.getBoundingClientRect();
        const x = r.left + r.width / 2, y = r.top + r.height / 2;
        const top = document.elementFromPoint(x, y);
        return { name: m.title, inside: inside(x, y),
                 onTop: Boolean(top && top.closest(".gs-marker") === m),
                 underHere: Boolean(top && top.closest(".r-home")) };
    });
    const clustered = [...document.querySelectorAll("#map .marker-cluster")]
        .filter((c) => { const r = c.getBoundingClientRect();
                         return inside(r.left + r.width / 2, r.top + r.height / 2); })
        .reduce((n, c) => n + Number(c.innerText), 0);
    const dot = document.querySelector("#map .r-home-dot");
    const d = dot ? dot.getBoundingClientRect() : null;
    const here = Boolean(d) && inside(d.left + d.width / 2, d.top + d.height / 2);
    return { shown, clustered, here };
}"""


def test_address_search_shows_every_result_and_the_nearest_under_the_here_marker(
        ui, ui_server, geocoding_server) -> None:
    """After an address search the map holds every place listed and the searched point
    (it showed 2 of 4, zoomed on the point), and 「ここ」 hides none of them: the nearest
    place's marker is on top where it stands."""
    page = ui.open("/", width=360)
    page.goto(geocoding_server + "/?lat=33.812&lon=130.795")  # first, a point up the hill
    page.wait_for_selector("body[data-ready]")
    wait_list(page, [p["id"] for p in nearby(ui_server, 33.812, 130.795)])
    page.get_by_label("住所で探す").fill("坂の町本町")
    page.get_by_role("button", name="探す", exact=True).click()
    expected = nearby(ui_server)
    wait_list(page, [p["id"] for p in expected])
    wait_for_map(page)
    try:  # the map moves once the places are loaded (markers glide for 0.3 s as the
        # cluster layer animates): wait until it has settled on them
        page.wait_for_function(f"""() => {{ const s = ({MARKERS_SHOWN})();
            return s.here && s.shown.filter((m) => m.inside).length + s.clustered
                === {len(expected)}; }}""", timeout=15_000)
        page.wait_for_timeout(400)
    except Exception:  # noqa: BLE001 — the assertion below says what is shown
        pass
    seen = page.evaluate(MARKERS_SHOWN)
    inside = [m for m in seen["shown"] if m["inside"]]
    assert len(inside) + seen["clustered"] == len(expected), seen
    nearest = next(m for m in inside if m["name"] == expected[0]["name"])
    assert nearest["onTop"], seen
    assert not any(m["underHere"] for m in inside), seen
    assert seen["here"], seen  # the searched point is on the map too
    ui.screenshot(page, "resident-address-search")


def test_a_service_without_a_region_says_so(ui, tmp_path) -> None:
    from geo_service.api import create_app
    from geo_service.config import ServiceSettings

    with served(create_app(ServiceSettings(database_url="sqlite://", data_dir=tmp_path,
                                           secret_key="n" * 40))) as url:
        page = ui.at(url).open("/", width=360)
        page.wait_for_selector("body[data-ready]")
        assert "道路データが設定されていない" in page.locator("#status").inner_text()
        assert page.locator("#locate").is_disabled()
        assert ui.axe(page) == []


# ---------------------------------------------------------------- keyboard

def test_keyboard_chips_list_and_detail(ui, ui_server) -> None:
    every = nearby(ui_server)
    page = open_resident(ui, f"/?lat={LAT}&lon={LON}")
    wait_list(page, [p["id"] for p in every])
    page.locator('#cat-chips [data-cat=""]').focus()
    chips = page.locator("#cat-chips button").count()
    seen = []
    for _ in range(chips + 4 + len(every)):
        seen.append(page.evaluate("(() => { const a = document.activeElement; return "
                                  "a.dataset.cat !== undefined ? 'chip:' + a.dataset.cat : "
                                  "a.id || (a.closest('.r-item') ? 'item:' + "
                                  "a.closest('.r-item').dataset.id : a.tagName); })()"))
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", f"no visible focus on {seen[-1]}"
        page.keyboard.press("Tab")
    assert [s for s in seen if s.startswith("chip:")][:chips] == seen[:chips]
    assert {"chip-today", "chip-free", "day"} <= set(seen)
    items = [s for s in seen if s.startswith("item:")]
    assert items == [f"item:{p['id']}" for p in every][:len(items)] and items
    # Enter on a list item opens its detail; the detail's controls are reachable
    page.locator("#results .r-item a").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#detail-view:not([hidden]) #detail-name")
    assert page.evaluate("document.activeElement.id") == "detail-name"
    reached = []
    for _ in range(6):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.getAttribute('href') || "
                                     "document.activeElement.className"))
    assert any(h.startswith("/handout?place=") for h in reached)
    page.keyboard.press("Shift+Tab")
    page.locator(".r-back").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#list-view:not([hidden])")


def test_english(ui, ui_server) -> None:
    page = open_resident(ui, f"/?lat={LAT}&lon={LON}&lang=en", lang="en")
    page.wait_for_selector("#results .r-item")
    assert page.locator("h1").inner_text() == "Places and services nearby"
    assert "min walk" in page.locator("#results").inner_text()
    assert ui.axe(page) == []


# ---------------------------------------------------------------- the handout

def _pdf_pages(page) -> int:
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


@pytest.mark.parametrize("width", [360, 1280])
def test_handout_for_a_place(ui, ui_server, width) -> None:
    salon = next(p for p in nearby(ui_server) if p["name"] == "ふれあいサロン川べり")
    page = ui.open(f"/handout?place={salon['id']}", width=width)
    page.wait_for_selector("body[data-ready]")
    text = page.locator("#sheet").inner_text()
    assert "ふれあいサロン川べり" in text and "毎週水曜 10:00〜11:30" in text
    assert "000-000-1001" in text and "無料" in text
    assert page.locator("#map .gs-marker").count() == 1
    # the place's walking-time bands (GET /resources/{id}/reach) show what is near
    page.wait_for_selector("#map-note:not(:empty)")
    assert "5・10・15分" in page.locator("#map-note").inner_text()
    assert page.locator("#map path:not([class*=gs-basemap])").count() == 3
    qr = page.locator("#qr")
    assert qr.get_attribute("data-qr-text") == f"{ui_server.url}/#place={salon['id']}"
    assert qr.locator("svg path").count() == 1
    assert int(qr.get_attribute("data-modules")) >= 21
    assert page.locator("#qr-url").inner_text() == f"{ui_server.url}/#place={salon['id']}"
    assert ui.fits_the_screen(page)
    assert ui.axe(page) == []
    ui.screenshot(page, "handout-place")
    if width == 1280:
        assert _pdf_pages(page) == 1


@pytest.mark.parametrize("width", [360, 1280])
def test_handout_for_an_area(ui, ui_server, width) -> None:
    layer = api(ui_server, "/areas")[0]
    areas = api(ui_server, f"/areas/{layer['id']}")["features"]
    area = max(areas, key=lambda a: sum(len(c["located"])
                                        for c in a["properties"]["categories"].values()))
    located = {i for c in area["properties"]["categories"].values() for i in c["located"]}
    page = ui.open(f"/handout?layer={layer['id']}&area={area['id']}", width=width)
    page.wait_for_selector("body[data-ready]")
    assert area["properties"]["name"] in page.locator("h1").inner_text()
    names = {api(ui_server, f"/resources/{i}")["properties"]["name"] for i in located}
    text = page.locator("#content").inner_text()
    assert all(n in text for n in names)
    assert "まごころ配食サービス" in text  # the city-wide meal delivery reaches every area
    assert page.locator("#map .h-marker").count() == len(located)
    assert page.locator("#map path.leaflet-interactive, #map path").count() >= 1
    qr = page.locator("#qr")
    assert re.fullmatch(re.escape(ui_server.url) + r"/#at=[0-9.]+,[0-9.]+",
                        qr.get_attribute("data-qr-text"))
    assert qr.locator("svg path").count() == 1
    # every phone number on one line (飯塚市's 「0948-22-」「5500」 broke at a hyphen): a
    # wrapped inline span has two boxes
    phones = page.locator("#content .h-nowrap")
    assert phones.count() >= 1 and all(t.startswith("電話 ") for t in phones.all_inner_texts())
    for i in range(phones.count()):
        assert phones.nth(i).evaluate("e => e.getClientRects().length") == 1
    assert ui.fits_the_screen(page)
    assert ui.axe(page) == []
    ui.screenshot(page, "handout-area")
    if width == 1280:
        assert _pdf_pages(page) == 1


def test_handout_counts_the_places_it_numbers(ui, ui_server) -> None:
    """「地区内の場所 Nか所（地図の番号）」: the list numbers 1 … N and the map shows the same
    numbers; a mobile-sales route (no point of its own) is numbered and its stops carry
    its number (山手 said 5か所 and numbered 1–4)."""
    layer = api(ui_server, "/areas")[0]
    seen_route = False
    for area in api(ui_server, f"/areas/{layer['id']}")["features"]:
        page = ui.open(f"/handout?layer={layer['id']}&area={area['id']}", width=1280)
        page.wait_for_selector("body[data-ready]")
        said = int(re.search(r"(\d+)か所", page.locator("#subtitle").inner_text()).group(1))
        listed = [int(x) for x in page.locator("#content .h-num").all_inner_texts()]
        on_map = {int(x) for x in page.locator("#map .h-marker").all_inner_texts()}
        assert listed == list(range(1, said + 1)), area["properties"]["name"]
        assert on_map == set(listed)
        route = page.locator("#content li", has_text="移動スーパー さかみち号")
        if route.count():
            seen_route = True
            number = route.locator(".h-num").inner_text()
            stops = api(ui_server, "/resources")
            [feature] = [f for f in stops["features"]
                         if f["properties"]["name"] == "移動スーパー さかみち号"]
            n_stops = len(feature["properties"]["schedule"]["stops"])
            assert page.locator("#map .h-marker", has_text=number).count() == n_stops
    assert seen_route  # the demo's route is in an area's handout


def test_handout_for_the_largest_area_fits_one_page(ui, ui_server) -> None:
    best = (0, "", "")
    for layer in api(ui_server, "/areas"):
        if layer["areas"] > 10:
            continue  # meshes: small areas
        for a in api(ui_server, f"/areas/{layer['id']}")["features"]:
            n = sum(len(c["located"]) + len(c["covering"])
                    for c in a["properties"]["categories"].values())
            best = max(best, (n, layer["id"], a["id"]))
    assert best[0] > 10  # the 中学校区 holds the whole demo town
    page = ui.open(f"/handout?layer={best[1]}&area={best[2]}", width=1280)
    page.wait_for_selector("body[data-ready]")
    assert page.locator("body.h-many").count() == 1  # two columns, map and QR code below
    assert _pdf_pages(page) == 1
    assert ui.axe(page) == []


def test_handout_in_english(ui, ui_server) -> None:
    salon = next(p for p in nearby(ui_server) if p["name"] == "ふれあいサロン川べり")
    page = ui.open(f"/handout?place={salon['id']}&lang=en", lang="en")
    page.wait_for_selector("body[data-ready]")
    text = page.locator("#sheet").inner_text()
    assert "Every Wed 10:00〜11:30" in text and "Free" in text and "Phone" in text
    assert page.locator("#qr").get_attribute("data-qr-text") == (
        f"{ui_server.url}/?lang=en#place={salon['id']}")
    assert ui.axe(page) == []


def test_handout_errors(ui) -> None:
    page = ui.open("/handout?place=r-nothing")
    page.wait_for_selector("body[data-ready]")
    assert "見つかりません" in page.locator("#content").inner_text()
    page = ui.open("/handout")
    page.wait_for_selector("body[data-ready]")
    assert "?place=" in page.locator("#content").inner_text()


# ---------------------------------------------------------------- markup stays text
# (last: the resource it adds shows up in later lists of the session)

def test_markup_in_a_name_stays_text(ui, ui_server) -> None:
    from geo_service.registry.resources import Fee, ResourceFields, Schedule

    res = ui_server.store.add(ResourceFields(
        name=MARKUP, category="salon", lon=LON + 0.0004, lat=LAT + 0.0002,
        description=MARKUP, address=MARKUP, how_to_apply=MARKUP,
        schedule=Schedule(weekdays=["fri"], start="10:00", end="11:00", text=MARKUP),
        fee=Fee(kind="free"), source="test"), user="test")
    try:
        page = open_resident(ui, f"/?lat={LAT}&lon={LON}", width=360)
        item = page.locator(f'#results [data-id="{res.id}"]')
        item.wait_for()
        assert MARKUP in item.inner_text()
        # the map: tooltip on hover, popup on click, both as text
        page.evaluate(f"RESIDENT.map.setView([{res.lat}, {res.lon}], 18, {{animate: false}})")
        marker = page.locator(f'#map .gs-marker[title="{MARKUP}"]')
        marker.hover()
        page.wait_for_selector(".leaflet-tooltip")
        assert MARKUP in page.locator(".leaflet-tooltip").inner_text()
        marker.click()
        page.wait_for_selector(".leaflet-popup-content .r-popup")
        assert MARKUP in page.locator(".leaflet-popup-content").inner_text()
        page.locator(".leaflet-popup-content a").click()
        page.wait_for_selector("#detail-name")
        assert MARKUP in page.locator("#detail-name").inner_text()
        assert page.locator("#detail-view").inner_text().count(MARKUP) >= 4
        assert page.locator("img[src=x], #main img:not(.leaflet-tile)").count() == 0
        handout = ui.open(f"/handout?place={res.id}")
        handout.wait_for_selector("body[data-ready]")
        assert MARKUP in handout.locator("h1").inner_text()
        assert handout.locator("img[src=x]").count() == 0
        ui.wait_for_quiet_network(page)  # an injected <img onerror> would have fired
        assert ui.dialogs == []
    finally:
        ui_server.store.delete(res.id, user="test")


# ---------------------------------------------------------------- words kept whole

#: the line each character of an element's text is on (its top, in CSS px)
CHAR_LINES = """el => {
    const text = el.firstChild;
    const range = document.createRange();
    return [...text.textContent].map((_, i) => {
        range.setStart(text, i); range.setEnd(text, i + 1);
        return Math.round(range.getBoundingClientRect().top);
    });
}"""


def test_japanese_wraps_between_phrases_not_inside_words(ui) -> None:
    """At 360 px 「お宅に届くサービス」 wrapped as 「お宅に届くサー／ビス」: headings, buttons,
    tabs and labels wrap between phrases (Chromium's word-break: auto-phrase)."""
    page = open_resident(ui, f"/?lat={LAT}&lon={LON}", width=360)
    tab = page.locator("#tab-reach")
    assert tab.inner_text() == "お宅に届くサービス"
    lines = tab.evaluate(CHAR_LINES)
    assert len(set(lines)) == 2  # it does wrap at this width
    assert len(set(lines[5:])) == 1, lines  # サービス on one line
    assert lines[4] != lines[5]  # … after 届く: お宅に届く／サービス
    for selector in ("h1", "h2", "button", "label", "#tabs a"):
        assert page.locator(selector).first.evaluate(
            "e => getComputedStyle(e).wordBreak") == "auto-phrase", selector
    english = open_resident(ui, f"/?lat={LAT}&lon={LON}&lang=en", width=360, lang="en")
    assert english.locator("h1").evaluate("e => getComputedStyle(e).wordBreak") == "normal"
