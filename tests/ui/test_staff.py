"""The coordinator pages (/staff) in a browser: list, editor, map editing, history, import.

Every test that edits makes its own resources in the coordinator's area (the registry is
shared by all UI tests of the session) and checks the server's answer besides the page.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
import shapely
from shapely.geometry import shape

from tests.ui.conftest import ADMIN, COORDINATOR
from tests.utils.clients import bearer
from tests.utils.hostile import lone_cell

XSS = "<img src=x onerror=alert(1)>"


# ---------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def api(ui_server):
    """An admin's HTTP client of the test server, with the area polygons."""
    client = httpx.Client(base_url=ui_server.url, timeout=30)
    client.headers.update(bearer(client, *ADMIN))
    areas = client.get("/areas/elementary").json()["features"]
    client.areas = {f["id"]: shape(f["geometry"]) for f in areas}
    client.mine = client.areas[ui_server.coordinator_area]
    client.other_id = next(a for a in client.areas if a != ui_server.coordinator_area)
    yield client
    client.close()


def _inner_point(poly, dx=0.0, dy=0.0):
    p = poly.representative_point()
    return p.y + dy, p.x + dx  # lat, lon


def make(api, *, where=None, **fields) -> dict:
    """A new resource (in the coordinator's area unless ``where`` is another polygon)."""
    lat, lon = _inner_point(where if where is not None else api.mine)
    body = {"name": f"テスト {uuid.uuid4().hex[:6]}", "category": "salon", "lat": lat, "lon": lon,
            "schedule": {"weekdays": ["wed"], "start": "10:00", "end": "11:30"}} | fields
    r = api.post("/resources", json=body)
    assert r.status_code == 201, r.text
    return r.json()["properties"]


def open_editor(ui, rid, **kw):
    page = ui.open(f"/staff#edit={rid}", login=COORDINATOR, **kw)
    page.locator("#editor").wait_for()
    return page


def save(page):
    page.locator("#save").click()
    page.locator("#status").filter(has_text="保存しました").wait_for()


#: the open editor's Leaflet map, in the page (the module the page loaded, imported again)
EDITOR_MAP = "(await import('/static/js/staff-editor.js')).map()"


