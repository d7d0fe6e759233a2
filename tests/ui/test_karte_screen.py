"""The karte and booklet on a phone: the A4 sheet fills the screen with no sideways
scrolling (it was 210 mm wide, 794 px, at 360 px), and still prints on A4."""

from __future__ import annotations

import pytest


def _first_area(ui):
    page = ui.open("/council", width=1280)
    body = page.evaluate("fetch('/difficulty/elementary').then((r) => r.json())")
    return body["features"][0]["properties"]["area_id"]


@pytest.mark.parametrize("kind", ["karte", "booklet"])
def test_karte_fits_a_phone_and_prints_on_a4(ui, kind):
    area = _first_area(ui)
    page = ui.open(f"/{kind}/elementary/{area}", width=360)
    page.wait_for_load_state()
    assert ui.fits_the_screen(page), page.evaluate("document.documentElement.scrollWidth")
    sheet = page.locator(".page").first.bounding_box()
    assert sheet["width"] <= 360
    ui.screenshot(page, f"{kind}-phone")
    # print: the sheet is the A4 width less the margins (190 mm = 718 px), not the phone's
    page.emulate_media(media="print")
    assert round(page.locator(".page").first.bounding_box()["width"]) == 718
    wide = ui.open(f"/{kind}/elementary/{area}", width=1280)
    wide.wait_for_load_state()  # a wide screen shows the A4 sheet (210 mm = 794 px)
    assert round(wide.locator(".page").first.bounding_box()["width"]) == 794


def test_long_source_cells_wrap_on_a_phone(ui, tmp_path):
    """A region with e-Stat sources: the editions (令和2年（2020年）国勢調査) in the narrow
    date column wrap instead of pushing the sheet to 455 px (飯塚市's karte at 360 px)."""
    from dataclasses import replace

    from geo_service.api import create_app
    from geo_service.config import ServiceSettings
    from geo_service.inputs.sources import describe
    from geo_service.registry.store import open_store
    from geo_service.service.walking import WalkingService
    from tests.ui.conftest import served
    from tests.utils.grid import grid_region

    region = grid_region()
    region = replace(region, sources=[describe("tblT001082C40205.txt", "人口"),
                                      describe("r2ka40205.shp", "区域 小学校区")])
    store = open_store("sqlite://")
    settings = ServiceSettings(database_url="sqlite://", secret_key="k" * 40, data_dir=tmp_path)
    with served(create_app(settings, store=store, walking=WalkingService(region, store))) as url:
        session = ui.at(url)
        page = session.open("/karte/小学校区/M", width=360)
        page.wait_for_load_state()
        assert "令和2年（2020年）国勢調査" in page.locator("table.sources").inner_text()
        assert session.fits_the_screen(page), page.evaluate(
            "document.documentElement.scrollWidth")
