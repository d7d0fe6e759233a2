"""The planner page (/planner): the gap ranking (numbers equal to the API's, sort, CSV),
siting (markers numbered 1 … k in order, as staff), a store-closure scenario (a positive
difference in at least one area), escaping, the public's view, keyboard, axe, screenshots.

Expected numbers come from the API's own answers on the demo, never from the page.
"""

from __future__ import annotations

import urllib.parse

from tests.ui.conftest import ADMIN

XSS = "<img src=x onerror=alert(1)>"


def _ready(page, gaps="elementary:food_store"):
    page.wait_for_selector("body[data-ready]")
    page.wait_for_selector(f"body[data-gaps='{gaps}']:not([data-gaps-loading])")


def _fmt(x):
    return "—" if x is None else f"{round(x):,}"


def test_gap_table_shows_the_apis_numbers_sorts_and_downloads(ui):
    page = ui.open("/planner", width=1280)
    _ready(page)
    answer = ui.server.api("/gaps/elementary?need=food_store")
    table = page.locator("#gap-table")
    assert table.locator("tbody tr").count() == len(answer["areas"])
    assert [r.get_attribute("data-area-id") for r in table.locator("tbody tr").all()] == [
        a["area_id"] for a in answer["areas"]]
    for a in answer["areas"]:
        row = table.locator(f"tr[data-area-id='{a['area_id']}']")
        assert row.locator("th").inner_text() == a["name"]
        assert row.locator("td[data-col='gap_65plus']").inner_text() == _fmt(a["gap_65plus"])
        assert row.locator("td[data-col='beyond_65plus']").inner_text() == _fmt(
            a["beyond_65plus"])
        for alt in answer["alternatives"]:
            cell = row.locator(f"td[data-col='covered.{alt['id']}']")
            assert cell.inner_text() == _fmt(a["covered"][alt["id"]])
    # the reasons: each alternative with how it was decided
    reasons = page.locator("#gap-alternatives li")
    assert reasons.count() == len(answer["alternatives"])
    for alt in answer["alternatives"]:
        item = page.locator(f"#gap-alternatives li[data-alt='{alt['id']}']")
        assert alt["detail"] in item.inner_text()
    # the map: one outline per area
    assert page.locator("#gap-map path[data-area-id]").count() == len(answer["areas"])
    # sort by people 65+ (largest first), then by the keyboard (smallest first)
    header = table.locator("th[data-col='pop_65plus']")
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    names = table.locator("tbody th").all_inner_texts()
    assert names == [a["name"] for a in sorted(answer["areas"], key=lambda a: -a["pop_65plus"])]
    header.locator("button").press("Enter")
    assert header.get_attribute("aria-sort") == "ascending"
    rows = ui.download_csv(page, "#gap-csv")
    head, body = rows[0], rows[1:]
    by_id = {a["area_id"]: a for a in answer["areas"]}
    assert [r[head.index("area_id")] for r in body] == [
        a["area_id"] for a in sorted(answer["areas"], key=lambda a: a["pop_65plus"])]
    for r in body:
        a = by_id[r[head.index("area_id")]]
        assert float(r[head.index("gap_65plus")]) == a["gap_65plus"]
        assert r[head.index("name")] == a["name"]
    assert ui.axe(page) == []
    ui.screenshot(page, "planner-public")


def test_unticking_alternatives_shows_the_gap_without_them(ui):
    """The demo: the city-wide 配食 covers everyone beyond 500 m; with the mobile-sales
    stops alone 5,896 people 65+ are left (README, `geo-service gaps`)."""
    page = ui.open("/planner", width=1280)
    _ready(page)
    assert page.locator("#gap-alts input:checked").count() == 3
    page.locator("#alt-meal_delivery").uncheck()
    _ready(page, "elementary:food_store:home_delivery,mobile_sales")
    page.locator("#alt-home_delivery").uncheck()
    _ready(page, "elementary:food_store:mobile_sales")
    answer = ui.server.api("/gaps/elementary?need=food_store&alternatives=mobile_sales")
    assert round(answer["summary"]["gap_65plus"]) == 5896
    assert "5,896" in page.locator("#gap-summary").inner_text()
    for a in answer["areas"]:
        row = page.locator(f"#gap-table tr[data-area-id='{a['area_id']}']")
        assert row.locator("td[data-col='gap_65plus']").inner_text() == _fmt(a["gap_65plus"])
    assert page.locator("#gap-table td[data-col='covered.meal_delivery']").count() == 0
    assert ui.axe(page) == []
    ui.screenshot(page, "planner-gaps")