def click_map(page, lat, lon):
    """Click the editor's map at (lat, lon)."""
    page.locator("#edit-map").scroll_into_view_if_needed()
    x, y = page.evaluate(f"async ([la, lo]) => {{ const p = {EDITOR_MAP}"
                         ".latLngToContainerPoint([la, lo]); return [p.x, p.y]; }", [lat, lon])
    box = page.locator("#edit-map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


def fit(page, poly):
    w, s, e, n = poly.bounds
    page.evaluate(f"async ([s, w, n, e]) => {EDITOR_MAP}"
                  ".fitBounds([[s, w], [n, e]], {animate: false})", [s, w, n, e])


# ---------------------------------------------------------------------- tests


def test_edit_shows_in_table_map_and_history(ui, api):
    r = make(api)
    page = open_editor(ui, r["id"])
    new_name = f"編集後 {uuid.uuid4().hex[:6]}"
    page.get_by_label("名称（必須）").fill(new_name)
    page.get_by_label("開始時刻").fill("13:00")
    page.get_by_label("終了時刻").fill("15:30")
    save(page)
    stored = api.get(f"/resources/{r['id']}").json()["properties"]
    assert stored["name"] == new_name and stored["schedule"]["start"] == "13:00"
    # the table
    page.get_by_role("link", name="一覧", exact=True).click()
    page.get_by_label("検索（名称・カナ・住所・内容）").fill(new_name)
    table = page.locator("table.staff-table")
    table.get_by_role("link", name=new_name).wait_for()
    table.locator("tbody tr").nth(1).wait_for(state="detached")  # the search's answer
    assert table.locator("tbody tr").count() == 1
    # the map: the marker is titled with the name, its popup shows it
    marker = page.locator(f'.leaflet-marker-icon[title="{new_name}"]')
    marker.click()
    page.locator(".leaflet-popup-content").filter(has_text=new_name).wait_for()
    # the history: who and what
    page.goto(f"{ui.server.url}/staff#edit={r['id']}")
    history = page.locator("#history")
    history.locator("ins", has_text=new_name).wait_for()
    first = history.locator(".staff-history-list > li").first
    assert "coord" in first.inner_text() and "更新" in first.inner_text()
    assert "13:00〜15:30" in history.inner_text()


def test_polygon_service_area_drawn_on_the_map_serves_reach(ui, api):
    r = make(api, category="meal_delivery", schedule={})
    page = open_editor(ui, r["id"])
    page.get_by_label("範囲の種類").select_option("polygon")
    fit(page, api.mine)
    w, s, e, n = api.mine.bounds
    lat0, lon0 = s + (n - s) * 0.2, w + (e - w) * 0.2
    lat1, lon1 = s + (n - s) * 0.6, w + (e - w) * 0.6
    page.get_by_role("button", name="範囲を描く").click()
    for drawn, (la, lo) in enumerate([(lat0, lon0), (lat0, lon1), (lat1, lon1), (lat1, lon0)], 1):
        click_map(page, la, lo)
        page.wait_for_function(  # geoman has placed the vertex before the next click
            "n => document.querySelectorAll('.leaflet-marker-pane .marker-icon"
            ":not(.cursor-marker):not(.marker-icon-middle)').length === n", arg=drawn)
    click_map(page, lat0, lon0)  # back on the first vertex closes the polygon
    page.locator("#sa-polygon-info").filter(has_text="頂点 4 個").wait_for()
    save(page)
    stored = api.get(f"/resources/{r['id']}").json()["properties"]["service_area"]
    assert stored["kind"] == "polygon"
    inside = ((lat0 + lat1) / 2, (lon0 + lon1) / 2)
    outside = (lat1 + (n - s) * 0.15, lon1 + (e - w) * 0.15)
    assert shape(stored["geometry"]).contains(shapely.Point(inside[1], inside[0]))

    def served(lat, lon):
        reach = api.get("/reach", params={"lat": lat, "lon": lon}).json()
        return r["id"] in {f["id"] for f in reach["features"]}

    assert served(*inside)
    assert not served(*outside)


def test_the_editor_says_what_a_service_area_means_for_the_resource(ui, api):
    """A salon's service area is whom it takes in — never a service that comes to the home
    (/reach leaves it out); a meal delivery's is where it comes to. The editor says which,
    and changes its words with the category."""
    salon = make(api, category="salon")
    page = open_editor(ui, salon["id"])
    meaning = page.locator("#sa-meaning")
    assert "「家まで来てくれるサービス」には出ません" in meaning.inner_text()
    page.locator("#e-category").select_option("meal_delivery")
    assert "この範囲に住む人の「家まで来てくれるサービス」に表示され" in meaning.inner_text()
    page.locator("#e-category").select_option("mobile_sales")
    assert "停留所" in meaning.inner_text()
    assert ui.axe(page) == []
    page.locator("#e-category").select_option("salon")
    meaning.scroll_into_view_if_needed()
    ui.screenshot(page, "staff-editor-area-meaning")


def test_walking_minutes_preview_before_saving_matches_the_saved_reach(ui, api):
    r = make(api, category="meal_delivery", schedule={})
    page = open_editor(ui, r["id"])
    page.get_by_label("範囲の種類").select_option("walk")
    page.get_by_label("徒歩（分）").fill("5")
    page.get_by_role("button", name="到達範囲を地図に表示").click()
    info = page.locator("#sa-walk-info").filter(has_text="徒歩5分の到達範囲")
    info.wait_for()
    assert page.locator("path.staff-isochrone").count() >= 1  # drawn before saving
    assert api.get(f"/resources/{r['id']}").json()["properties"]["service_area"]["kind"] == "none"
    pop = int(re.search(r"約(\d+)人", info.inner_text()).group(1))
    save(page)
    reach = api.get(f"/resources/{r['id']}/reach").json()
    band = reach["features"][0]
    assert reach["kind"] == "isochrones" and band["properties"]["minutes"] == 5
    preview = api.get("/isochrone", params={"lat": r["lat"], "lon": r["lon"], "minutes": 5}).json()
    assert shape(band["geometry"]).equals(shape(preview["geometry"]))
    assert round(band["properties"]["pop_65plus"]) == pop


def test_server_validation_message_next_to_the_field(ui, api):
    r = make(api)
    page = open_editor(ui, r["id"])
    page.get_by_label("開始時刻").fill("14:00")
    page.get_by_label("終了時刻").fill("13:00")
    page.locator("#save").click()
    error = page.locator("#e-end-error")
    error.wait_for()
    assert "終了時刻が開始時刻より後になっていません" in error.inner_text()  # the page's language
    end = page.locator("#e-end")
    assert end.get_attribute("aria-invalid") == "true"
    assert "e-end-error" in end.get_attribute("aria-describedby")
    assert page.evaluate("document.activeElement.id") == "e-end"
    assert api.get(f"/resources/{r['id']}").json()["properties"]["schedule"]["end"] == "11:30"
    assert ui.axe(page) == []


_TEXT_COORDINATES = """async (id) => {
  const ring = [["1", "2"], ["2", "2"], ["2", "3"], ["1", "2"]];
  const { api } = await import("/static/js/common.js");
  try {
    await api(`/resources/${id}`, { method: "PATCH", body: { service_area: {
      kind: "polygon", geometry: { type: "Polygon", coordinates: [ring] } } } });
  } catch (e) { return e.problems()[0].reason; }
  return "accepted";
}"""


@pytest.mark.parametrize(("page_lang", "browser_lang", "words"),
                         [("ja", "en", "座標は数値"), ("en", "ja", "must be numbers")])
def test_server_messages_in_the_page_language(ui, api, page_lang, browser_lang, words):
    """The pages ask the service for their own language (Accept-Language), whatever the
    browser's: the reason of a refused polygon (issue 16, item 14) reads as the page does."""
    r = make(api)
    page = ui.open(f"/staff?lang={page_lang}", login=COORDINATOR, lang=browser_lang)
    page.locator("#logout").wait_for()  # shown once the page has read who is logged in
    assert words in page.evaluate(_TEXT_COORDINATES, r["id"])


def test_conflict_is_shown_and_nothing_is_overwritten(ui, api):
    r = make(api)
    page = open_editor(ui, r["id"])
    other = api.patch(f"/resources/{r['id']}", json={"name": "他の人の変更"},
                      headers={"If-Match": f'"{r["version"]}"'})
    assert other.status_code == 200
    page.get_by_label("備考").fill("私の変更")
    page.locator("#save").click()
    conflict = page.locator("#conflict")
    conflict.filter(has_text="他の人が先に更新しました").wait_for()
    stored = api.get(f"/resources/{r['id']}").json()["properties"]
    assert stored["name"] == "他の人の変更" and stored["notes"] is None
    assert page.get_by_label("備考").input_value() == "私の変更"  # the input is kept
    conflict.locator("ins", has_text="他の人の変更").wait_for()  # what they changed
    page.get_by_role("button", name="最新の内容を読み込む").click()
    page.locator("#e-name").and_(page.locator('[value="他の人の変更"]')).wait_for()
    assert page.get_by_label("名称（必須）").input_value() == "他の人の変更"
    # again, and this time overwrite on purpose
    latest = api.get(f"/resources/{r['id']}").json()["properties"]
    api.patch(f"/resources/{r['id']}", json={"kana": "タニン"},
              headers={"If-Match": f'"{latest["version"]}"'})
    page.get_by_label("備考").fill("私の変更")
    page.locator("#save").click()
    page.get_by_role("button", name="自分の入力で上書き保存").click()
    page.locator("#status").filter(has_text="保存しました").wait_for()
    stored = api.get(f"/resources/{r['id']}").json()["properties"]
    assert stored["notes"] == "私の変更" and stored["kana"] is None  # as the form showed


def test_delete_then_restore_from_the_deleted_list(ui, api):
    r = make(api)
    page = open_editor(ui, r["id"])
    page.get_by_role("button", name="削除する").click()
    page.locator("h2", has_text="削除済みの資源").wait_for()
    assert api.get(f"/resources/{r['id']}").status_code == 404
    deleted = api.get("/resources", params={"deleted": "true", "q": r["name"]}).json()
    assert [f["id"] for f in deleted["features"]] == [r["id"]]
    page.get_by_role("button", name=f"{r['name']} を復元").click()
    page.locator("#editor").wait_for()
    page.locator("#status").filter(has_text="復元しました").wait_for()
    assert api.get(f"/resources/{r['id']}").json()["properties"]["deleted"] is False
    history = page.locator("#history")
    history.locator(".staff-badge", has_text="元に戻す").wait_for()
    assert history.locator(".staff-badge", has_text="削除").count() == 1
    page.goto(f"{ui.server.url}/staff#deleted")
    page.locator("h2", has_text="削除済みの資源").wait_for()
    assert ui.axe(page) == []


def test_import_dry_run_reports_rows_then_commit_imports(ui, api, tmp_path):
    lat, lon = _inner_point(api.mine)
    tag = uuid.uuid4().hex[:6]
    bad = tmp_path / "bad.csv"
    area = ui.server.coordinator_area
    head = "名称,種別,緯度,経度,担当圏域\n"
    bad.write_text(f"{head}取込A {tag},通いの場・サロン,{lat},{lon},{area}\n"
                   f"取込B {tag},存在しない種別,{lat},{lon},{area}\n", encoding="utf-8")
    good = tmp_path / "good.csv"  # a coordinator's own list needs no 担当圏域 column
    good.write_text(f"名称,種別,緯度,経度\n取込A {tag},通いの場・サロン,{lat},{lon}\n"
                    f"取込B {tag},認知症カフェ,{lat},{lon}\n", encoding="utf-8")
    page = ui.open("/staff#import", login=COORDINATOR)
    page.get_by_label("ファイル（CSV・Excel）").set_input_files(str(bad))
    page.get_by_role("button", name="確認する（登録しない）").click()
    problems = page.locator("#import-problems")
    problems.wait_for()
    row = problems.locator("tbody tr").first
    assert row.locator("td").first.inner_text() == "3"  # the file's line 3 (header is 1)
    assert "存在しない種別" in row.inner_text()
    assert page.locator("#import-commit").is_disabled()
    assert api.get("/resources", params={"q": tag}).json()["total"] == 0  # nothing written
    ui.screenshot(page, "staff-import")
    assert ui.axe(page) == []
    page.get_by_label("ファイル（CSV・Excel）").set_input_files(str(good))
    page.get_by_role("button", name="確認する（登録しない）").click()
    page.get_by_text("2行すべて登録できます").wait_for()
    assert "null" not in page.locator("#import-report").inner_text()
    assert api.get("/resources", params={"q": tag}).json()["total"] == 0
    page.get_by_role("button", name="取り込む").click()
    page.get_by_text("2件を登録しました").wait_for()
    assert api.get("/resources", params={"q": tag}).json()["total"] == 2


@pytest.mark.parametrize(("lang", "check", "says"), [
    ("ja", "確認する（登録しない）", "の外にあります（設定 GEO_SERVICE_UPLOAD_MAX_ROWS"),
    ("en", "Check (save nothing)", "lies beyond the limit of 100,000 data rows"),
])
def test_an_upload_beyond_the_limits_is_explained_in_the_pages_language(ui, lang, check,
                                                                        says):
    """The browser asks for Japanese (ja-JP); the page's own language decides."""
    page = ui.open(f"/staff?lang={lang}#import", login=COORDINATOR)
    page.locator("input[type=file]").set_input_files(files=[{
        "name": "huge.xlsx", "buffer": lone_cell("Z300000"),
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    page.get_by_role("button", name=check).click()
    page.get_by_role("alert").filter(has_text=says).wait_for()


def test_other_areas_edit_page_is_refused(ui, api):
    r = make(api, where=api.areas[api.other_id])
    assert r["area"] == api.other_id
    page = ui.open(f"/staff#edit={r['id']}", login=COORDINATOR)
    page.get_by_text("担当地域外のため編集できません").wait_for()
    assert page.locator("#editor").count() == 0
    assert page.locator("input, textarea, select").filter(visible=True).count() == 0
    token = page.evaluate("sessionStorage.getItem('geo-service.token')")
    answer = httpx.patch(f"{ui.server.url}/resources/{r['id']}", json={"name": "x"},
                         headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403


def test_markup_in_a_name_stays_text_everywhere(ui, api):
    r = make(api, name=XSS + " " + uuid.uuid4().hex[:4])
    api.patch(f"/resources/{r['id']}", json={"notes": XSS})
    page = ui.open("/staff", login=COORDINATOR)
    page.get_by_label("検索（名称・カナ・住所・内容）").fill(r["name"])
    page.locator("table.staff-table").get_by_role("link", name=r["name"]).wait_for()
    page.locator(f'.leaflet-marker-icon[title="{r["name"]}"]').click()
    page.locator(".leaflet-popup-content").filter(has_text=r["name"]).wait_for()
    page.goto(f"{ui.server.url}/staff#edit={r['id']}")
    page.locator("#editor").wait_for()
    assert page.get_by_label("名称（必須）").input_value() == r["name"]
    page.locator("#history ins", has_text=XSS).wait_for()
    assert page.locator("h2#editor-title").inner_text().endswith(r["name"])
    assert page.locator("img[src='x']").count() == 0
    assert ui.dialogs == []


def test_mobile_sales_stops_added_moved_and_removed_on_the_map(ui, api):
    r = make(api, category="mobile_sales", schedule={})
    page = open_editor(ui, r["id"])
    fit(page, api.mine)
    page.get_by_role("button", name="停留所を追加").click()
    page.get_by_role("button", name="停留所を追加").click()
    page.locator("#stop-0-name").fill("川西公民館前")
    page.locator("#stop-0-weekday").select_option("thu")
    page.locator("#stop-0-time").fill("10:30")
    page.locator("#stop-1-name").fill("消す停留所")
    page.get_by_role("button", name="停留所2を削除").click()
    marker = page.locator('.staff-stop-icon[title^="停留所1"]')
    box = marker.bounding_box()
    before = float(page.locator("#stop-0-lon").input_value())
    page.mouse.move(box["x"] + 14, box["y"] + 14)
    page.mouse.down()
    page.mouse.move(box["x"] + 80, box["y"] + 20, steps=8)
    page.mouse.up()
    page.wait_for_function(f"Number(document.getElementById('stop-0-lon').value) > {before}")
    save(page)
    stops = api.get(f"/resources/{r['id']}").json()["properties"]["schedule"]["stops"]
    assert len(stops) == 1
    assert stops[0]["name"] == "川西公民館前" and stops[0]["weekday"] == "thu"
    assert stops[0]["time"] == "10:30" and stops[0]["lon"] > before


def test_accessible_and_keyboard_reachable(ui, api):
    page = ui.open("/staff")
    page.get_by_label("ユーザー名").wait_for()
    assert ui.axe(page) == []
    ui.log_in(page, *COORDINATOR)
    page.locator("table.staff-table").wait_for()
    assert ui.axe(page) == []
    r = make(api, lat=None, lon=None, schedule={})
    page.goto(f"{ui.server.url}/staff#edit={r['id']}")  # admin-made, no location: no area
    page.get_by_text("担当地域外のため編集できません").wait_for()
    page.goto(f"{ui.server.url}/staff#new")
    page.locator("#editor").wait_for()
    assert ui.axe(page) == []
    # keyboard only: name, place by "map centre", then Tab reaches the save button
    page.locator("#e-name").focus()
    page.keyboard.type("キーボードで登録")
    page.locator("#use-centre").focus()
    page.keyboard.press("Enter")
    assert page.locator("#e-lat").input_value() != ""
    page.locator("#e-name").focus()
    for _ in range(200):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "save":
            break
    else:
        pytest.fail("Tab never reached the save button")
    page.goto(f"{ui.server.url}/staff#import")
    page.get_by_role("button", name="変更を捨てて移動").click()  # the unsaved new resource
    page.locator("#import-file").wait_for()
    assert ui.axe(page) == []


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_import_of_a_row_in_another_area_says_why_in_the_pages_language(ui, api, tmp_path,
                                                                        lang):
    lat, lon = _inner_point(api.areas[api.other_id])
    path = tmp_path / "other.csv"
    path.write_text(f"名称,種別,緯度,経度\nよその場所,通いの場・サロン,{lat},{lon}\n",
                    encoding="utf-8")
    page = ui.open(f"/staff?lang={lang}#import", login=COORDINATOR, lang=lang)
    page.locator("#import-file").set_input_files(str(path))
    page.locator("#import-check").click()
    row = page.locator("#import-problems tbody tr").first
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[:2] == ["2", "緯度"]
    reason = "の資源です。取り込めるのは自分の担当圏域" if lang == "ja" else "not in your areas"
    assert reason in cells[3] and f"({api.other_id})" in cells[3]
    assert page.locator("#import-commit").is_disabled()


def test_english(ui):
    page = ui.open("/staff?lang=en")
    page.get_by_label("User name").wait_for()
    assert page.get_by_role("button", name="Log in").is_visible()


@pytest.mark.parametrize("width", [360, 1280])
def test_each_staff_view_fits_the_screen_and_shows_its_content(ui, api, width):
    """Login, list, editor and import report at phone and desk widths: each fits the screen
    and shows what it is for (the screenshots in tests/ui/screenshots/ are for a person)."""
    page = ui.open("/staff", width=width)
    page.get_by_label("ユーザー名").wait_for()
    assert page.get_by_role("button", name="ログイン").is_visible()
    assert ui.fits_the_screen(page)
    ui.screenshot(page, "staff-login")

    ui.log_in(page, *COORDINATOR)
    page.locator("table.staff-table tbody tr").first.wait_for()
    assert page.locator("table.staff-table tbody tr").count() > 0
    assert ui.fits_the_screen(page)
    ui.screenshot(page, "staff-list")

    name = "見本 配食（小学校区）"
    r = make(api, category="meal_delivery", name=name, schedule={},
             service_area={"kind": "areas", "layer": "小学校区",
                           "area_ids": [ui.server.coordinator_area]})
    page.goto(f"{ui.server.url}/staff#edit={r['id']}")
    field = page.get_by_label("名称（必須）")
    field.wait_for()
    assert field.input_value() == name
    assert page.locator("#save").is_visible()
    assert ui.fits_the_screen(page)
    ui.screenshot(page, "staff-editor")

    page.goto(f"{ui.server.url}/staff#import")
    area = ui.server.coordinator_area
    bad = f"名称,種別,担当圏域\n良い行,通いの場・サロン,{area}\n悪い行,存在しない種別,{area}\n"
    page.get_by_label("ファイル（CSV・Excel）").set_input_files(
        files=[{"name": "list.csv", "mimeType": "text/csv", "buffer": bad.encode()}])
    page.get_by_role("button", name="確認する（登録しない）").click()
    problems = page.locator("#import-problems tbody tr")
    problems.first.wait_for()
    assert problems.count() == 1
    assert "存在しない種別" in problems.first.inner_text()
    assert ui.fits_the_screen(page)
    ui.screenshot(page, "staff-import")


def test_list_sorts_flags_unverified_and_exports(ui, api):
    from datetime import date, timedelta

    tag = uuid.uuid4().hex[:6]
    fresh = make(api, name=f"並び {tag} い", last_verified=str(date.today() - timedelta(days=30)))
    make(api, name=f"並び {tag} あ", last_verified=str(date.today() - timedelta(days=400)))
    make(api, name=f"並び {tag} う")  # never verified
    page = ui.open("/staff", login=COORDINATOR)
    page.get_by_label("検索（名称・カナ・住所・内容）").fill(f"並び {tag}")
    rows = page.locator("table.staff-table tbody tr")
    rows.nth(2).wait_for()
    page.get_by_role("button", name="名称").click()
    page.locator("th[aria-sort='ascending']").wait_for()  # the sorted page is in
    names = [rows.nth(i).locator("td").first.inner_text() for i in range(3)]
    assert names == [f"並び {tag} あ", f"並び {tag} い", f"並び {tag} う"]
    assert page.locator("th[aria-sort='ascending']").inner_text().startswith("名称")
    stale = {rows.nth(i).locator("td").first.inner_text(): rows.nth(i).get_attribute("class")
             for i in range(3)}
    assert stale[fresh["name"]] is None
    assert [n for n, c in stale.items() if c == "staff-stale"] == [names[0], names[2]]
    verified = [rows.nth(i).locator("td").nth(3).inner_text() for i in range(3)]
    # one never verified (imported minutes ago, say) is 未確認, not 「12か月以上未確認」
    assert "12か月以上未確認" in verified[0] and verified[2] == "未確認"
    page.get_by_label("12か月以上未確認のみ").check()  # the server filters: wait for it
    rows.nth(2).wait_for(state="detached")
    assert rows.count() == 2
    with page.expect_download() as download:
        page.get_by_role("button", name="表示中の一覧をCSVで保存").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert names[0] in text and names[2] in text and fresh["name"] not in text


@pytest.mark.parametrize("width", [360, 1280])
def test_list_pages_on_the_server(ui, api, width):
    """60 resources of one search: 50 on the first page, 10 on the second, with previous /
    next buttons a thumb can use on a 360 px phone; the sort applies across pages."""
    tag = uuid.uuid4().hex[:6]
    lat, lon = _inner_point(api.mine)
    for k in range(60):
        r = api.post("/resources", json={"name": f"頁 {tag} {k:02d}", "category": "salon",
                                         "lat": lat, "lon": lon})
        assert r.status_code == 201, r.text
    page = ui.open("/staff", width=width, login=COORDINATOR)
    page.get_by_label("検索（名称・カナ・住所・内容）").fill(f"頁 {tag}")
    status = page.locator("p[aria-live='polite']")
    status.filter(has_text="60件中 1–50件目").wait_for()
    rows = page.locator("table.staff-table tbody tr")
    assert rows.count() == 50
    assert page.locator("#page-prev").is_disabled()
    nxt = page.locator("#page-next")
    box = nxt.bounding_box()
    assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert ui.fits_the_screen(page)
    page.get_by_role("button", name="名称").click()  # ascending by name, from page 1
    status.filter(has_text="60件中 1–50件目").wait_for()
    rows.first.filter(has_text=f"頁 {tag} 00").wait_for()
    nxt.click()
    status.filter(has_text="60件中 51–60件目").wait_for()
    assert rows.count() == 10
    assert rows.first.locator("td").first.inner_text() == f"頁 {tag} 50"
    assert nxt.is_disabled()
    assert "2 / 2 ページ" in page.locator(".staff-pager").inner_text()
    page.locator("#page-prev").click()
    status.filter(has_text="60件中 1–50件目").wait_for()
    assert ui.fits_the_screen(page)
    ui.screenshot(page, "staff-list-pages")


def test_list_csv_quotes_formulas_as_the_server_does(ui, api):
    """The page's own CSV (表示中の一覧) quotes the cells a spreadsheet would run exactly as
    the server's exports do (outputs.spreadsheet_cell), full-width ＝ and a starter behind
    a zero-width space or a BOM included."""
    import csv
    import io

    from geo_service.outputs import spreadsheet_cell

    tag = uuid.uuid4().hex[:6]
    names = [f"{start}1+1 {tag}" for start in
             ("=", "＝", "＋", "－", "＠", "−", "\u200b=", "\ufeff＝", "\x7f=", "'=", "")]
    for name in names:
        make(api, name=name)
    page = ui.open("/staff", login=COORDINATOR)
    page.get_by_label("検索（名称・カナ・住所・内容）").fill(tag)
    page.locator("table.staff-table tbody tr").nth(len(names) - 1).wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="表示中の一覧をCSVで保存").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(
        encoding="utf-8-sig"))))
    assert sorted(row[1] for row in rows[1:]) == sorted(spreadsheet_cell(n) for n in names)


def test_logout_forgets_the_token(ui):
    page = ui.open("/staff", login=COORDINATOR)
    assert page.evaluate("sessionStorage.getItem('geo-service.token')")
    assert "token" not in page.url
    page.get_by_role("button", name="ログアウト").click()
    page.get_by_label("ユーザー名").wait_for()
    assert page.evaluate("sessionStorage.getItem('geo-service.token')") is None
    assert page.locator("#app").is_hidden()


def test_new_resource_placed_by_clicking_and_dragging_the_marker(ui, api):
    page = ui.open("/staff#new", login=COORDINATOR)
    page.locator("#editor").wait_for()
    name = f"新規 {uuid.uuid4().hex[:6]}"
    page.get_by_label("名称（必須）").fill(name)
    fit(page, api.mine)
    w, s, e, n = api.mine.bounds
    lat, lon = _inner_point(api.mine)
    click_map(page, lat, lon)
    assert abs(float(page.get_by_label("緯度").input_value()) - lat) < (n - s) / 50
    marker = page.locator('.leaflet-marker-icon[title="資源の場所（ドラッグで移動）"]')
    box = marker.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx, cy + 30, steps=6)
    page.mouse.up()
    page.wait_for_function(f"Number(document.getElementById('e-lat').value) < {lat}")
    dragged = float(page.get_by_label("緯度").input_value())
    page.locator("#save").click()
    page.locator("#status").filter(has_text="保存しました").wait_for()
    found = api.get("/resources", params={"q": name}).json()["features"]
    assert len(found) == 1
    p = found[0]["properties"]
    assert abs(p["lat"] - dragged) < 1e-6 and p["area"] == ui.server.coordinator_area
    assert api.areas[ui.server.coordinator_area].contains(shapely.Point(p["lon"], p["lat"]))


