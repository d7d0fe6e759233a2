"""The council and planner page (/council): the shopping-difficulty map per boundary
layer, network and straight-line shares side by side, the coverage table (sort, CSV), the
area profile, switching layers, escaping, accessibility and screenshots.

Expected numbers are computed here from the API's own answers (``/difficulty``,
``/profiles``) and the configured classes (``/ui/config``), never copied from the page.
"""

from __future__ import annotations

import pytest

from tests.ui.conftest import ADMIN


def _ready(page, layer="elementary"):
    page.wait_for_selector(f"body[data-layer='{layer}']:not([data-loading])")


def _class_color(share, d):
    if share is None:
        return d["no_data_color"]
    return d["colors"][sum(1 for b in d["breaks"] if b <= share)]


def _pct(x):
    return None if x is None else round(x * 1000) / 10


def test_choropleth_colours_and_legend_follow_the_config(ui):
    config = ui.server.api("/ui/config")
    d = config["difficulty"]
    page = ui.open("/council", width=1280)
    _ready(page)
    areas = ui.server.api("/difficulty/elementary")["features"]
    assert areas
    for f in areas:
        p = f["properties"]
        path = page.locator(f"path[data-area-id='{p['area_id']}']")
        assert path.get_attribute("fill").lower() == _class_color(p["beyond_share"], d).lower()
    legend = page.locator("#legend li").all_inner_texts()
    assert [x.strip() for x in legend] == [*reversed(d["labels"]), d["no_data_label"]]
    title = d["legend_title"].replace("{threshold}", f"{config['region']['threshold_m']:g}")
    assert page.locator("#legend h3").inner_text() == title
    # the area names are on the map (as text) and in the table
    for f in areas:
        assert page.locator(".c-area-label", has_text=f["properties"]["name"]).count() == 1
    assert ui.axe(page) == []
    ui.screenshot(page, "council-map")


def test_english_legend(ui):
    d = ui.server.api("/ui/config")["difficulty"]
    page = ui.open("/council?lang=en", width=1280, lang="en")
    _ready(page)
    legend = [x.strip() for x in page.locator("#legend li").all_inner_texts()]
    assert legend == [*reversed(d["labels_en"]), d["no_data_label_en"]]
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Shopping-access map" in page.locator("#map-heading").inner_text()
    page.locator("#coverage-table button[data-area-id]").first.click()
    assert ui.axe(page) == []
    ui.screenshot(page, "council-en")


def test_coverage_table_sorts_and_downloads_csv(ui):
    page = ui.open("/council", width=1280)
    _ready(page)
    prof = ui.server.api("/profiles/elementary")["areas"]
    table = page.locator("#coverage-table")
    # sort by people 65+ (first click: largest first), then again (smallest first)
    header = table.locator("th[data-col='pop_65plus']")
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    names = table.locator("tbody th").all_inner_texts()
    assert names == [a["name"] for a in sorted(prof, key=lambda a: -a["pop_65plus"])]
    header.locator("button").press("Enter")  # the keyboard sorts too
    assert header.get_attribute("aria-sort") == "ascending"
    names = table.locator("tbody th").all_inner_texts()
    assert names == [a["name"] for a in sorted(prof, key=lambda a: a["pop_65plus"])]
    assert table.locator("th[aria-sort]").count() == 1
    rows = ui.download_csv(page, "#coverage-csv")
    head, body = rows[0], rows[1:]
    assert head[:3] == ["area_id", "区域", "65歳以上人口"]
    assert [r[0] for r in body] == [a["area_id"] for a in sorted(prof,
                                                                key=lambda a: a["pop_65plus"])]
    by_id = {a["area_id"]: a for a in prof}
    for r in body:
        a = by_id[r[0]]
        assert r[1] == a["name"] and int(r[2]) == round(a["pop_65plus"])
        cells = dict(zip(head, r, strict=True))
        for key, c in a["categories"].items():
            label = next(x["label"] for x in ui.server.api("/ui/config")["categories"]
                         if x["id"] == key)
            if f"{label} 所在" in cells:
                assert int(cells[f"{label} 所在"]) == len(c["located"])
            walk = cells.get(f"{label} 徒歩500m圏の65歳以上")
            if walk is not None and c["share_65plus_within_walk"] is not None:
                assert float(walk) == _pct(c["share_65plus_within_walk"])
            if f"{label} サービス" in cells:
                assert cells[f"{label} サービス"] == c["status"]
                if c["share_65plus_covered"] is not None:
                    assert float(cells[f"{label} サービス圏の65歳以上"]) == \
                        _pct(c["share_65plus_covered"])
    ui.screenshot(page, "council-table")


