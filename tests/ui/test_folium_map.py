"""The CLI's folium map (``map.html`` of ``geo-service demo``) in Debian's chromium.

The page inlines Leaflet, so it is opened from its file with every request that is not a
file or loopback aborted. Checked: the scale bar is metric only (m/km, no feet or miles),
and the layer control does not cover the title on a phone (360 px: collapsed to its
button) nor on a desktop (1280 px: open). Screenshots go to ``tests/ui/screenshots/``
(git-ignored; look at them). It lives with the page tests to share their browser
(``browser`` of ``conftest.py``: one Playwright per process).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.ui.conftest import SCREENSHOTS, wait_for_map


@pytest.fixture(scope="module")
def map_file(tmp_path_factory) -> Path:
    from geo_service.jobs.demo import run_demo

    out = tmp_path_factory.mktemp("map") / "out"
    run_demo(out)
    return out / "map.html"


def _open(browser, map_file: Path, width: int):
    context = browser.new_context(viewport={"width": width, "height": 740})
    blocked: list[str] = []
    errors: list[str] = []

    def only_local(route):
        url = route.request.url
        if url.startswith("file:") or urlsplit(url).hostname in {"127.0.0.1", "localhost"}:
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(map_file.as_uri())
    page.wait_for_selector(".leaflet-control-scale-line")
    wait_for_map(page)  # fitBounds' zoom animation; the scale updates when it ends
    return context, page, errors


def _overlap(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


@pytest.mark.parametrize("width", [360, 1280])
def test_metric_scale_and_title_clear_of_layer_control(browser, map_file, width):
    context, page, errors = _open(browser, map_file, width)
    try:
        scales = page.locator(".leaflet-control-scale-line").all_inner_texts()
        assert len(scales) == 1, scales  # metric only: one line, no feet/miles line
        assert re.fullmatch(r"\d+ (m|km)", scales[0].strip()), scales
        assert "ft" not in page.locator(".leaflet-control-scale").inner_text()
        title = page.locator(".gs-title").bounding_box()
        control = page.locator(".leaflet-control-layers").bounding_box()
        assert title and control
        assert not _overlap(title, control), (title, control)
        expanded = "leaflet-control-layers-expanded" in (
            page.locator(".leaflet-control-layers").get_attribute("class") or "")
        assert expanded == (width > 700)  # a phone shows the button, a desktop the list
        legend = page.locator(".gs-legend").bounding_box()
        scale = page.locator(".leaflet-control-scale").bounding_box()
        assert legend and scale and not _overlap(legend, scale)
        # the attribution line is clear of the legend: the legend's 出典 lines are the
        # region's attribution (repeated in the line, two lines of it ran under the legend)
        credit = page.locator(".leaflet-control-attribution").bounding_box()
        assert credit and not _overlap(legend, credit), (legend, credit)
        assert "合成デモデータ" in page.locator(".gs-legend .gs-sources").inner_text()
        assert "合成デモデータ" not in page.locator(".leaflet-control-attribution").inner_text()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"folium-map-{width}.png"))
        if width == 360:  # the button opens the list; a tap on the map closes it
            page.locator(".leaflet-control-layers-toggle").click()
            assert "expanded" in page.locator(".leaflet-control-layers").get_attribute("class")
            page.screenshot(path=str(SCREENSHOTS / "folium-map-open-360.png"))
            page.mouse.click(200, 500)  # the map below the list
            assert "expanded" not in page.locator(".leaflet-control-layers").get_attribute(
                "class")
        assert errors == []
    finally:
        context.close()
