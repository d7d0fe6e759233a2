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