def test_difficulty_table_shows_network_and_straight_side_by_side(ui):
    page = ui.open("/council", width=1280)
    _ready(page)
    areas = ui.server.api("/difficulty/elementary")["features"]
    table = page.locator("#difficulty-table")
    groups = table.locator("th.c-group").all_inner_texts()
    assert any("道のり" in g for g in groups) and any("直線" in g and "過小" in g for g in groups)
    for f in areas:
        p = f["properties"]
        row = table.locator(f"tr[data-area-id='{p['area_id']}']")
        assert row.locator("td[data-col='beyond_share']").inner_text().strip() == \
            f"{_pct(p['beyond_share']):.1f}%"
        assert row.locator("td[data-col='beyond_share_straight']").inner_text().strip() == \
            f"{_pct(p['beyond_share_straight']):.1f}%"
    head, *body = ui.download_csv(page, "#difficulty-csv")
    got = {r["area_id"]: r for r in (dict(zip(head, row, strict=True)) for row in body)}
    for f in areas:
        p = f["properties"]
        r = got[p["area_id"]]
        assert float(r["道のり500m超（実際に歩く距離） 割合"]) == _pct(p["beyond_share"])
        assert float(r["直線500m超（参考・過小） 割合"]) == _pct(p["beyond_share_straight"])


def test_profile_from_map_table_and_deep_link(ui):
    areas = ui.server.api("/difficulty/elementary")["features"]
    p = areas[-1]["properties"]
    page = ui.open("/council", width=1280)
    _ready(page)
    # select on the map
    page.locator(f"path[data-area-id='{p['area_id']}']").click()
    profile = page.locator("#profile")
    assert profile.locator(".c-profile-name").inner_text() == p["name"]
    assert profile.locator("[data-field='pop_65plus']").inner_text() == \
        f"{round(p['pop_65plus']):,}人"
    assert profile.locator("[data-field='beyond_share']").inner_text() == \
        f"{_pct(p['beyond_share']):.1f}%"
    assert profile.locator("[data-field='beyond_share_straight']").inner_text() == \
        f"{_pct(p['beyond_share_straight']):.1f}%"
    assert f"area={p['area_id']}" in page.url and "layer=elementary" in page.url
    # the rows of that area are marked, the path is outlined
    assert page.locator(f"#coverage-table tr[data-area-id='{p['area_id']}']"
                        ).get_attribute("aria-current") == "true"
    assert page.locator(f"path[data-area-id='{p['area_id']}']").get_attribute(
        "stroke-width") == "4"
    assert ui.axe(page) == []
    ui.screenshot(page, "council-profile")
    # select in the table
    q = areas[0]["properties"]
    page.locator(f"#difficulty-table button[data-area-id='{q['area_id']}']").click()
    assert profile.locator(".c-profile-name").inner_text() == q["name"]
    # a deep link opens that layer and area
    page2 = ui.open(f"/council#layer=elementary&area={q['area_id']}", width=360)
    _ready(page2)
    assert page2.locator("#profile .c-profile-name").inner_text() == q["name"]
    ui.screenshot(page2, "council-profile")