def test_leaving_unsaved_changes_asks_first(ui, api):
    r = make(api)
    page = open_editor(ui, r["id"])
    page.get_by_role("link", name="一覧", exact=True).click()  # nothing changed: leaves
    page.locator("table.staff-table").wait_for()
    page.goto(f"{ui.server.url}/staff#edit={r['id']}")
    page.get_by_label("備考").fill("まだ保存していない")
    page.get_by_role("link", name="一覧", exact=True).click()
    page.get_by_text("保存していない変更があります").wait_for()
    assert page.get_by_label("備考").input_value() == "まだ保存していない"
    assert page.url.endswith(f"#edit={r['id']}")
    page.get_by_role("button", name="編集を続ける").click()
    page.get_by_role("link", name="一覧", exact=True).click()
    page.get_by_role("button", name="変更を捨てて移動").click()
    page.locator("table.staff-table").wait_for()
    assert api.get(f"/resources/{r['id']}").json()["properties"]["notes"] is None
    assert ui.dialogs == []


def test_times_are_shown_in_japan_time(ui):
    """The service records UTC; people read Japan time, whatever the browser's zone (the
    test browser runs in the machine's, UTC here)."""
    page = ui.open("/staff")
    page.get_by_label("ユーザー名").wait_for()
    shown = page.evaluate("async () => (await import('/static/js/common.js'))"
                          ".formatDateTime('2026-12-06T13:44:14Z')")
    assert shown == "2026-12-06 22:44"