def test_another_need_and_the_public_view_of_staff_parts(ui):
    page = ui.open("/planner", width=360)
    _ready(page)
    # staff parts ask for a login at /staff
    assert page.locator("#siting-form").is_hidden()
    assert page.locator("#scenario-form").is_hidden()
    link = page.locator("#siting-login a")
    assert link.get_attribute("href") == "/staff"
    page.select_option("#gap-need", "salon")
    _ready(page, "elementary:salon")
    answer = ui.server.api("/gaps/elementary?need=salon")
    first = answer["areas"][0]
    row = page.locator(f"#gap-table tr[data-area-id='{first['area_id']}']")
    assert row.locator("td[data-col='gap_65plus']").inner_text() == _fmt(first["gap_65plus"])
    assert ui.axe(page) == []
    ui.screenshot(page, "planner-public")


def test_siting_markers_are_numbered_in_order(ui):
    page = ui.open("/planner", width=1280, login=ADMIN)
    _ready(page)
    assert page.locator("#siting-form").is_visible()
    page.fill("#site-k", "4")
    page.select_option("#site-candidates", "grid:250")
    page.locator("#site-run").click()
    page.wait_for_selector("#site-table tbody tr[data-order]")
    markers = page.locator("#site-map .p-site-marker")
    assert markers.count() == 4
    assert [m.get_attribute("data-order") for m in markers.all()] == ["1", "2", "3", "4"]
    assert markers.all_inner_texts() == ["1", "2", "3", "4"]
    answer = ui.server.api("/siting?need=food_store&k=4&candidates=grid%3A250", login=ADMIN)
    rows = page.locator("#site-table tbody tr")
    assert [r.get_attribute("data-order") for r in rows.all()] == ["1", "2", "3", "4"]
    assert page.locator("#site-table td[data-col='name']").all_inner_texts() == [
        s["name"] for s in answer["sites"]]
    assert page.locator("#site-table td[data-col='new_65plus']").all_inner_texts() == [
        _fmt(s["new_65plus"]) for s in answer["sites"]]
    # each marker sits where the API puts its site, titled with its order and name
    for s in answer["sites"]:
        icon = page.locator(f"#site-map .leaflet-marker-icon[title='{s['order']}. {s['name']}']")
        assert icon.count() == 1
    gains = [s["new_65plus"] for s in answer["sites"]]
    assert gains == sorted(gains, reverse=True)
    assert page.locator("#site-curve svg polyline").count() == 1
    assert page.locator("#curve-table tbody tr").count() == 4
    assert ui.axe(page) == []
    ui.screenshot(page, "planner-siting")
    page.set_viewport_size({"width": 360, "height": 900})
    ui.screenshot(page, "planner-siting")


