"""Every page names the served region and shows the attributions of its sources: before
the title, above the heading, in the footer (the demo: 「合成デモデータ（実在の町ではありません）」)
and, linked from each map's attribution line, also at 360 px without sideways scrolling."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import wait_for_map

DEMO_ATTRIBUTION = "合成デモデータ（実在の町ではありません）"


@pytest.mark.parametrize("path", ["/", "/council", "/planner"])
@pytest.mark.parametrize("width", [360, 1280])
def test_pages_name_the_region_and_credit_its_sources(ui, path, width):
    page = ui.open(path, width=width)
    wait_for_map(page)
    name = ui.server.region.label
    assert page.title().startswith(f"{name} — ")
    assert page.locator("#region-name").inner_text() == name
    footer = page.locator("footer.gs-sources")
    assert DEMO_ATTRIBUTION in footer.inner_text() and footer.is_visible()
    credit = page.locator(".leaflet-control-attribution a[href='#sources']").first
    assert credit.inner_text() == "データの出典"  # the map links to the footer's list
    assert ui.fits_the_screen(page)


def test_english_pages_translate_the_footer_label(ui):
    page = ui.open("/?lang=en", lang="en")
    wait_for_map(page)
    expect(page.locator("footer.gs-sources")).to_have_text(re.compile(r"^Data sources: "))
