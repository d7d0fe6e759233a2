"""The council page of a region without food stores (the grid of ``tests/utils/grid.py``
without its store): it finishes loading, says plainly what is missing, and still shows the
areas on the map, their people 65+ (W 33, M 55, E 33) and the registry's coverage."""

from __future__ import annotations

import pytest

from tests.api.test_no_food_stores import NOTE_JA, grid_without_stores
from tests.ui.conftest import ADMIN, served, wait_for_map
from tests.utils.clients import add_user


@pytest.fixture(scope="module")
def no_stores_url(tmp_path_factory):
    from geo_service.api import create_app
    from geo_service.config import ServiceSettings
    from geo_service.registry.store import open_store
    from geo_service.service.walking import WalkingService

    store = open_store("sqlite://")
    add_user(store, *ADMIN, role="admin")
    settings = ServiceSettings(database_url="sqlite://", secret_key="g" * 40,
                               data_dir=tmp_path_factory.mktemp("no-stores"))
    walking = WalkingService(grid_without_stores(), store)
    with served(create_app(settings, store=store, walking=walking)) as url:
        yield url


@pytest.mark.parametrize("width", [360, 1280])
def test_council_says_what_is_missing_and_shows_the_rest(ui, no_stores_url, width):
    session = ui.at(no_stores_url)
    page = session.open("/council", width=width)
    page.wait_for_selector("body[data-layer]:not([data-loading])", timeout=20_000)
    wait_for_map(page)
    status = page.locator("#status").inner_text()
    assert status.startswith(NOTE_JA) and "読み込み中" not in status
    assert "区域とその65歳以上の人数" in status
    assert "食料品店のデータがないため" in page.locator("#region-line").inner_text()
    assert page.locator("#map path[data-area-id]").count() == 3  # the areas are drawn
    rows = page.locator("#difficulty-table tbody tr")
    assert [rows.nth(i).inner_text().split("\t") for i in range(3)] == \
        [["西小学校", "33人"], ["中小学校", "55人"], ["東小学校", "33人"]]
    assert page.locator("#coverage-table tbody tr").count() == 3
    page.locator("#difficulty-table button[data-area-id='M']").click()
    profile = page.locator("#profile-body").inner_text()
    assert "55人" in profile and NOTE_JA in profile and "65歳以上人口なし" not in profile
    assert session.fits_the_screen(page)
    assert session.axe(page) == []
    session.screenshot(page, "council-no-stores")


def test_planner_says_the_region_has_no_destination_in_japanese(ui, no_stores_url):
    """No food store and an empty registry: the planner says there is nothing to walk to
    (it opened on 食料品店 and showed a load error) and hides the store picker."""
    session = ui.at(no_stores_url)
    page = session.open("/planner", width=360, login=ADMIN)
    page.wait_for_selector("body[data-gaps='none']", timeout=20_000)
    assert page.locator("#gap-summary").inner_text().startswith(
        "この地域には、歩いて行く先（食料品店・公共施設・通いの場など）のデータがありません。")
    page.wait_for_selector("#scenario-list:has-text('読み込めませんでした')")
    assert page.locator("#scenario-list").inner_text() == f"読み込めませんでした：{NOTE_JA}"
    assert page.locator("#scenario-form").is_hidden()  # no empty store picker
    assert session.fits_the_screen(page)


def test_planner_opens_on_a_destination_the_region_has(ui, tmp_path):
    """No food store but a 公共施設 in the registry: the planner opens on 公共施設 and
    ranks the areas for it (it opened on 食料品店 with an error)."""
    from geo_service.api import create_app
    from geo_service.config import ServiceSettings
    from geo_service.registry.resources import ResourceFields
    from geo_service.registry.store import open_store
    from geo_service.service.walking import WalkingService
    from tests.utils.grid import lonlat

    store = open_store("sqlite://")
    lon, lat = lonlat(0, 0)  # the south-west corner, in W
    store.add(ResourceFields(name="西公民館", category="public_facility", lon=lon, lat=lat))
    settings = ServiceSettings(database_url="sqlite://", secret_key="g" * 40, data_dir=tmp_path)
    with served(create_app(settings, store=store,
                           walking=WalkingService(grid_without_stores(), store))) as url:
        page = ui.at(url).open("/planner", width=1280)
        page.wait_for_selector("body[data-gaps]:not([data-gaps-loading])", timeout=20_000)
        assert page.locator("#gap-need").input_value() == "public_facility"
        assert page.locator("body").get_attribute("data-gaps").endswith(":public_facility")
        assert "公共施設まで" in page.locator("#gap-summary").inner_text()