def test_a_store_closure_shows_a_positive_difference(ui):
    page = ui.open("/planner", width=1280, login=ADMIN)
    _ready(page)
    stores = ui.server.api("/scenarios")["stores"]
    store = next((s for s in stores if s["name"] == "ミニマート山手"), stores[0])
    page.wait_for_selector("#store-list input[data-store]")
    page.locator(f"#store-list input[data-store='{store['id']}']").check()
    assert page.locator(".leaflet-marker-icon[data-picked='1']").count() == 1
    page.fill("#scenario-name", "山手閉店（画面）")
    page.fill("#scenario-description", "画面のテスト")
    page.locator("#scenario-create").click()
    page.wait_for_selector("#compare-table tbody tr")
    name = urllib.parse.quote("山手閉店（画面）")
    shown = ui.server.api(f"/scenarios/{name}?layer=elementary")
    changes = page.locator("#compare-table td[data-col='change']").all_inner_texts()
    assert any(c.startswith("+") for c in changes), changes
    for a in shown["areas"]:
        row = page.locator(f"#compare-table tr[data-area-id='{a['area_id']}']")
        assert row.locator("td[data-col='after']").inner_text() == _fmt(a["beyond_65plus_after"])
    assert page.locator("#diff-map path.p-diff-up").count() >= 1
    assert page.locator("#scenario-table tr[data-scenario='山手閉店（画面）']").count() == 1
    assert ui.axe(page) == []
    ui.screenshot(page, "planner-scenario")
    page.set_viewport_size({"width": 360, "height": 900})
    ui.screenshot(page, "planner-scenario")
    # deleted from the list; the baseline's stores are all still there
    made = "#scenario-table tr[data-scenario='山手閉店（画面）']"
    page.locator(f"{made} button[data-action='delete']").click()
    page.wait_for_selector(made, state="detached")
    assert ui.server.api("/scenarios")["stores"] == stores


def test_a_name_like_an_attack_stays_text(ui):
    from geo_service.registry.resources import ResourceFields

    stores = ui.server.api("/scenarios")["stores"]
    ui.server.api("/scenarios", method="POST", login=ADMIN, body={
        "name": "攻撃的な名前", "description": XSS,
        "changes": [{"kind": "add_store", "id": "X1", "name": XSS, "category": "supermarket",
                     "lon": stores[0]["lon"], "lat": stores[0]["lat"]}]})
    ui.server.store.add_many([ResourceFields(name=XSS, category="public_facility",
                                             lon=stores[0]["lon"], lat=stores[0]["lat"])],
                             user="test", action="test")
    page = ui.open("/planner", width=1280, login=ADMIN)
    _ready(page)
    row = page.locator("#scenario-table tr[data-scenario='攻撃的な名前']")
    assert XSS in row.inner_text()
    row.locator("button[data-action='show']").click()
    page.wait_for_selector("#compare-table tbody tr")
    assert XSS in page.locator("#compare-description").inner_text()
    assert XSS in page.locator("#compare-notes").inner_text()
    page.fill("#site-k", "1")
    page.select_option("#site-candidates", "registry:public_facility")
    page.locator("#site-run").click()
    page.wait_for_selector("#site-table tbody tr[data-order]")
    assert XSS in page.locator("#site-table").inner_text()
    page.locator("#site-map .leaflet-marker-icon").first.hover()
    assert page.locator("img[src='x']").count() == 0
    assert ui.dialogs == []
    ui.server.api("/scenarios/" + urllib.parse.quote("攻撃的な名前"), method="DELETE", login=ADMIN)


def test_keyboard_reaches_the_controls(ui):
    page = ui.open("/planner", width=1280, login=ADMIN)
    _ready(page)
    page.wait_for_selector("#store-list input[data-store]")
    reached = set()
    page.locator("body").focus()
    for _ in range(150):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || "
                                  "document.activeElement.getAttribute('class') || ''"))
    for wanted in ("gap-layer", "gap-need", "gap-csv", "site-need", "site-k",
                   "site-candidates", "site-run"):
        assert wanted in reached, (wanted, sorted(reached))
    assert any("p-sort" in r for r in reached)
    # the form runs from the keyboard
    page.focus("#site-k")
    page.keyboard.press("Enter")
    page.wait_for_selector("#site-table tbody tr[data-order]")


def test_english(ui):
    page = ui.open("/planner?lang=en", width=1280, lang="en")
    _ready(page)
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#gaps-heading").inner_text() == "Gaps after the alternatives"
    assert "Log in" in page.locator("#siting-login").inner_text()
    assert ui.axe(page) == []
    ui.screenshot(page, "planner-en")