def test_profile_opens_the_areas_karte_and_booklet(ui):
    p = ui.server.api("/difficulty/elementary")["features"][0]["properties"]
    page = ui.open(f"/council#layer=elementary&area={p['area_id']}", width=1280)
    _ready(page)
    page.locator("#karte-link").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/karte/elementary/{p['area_id']}")
    assert page.locator("h1").inner_text().startswith(f"地域カルテ：{p['name']}")
    assert f"{round(p['beyond_65plus']):,}" in page.inner_text("body")
    ui.screenshot(page, "karte")
    page.go_back()
    _ready(page)
    page.locator("#booklet-link").click()
    page.wait_for_load_state()
    assert p["name"] in page.locator("h1").inner_text()
    ui.screenshot(page, "booklet")


def test_switching_layer_reloads_map_and_tables(ui):
    page = ui.open("/council", width=1280)
    _ready(page)
    junior = ui.server.api("/difficulty/junior_high")["features"]
    page.locator("#layer").select_option("junior_high")
    _ready(page, "junior_high")
    ids = {f["properties"]["area_id"] for f in junior}
    assert {page.locator("path[data-area-id]").nth(i).get_attribute("data-area-id")
            for i in range(page.locator("path[data-area-id]").count())} == ids
    rows = page.locator("#coverage-table tbody tr[data-area-id]")
    assert {rows.nth(i).get_attribute("data-area-id") for i in range(rows.count())} == ids
    assert "layer=junior_high" in page.url
    d = ui.server.api("/ui/config")["difficulty"]
    for f in junior:
        p = f["properties"]
        assert page.locator(f"path[data-area-id='{p['area_id']}']").get_attribute(
            "fill").lower() == _class_color(p["beyond_share"], d).lower()
    # the 250 m grid: many areas (no names drawn), some without people 65+ (grey)
    mesh = ui.server.api("/difficulty/mesh250")["features"]
    page.locator("#layer").select_option("mesh250")
    _ready(page, "mesh250")
    assert page.locator("path[data-area-id]").count() == len(mesh)
    assert page.locator(".c-area-label").count() == 0
    for f in mesh[:: max(1, len(mesh) // 10)]:
        p = f["properties"]
        assert page.locator(f"path[data-area-id='{p['area_id']}']").get_attribute(
            "fill").lower() == _class_color(p["beyond_share"], d).lower()
    ui.screenshot(page, "council-mesh")


def test_markup_in_names_runs_no_script(ui):
    """A service with markup in its name, covering an area, shown in the profile and the
    table (then deleted again: the registry is shared by the session's tests)."""
    layer = ui.server.region.areas[0]
    area = str(layer.areas["area_id"].iloc[0])
    evil = "<img src=x onerror=alert(1)>配食テスト"
    made = ui.server.api("/resources", method="POST", login=ADMIN, body={
        "name": evil, "category": "配食",
        "service_area": {"kind": "areas", "layer": layer.name, "area_ids": [area]}})
    try:
        page = ui.open(f"/council#layer=elementary&area={area}", width=1280)
        _ready(page)
        page.wait_for_selector("#profile [data-field='services']")
        assert evil in page.locator("#profile").inner_text()
        assert page.locator("main img").count() == 0
        ui.wait_for_quiet_network(page)  # an injected <img onerror> would have fired
        assert ui.dialogs == []
    finally:
        ui.server.api(f"/resources/{made['id']}", method="DELETE", login=ADMIN)


def test_markup_in_area_names_runs_no_script(ui):
    """An area name from a boundary file with markup: the answers of /difficulty and
    /profiles are served with it (the region's own files are left alone)."""
    evil = "<img src=x onerror=alert(2)>川西"

    def rename(route):
        response = route.fetch()
        body = response.json()
        for item in body.get("features", body.get("areas", []))[:1]:
            (item.get("properties") or item)["name"] = evil
        route.fulfill(response=response, json=body)

    page = ui.open("/council", width=1280)
    page.route("**/difficulty/**", rename)
    page.route("**/profiles/**", rename)
    page.reload()
    _ready(page)
    first = ui.server.api("/difficulty/elementary")["features"][0]["properties"]["area_id"]
    page.locator(f"path[data-area-id='{first}']").hover()
    page.locator(f"path[data-area-id='{first}']").click()
    assert page.locator("#profile .c-profile-name").inner_text() == evil
    assert page.locator(".c-area-label", has_text=evil).count() == 1
    assert page.locator(".leaflet-tooltip", has_text=evil).count() == 1
    assert page.locator("#difficulty-table tbody th", has_text=evil).count() == 1
    assert page.locator("main img, .leaflet-tooltip img").count() == 0
    ui.wait_for_quiet_network(page)  # an injected <img onerror> would have fired
    assert ui.dialogs == []


def test_keyboard_reaches_controls(ui):
    page = ui.open("/council", width=1280)
    _ready(page)
    seen = []
    for _ in range(80):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("""() => { const e = document.activeElement;
            return e.id || e.dataset.col || (e.dataset.areaId ? 'area:' + e.dataset.areaId : '')
                   || e.tagName; }"""))
    assert "layer" in seen
    assert "pop_65plus" in seen  # a sort button in a table header
    assert any(s.startswith("area:") for s in seen)
    assert "difficulty-csv" in seen and "coverage-csv" in seen
    # Enter on an area button selects it and moves focus to the profile
    button = page.locator("#coverage-table button[data-area-id]").first
    button.focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "profile"


def test_the_map_shows_what_its_caption_says_the_tables_hold(ui):
    """「地図の区域名と割合（道のり）は、すべて下の表にもあります」: each area's label is its
    name and its share on foot, and the difficulty table's row of the area holds both (the
    caption spoke of figures while the map showed names only)."""
    page = ui.open("/council", width=1280)
    _ready(page)
    caption = page.locator("#map-caption").inner_text()
    assert "区域名と割合" in caption and "数字" not in caption
    for f in ui.server.api("/difficulty/elementary")["features"]:
        p = f["properties"]
        share = f"{_pct(p['beyond_share']):.1f}%"
        label = page.locator(".c-area-label", has_text=p["name"])
        assert label.inner_text().split() == [p["name"], share]
        row = page.locator(f"#difficulty-table tr[data-area-id='{p['area_id']}']")
        assert p["name"] in row.inner_text() and share in row.inner_text()


def _pdf_pages(page) -> int:
    import re

    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


@pytest.mark.parametrize("chosen", [False, True])
def test_it_prints_on_two_pages_without_a_page_for_the_footer(ui, chosen):
    """Map (with the chosen area's profile beside it) on a portrait page, the tables and
    the closing note on a landscape one: it printed on 3–4 pages, the last holding only
    the note."""
    page = ui.open("/council", width=1280)
    _ready(page)
    if chosen:
        page.locator("#coverage-table button[data-area-id]").last.click()
        page.wait_for_selector("#profile-body .c-profile-name")
    assert _pdf_pages(page) == 2


@pytest.mark.parametrize("width", [360, 1280])
def test_screenshots_and_axe_by_width(ui, width):
    page = ui.open("/council", width=width)
    _ready(page)
    page.locator("#coverage-table button[data-area-id]").last.click()
    assert ui.axe(page) == []
    ui.screenshot(page, "council-page")
    page.emulate_media(media="print")
    ui.screenshot(page, "council-print")


def test_staff_sees_the_page_too(ui):
    page = ui.open("/council", width=1280, login=ADMIN)
    _ready(page)
    assert page.locator("#coverage-table tbody tr[data-area-id]").count() > 0
    assert page.locator("#staff-note").is_visible()  # not a public handout as it is
    public = ui.open("/council", width=1280)
    _ready(public)
    assert public.locator("#staff-note").count() == 0
