"""API tests through TestClient: every registry route, roles and authorisation failures."""

from __future__ import annotations

import io
import re
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

from geo_service.config import ServiceSettings
from geo_service.registry.auth import create_token
from geo_service.registry.store import ResourceStore, open_store
from geo_service.registry.store.testing import fresh_store
from tests.conftest import TEST_DATA
from tests.utils.clients import ADMIN, add_user, api_client, bearer

DATA = TEST_DATA / "registry"


pytestmark = pytest.mark.usefixtures("fast_hashes")


@pytest.fixture
def store(tmp_path):
    s = fresh_store("sqlite", tmp_path)
    add_user(s, *ADMIN, role="admin")
    add_user(s, "sato", "sato-pass-1", areas=["A"])
    add_user(s, "kato", "kato-pass-1", areas=["B"])
    return s


@pytest.fixture
def client(store, tmp_path):
    return api_client(store, tmp_path, max_upload_bytes=20_000)


@pytest.fixture
def admin(client):
    return bearer(client, *ADMIN)


@pytest.fixture
def sato(client):
    return bearer(client, "sato", "sato-pass-1")


@pytest.fixture
def kato(client):
    return bearer(client, "kato", "kato-pass-1")


def salon(**kw):
    body = {"name": "立岩サロン", "kana": "タテイワサロン", "category": "通いの場・サロン",
            "lon": 130.6943, "lat": 33.6522, "area": "A",
            "schedule": {"weekdays": ["wed"], "start": "10:00", "end": "12:00"},
            "fee": {"kind": "free"}}
    body.update(kw)
    return body


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["database"] == "sqlite"


def test_openapi_documents_the_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/resources", "/resources/{resource_id}", "/auth/token", "/users"} <= set(paths)


def test_login_failures(client, store):
    r = client.post("/auth/token", data={"username": "sato", "password": "wrong-pass"})
    assert r.status_code == 401 and r.json()["detail"] == "ユーザー名またはパスワードが違います"
    r = client.post("/auth/token", data={"username": "sato", "password": "wrong-pass"},
                    headers={"Accept-Language": "en"})
    assert r.status_code == 401 and r.json()["detail"] == "incorrect user name or password"
    assert client.post("/auth/token", data={"username": "nobody", "password": "x" * 9}
                       ).status_code == 401
    assert client.get("/auth/me", headers={"Authorization": "Bearer garbage"}).status_code == 401
    old = create_token(store.get_user("sato"), "k" * 40, minutes=5,
                       now=datetime.now(UTC) - timedelta(hours=1))
    r = client.get("/auth/me", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and "有効期限が切れました" in r.json()["detail"]
    r = client.get("/auth/me", headers={"Authorization": f"Bearer {old}",
                                        "Accept-Language": "en"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    forged = create_token(store.get_user("sato"), "another-key" * 4)
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {forged}"}
                      ).status_code == 401
    store.update_user("sato", active=False)
    assert client.post("/auth/token", data={"username": "sato", "password": "sato-pass-1"}
                       ).status_code == 401


def test_me(client, sato):
    assert client.get("/auth/me", headers=sato).json() == {
        "username": "sato", "role": "coordinator", "areas": ["A"], "active": True}
    assert client.get("/auth/me").status_code == 401


def test_create_and_read(client, sato):
    r = client.post("/resources", json=salon(), headers=sato)
    assert r.status_code == 201, r.text
    feature = r.json()
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {"type": "Point", "coordinates": [130.6943, 33.6522]}
    props = feature["properties"]
    assert props["category"] == "salon" and props["category_label"] == "通いの場・サロン"
    assert props["coordinator"] is None and props["visibility"] == "public"  # staff view
    public = client.get(f"/resources/{feature['id']}").json()["properties"]
    assert "visibility" not in public and "staff_notes" not in public
    assert public["name"] == "立岩サロン"


def test_create_needs_login_and_own_area(client, sato, admin):
    assert client.post("/resources", json=salon()).status_code == 401
    r = client.post("/resources", json=salon(area="B"), headers=sato)
    assert r.status_code == 403 and "'B'" in r.json()["detail"]
    assert client.post("/resources", json=salon(area=None), headers=sato).status_code == 403
    assert client.post("/resources", json=salon(area="B"), headers=admin).status_code == 201


@pytest.mark.parametrize("change,field,value", [
    ({"category": "カラオケ"}, "category", "カラオケ"),
    ({"schedule": {"start": "25:00"}}, "schedule.start", "25:00"),
    ({"schedule": {"weekdays": ["funday"]}}, "schedule.weekdays.0", "funday"),
    ({"lon": 33.6522, "lat": 130.6943}, "location", None),
    ({"service_area": {"kind": "polygon", "geometry": {
        "type": "Polygon", "coordinates": [[[130, 33], [131, 34], [131, 33], [130, 34],
                                            [130, 33]]]}}}, "service_area", None),
    ({"service_area": {"kind": "areas"}}, "service_area", None),
    ({"contact": {"email": "not-an-address"}}, "contact.email", "not-an-address"),
])
def test_bad_input_is_422_naming_field_and_value(client, sato, change, field, value):
    r = client.post("/resources", json=salon(**change), headers=sato)
    assert r.status_code == 422, r.text
    text = r.text
    assert field.split(".")[0] in text
    if value is not None:
        assert value in text
    assert client.get("/resources").json()["total"] == 0


def test_swapped_coordinates_message(client, sato):
    """Japanese unless the caller prefers English."""
    r = client.post("/resources", json=salon(lon=33.6522, lat=130.6943), headers=sato)
    assert r.status_code == 422 and "緯度と経度が逆" in r.text
    r = client.post("/resources", json=salon(lon=33.6522, lat=130.6943),
                    headers=sato | {"Accept-Language": "en"})
    assert r.status_code == 422 and "swapped" in r.text


def test_duplicate_id_is_409(client, sato):
    assert client.post("/resources", json=salon(id="S-1"), headers=sato).status_code == 201
    r = client.post("/resources", json=salon(id="S-1"), headers=sato)
    assert r.status_code == 409 and "S-1" in r.text


def test_list_filters_and_paging(client, admin):
    client.post("/resources", json=salon(name="水曜サロン", kana="スイヨウ"), headers=admin)
    client.post("/resources", json=salon(
        name="まごころ弁当", kana="マゴコロ", category="配食", description="見守り付きの配食",
        schedule={"weekdays": ["mon", "tue"]}, fee={"kind": "paid", "amount_yen": 500},
        lon=130.75, lat=33.70, area="B"), headers=admin)
    client.post("/resources", json=salon(name="非公開の会", kana="ヒコウカイ",
                                         visibility="staff"), headers=admin)

    def names(**params):
        r = client.get("/resources", params=params)
        assert r.status_code == 200, r.text
        return [f["properties"]["name"] for f in r.json()["features"]]

    assert names() == ["水曜サロン", "まごころ弁当"]  # by カナ: スイヨウ < マゴコロ
    assert names(category="配食") == ["まごころ弁当"]
    assert names(category="meal_delivery") == ["まごころ弁当"]
    assert names(weekday="水") == ["水曜サロン"]
    assert names(weekday="mon") == ["まごころ弁当"]
    assert names(fee="free") == ["水曜サロン"]
    assert names(q="見守り") == ["まごころ弁当"]
    assert names(area="B") == ["まごころ弁当"]
    assert names(bbox="130.6,33.6,130.7,33.7") == ["水曜サロン"]
    page = client.get("/resources", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and [f["properties"]["name"] for f in page["features"]] == [
        "まごころ弁当"]
    staff = client.get("/resources", headers=admin).json()
    assert staff["total"] == 3


@pytest.mark.parametrize("params,field", [
    ({"category": "カラオケ"}, "category"), ({"weekday": "funday"}, "weekday"),
    ({"bbox": "1,2,3"}, "bbox"), ({"bbox": "33.6,130.6,33.7,130.7"}, "bbox"),
    ({"limit": 0}, "limit"), ({"fee": "cheap"}, "fee"),
])
def test_bad_list_parameters(client, params, field):
    r = client.get("/resources", params=params)
    assert r.status_code == 422 and field in r.text


def test_staff_only_resource_is_404_for_the_public(client, admin):
    rid = client.post("/resources", json=salon(visibility="staff"), headers=admin).json()["id"]
    assert client.get(f"/resources/{rid}").status_code == 404
    assert client.get(f"/resources/{rid}", headers=admin).status_code == 200
    r = client.get("/resources/nope")
    assert r.status_code == 404 and r.json()["detail"] == "ID が 'nope' の資源はありません"
    r = client.get("/resources/nope", headers={"Accept-Language": "en"})
    assert r.json()["detail"] == "no resource with id 'nope'"


def test_update_permissions_and_validation(client, sato, kato, admin):
    rid = client.post("/resources", json=salon(), headers=sato).json()["id"]
    r = client.patch(f"/resources/{rid}", json={"name": "改名サロン"}, headers=sato)
    assert r.status_code == 200 and r.json()["properties"]["name"] == "改名サロン"
    assert client.patch(f"/resources/{rid}", json={"name": "x"}).status_code == 401
    assert client.patch(f"/resources/{rid}", json={"name": "x"}, headers=kato).status_code == 403
    assert client.patch(f"/resources/{rid}", json={"area": "B"}, headers=sato).status_code == 403
    r = client.patch(f"/resources/{rid}", json={"schedule": {"start": "10:00", "end": "09:00"}},
                     headers=sato)
    assert r.status_code == 422 and "end" in r.text
    assert client.patch(f"/resources/{rid}", json={"bogus": 1}, headers=sato).status_code == 422
    assert client.get(f"/resources/{rid}").json()["properties"]["name"] == "改名サロン"
    assert client.patch(f"/resources/{rid}", json={"area": "B"}, headers=admin).status_code == 200


def test_delete_undo_and_history(client, sato, kato):
    rid = client.post("/resources", json=salon(), headers=sato).json()["id"]
    assert client.delete(f"/resources/{rid}", headers=kato).status_code == 403
    assert client.delete(f"/resources/{rid}").status_code == 401
    assert client.delete(f"/resources/{rid}", headers=sato).status_code == 200
    assert client.get(f"/resources/{rid}").status_code == 404
    assert client.get("/resources").json()["total"] == 0
    gone = client.get("/resources", params={"deleted": True}, headers=sato).json()
    assert [f["id"] for f in gone["features"]] == [rid]
    assert client.get("/resources", params={"deleted": True}).json()["total"] == 0  # public
    assert client.post(f"/resources/{rid}/undo", headers=sato).status_code == 200
    assert client.get("/resources", params={"deleted": True}, headers=sato).json()["total"] == 0
    assert client.get(f"/resources/{rid}").status_code == 200
    hist = client.get(f"/resources/{rid}/history", headers=sato).json()
    assert [(h["action"], h["username"]) for h in hist] == [
        ("create", "sato"), ("delete", "sato"), ("undo", "sato")]
    assert hist[1]["before"]["deleted"] is False and hist[1]["after"]["deleted"] is True
    assert client.get(f"/resources/{rid}/history").status_code == 401
    assert client.get("/resources/none/history", headers=sato).status_code == 404


def test_every_single_resource_answer_has_the_version_as_etag(client, sato):
    r = client.post("/resources", json=salon(), headers=sato)
    rid = r.json()["id"]
    assert r.headers["etag"] == '"1"' and r.json()["properties"]["version"] == 1
    # the public's tag is of the public view, not the version (issue 16, item 9)
    assert client.get(f"/resources/{rid}").headers["etag"].startswith('"p-')
    assert "version" not in client.get(f"/resources/{rid}").json()["properties"]
    r = client.patch(f"/resources/{rid}", json={"notes": "x"}, headers=sato)
    assert r.headers["etag"] == '"2"' and r.json()["properties"]["version"] == 2
    assert client.delete(f"/resources/{rid}", headers=sato).headers["etag"] == '"3"'
    assert client.post(f"/resources/{rid}/undo", headers=sato).headers["etag"] == '"4"'
    assert client.get(f"/resources/{rid}", headers=sato).headers["etag"] == '"4"'


def test_if_match(client, sato):
    rid = client.post("/resources", json=salon(), headers=sato).json()["id"]
    etag = client.get(f"/resources/{rid}", headers=sato).headers["etag"]
    r = client.patch(f"/resources/{rid}", json={"notes": "mine"},
                     headers={**sato, "If-Match": etag})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    assert r.json()["properties"]["notes"] == "mine"
    # a second editor who read version 1 is refused, and nothing is written
    for method, path, body in (("PATCH", f"/resources/{rid}", {"notes": "theirs"}),
                               ("DELETE", f"/resources/{rid}", None),
                               ("POST", f"/resources/{rid}/undo", None)):
        r = client.request(method, path, json=body, headers={**sato, "If-Match": etag})
        assert r.status_code == 412, (method, path, r.text)
        assert r.headers["etag"] == '"2"' and r.json()["detail"]["etag"] == '"2"'
        assert "ほかの人が変更しました" in r.json()["detail"]["message"]
    english = {**sato, "If-Match": etag, "Accept-Language": "en"}
    r = client.patch(f"/resources/{rid}", json={"notes": "theirs"}, headers=english)
    assert "changed meanwhile" in r.json()["detail"]["message"]
    assert client.get(f"/resources/{rid}").json()["properties"]["notes"] == "mine"
    assert len(client.get(f"/resources/{rid}/history", headers=sato).json()) == 2
    # a weak tag never matches (strong comparison); a list matches if one of its tags does
    for header, status in (('W/"2"', 412), ('"7", "2"', 200), ("*", 200)):
        r = client.patch(f"/resources/{rid}", json={"notes": header},
                         headers={**sato, "If-Match": header})
        assert r.status_code == status, (header, r.text)
    r = client.delete(f"/resources/{rid}", headers={**sato, "If-Match": r.headers["etag"]})
    assert r.status_code == 200 and r.json()["properties"]["deleted"]
    r = client.post(f"/resources/{rid}/undo", headers={**sato, "If-Match": r.headers["etag"]})
    assert r.status_code == 200 and not r.json()["properties"]["deleted"]
    assert client.patch("/resources/nope", json={"notes": "x"},
                        headers={**sato, "If-Match": '"1"'}).status_code == 404


def test_unverified_list(client, admin):
    client.post("/resources", json=salon(name="old", last_verified="2020-01-01"), headers=admin)
    client.post("/resources", json=salon(name="new", last_verified=datetime.now().date()
                                         .isoformat()), headers=admin)
    assert client.get("/resources/unverified").status_code == 401
    r = client.get("/resources/unverified", headers=admin)
    assert [f["properties"]["name"] for f in r.json()["features"]] == ["old"]


def upload(client, headers, name, data, **params):
    return client.post("/resources/import", params=params, headers=headers,
                       files={"file": (name, data, "text/csv")})


def test_import_upload_dry_run_then_real(client, admin):
    data = (DATA / "coordinator_list_cp932.csv").read_bytes()
    r = upload(client, admin, "list.csv", data, dry_run=True)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["encoding"], body["rows"], body["valid"]) == ("cp932", 4, 2)
    assert body["dry_run"] and body["written"] == 0
    # 移動販売's 小学校区 text cannot be resolved: no boundary layer is loaded here
    assert [p["row"] for p in body["problems"]] == [4, 5]
    assert client.get("/resources", headers=admin).json()["total"] == 0
    r = upload(client, admin, "list.csv", data, partial=True)
    assert r.json()["written"] == 2
    assert client.get("/resources", headers=admin).json()["total"] == 2


def test_import_needs_login_and_limits(client, sato):
    data = (DATA / "bad_rows.csv").read_bytes()
    assert upload(client, {}, "x.csv", data).status_code == 401
    r = upload(client, sato, "big.csv", b"a" * 30_000)
    assert r.status_code == 413
    r = upload(client, sato, "x.csv", data, partial=True)
    body = r.json()
    # a coordinator may import rows of their own area only; these rows have none
    assert body["written"] == 0
    assert any(p["column"] == "担当圏域" and "担当圏域" in p["reason_ja"]
               for p in body["problems"])
    r = upload(client, sato, "x.pdf", b"%PDF")
    assert r.status_code == 422 and ".pdf" in r.text


def test_an_import_is_checked_and_written_by_a_process_of_its_own(store, tmp_path,
                                                                   monkeypatch):
    """An import's rows are checked and written by another process (at a lower priority:
    Python's lock of the server's process stays free for its requests). The server's own
    store never writes them (its ``import_many`` fails here); /health answers while that
    process waits for SQLite's write lock, which the test holds; nothing shows before it
    commits; and the server's listeners (its walking state) hear of the change after."""
    def not_here(*args, **kwargs):
        raise AssertionError("the import was written by the server's process")

    monkeypatch.setattr(ResourceStore, "import_many", not_here)
    heard: list[int] = []
    store.on_change(lambda: heard.append(store.count()))
    answers = []
    with api_client(store, tmp_path, sqlite_busy_seconds=60) as client:
        headers = bearer(client, *ADMIN)
        data = (DATA / "coordinator_list_cp932.csv").read_bytes()
        lock = sqlite3.connect(store.engine.url.database, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        uploading = threading.Thread(target=lambda: answers.append(
            upload(client, headers, "list.csv", data, partial=True)))  # 2 of its 4 rows
        uploading.start()
        uploading.join(timeout=1.0)  # the import is then waiting for the lock
        health = client.get("/health")
        assert uploading.is_alive() and health.status_code == 200
        assert store.count() == 0 and heard == []
        lock.execute("ROLLBACK")
        lock.close()
        uploading.join(timeout=60)
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["written"] == 2 and answers[0].json()["valid"] == 2
    assert store.count() == 2 and heard == [2]


def test_an_import_into_a_registry_in_memory_is_parsed_off_the_event_loop(tmp_path,
                                                                          monkeypatch):
    """A registry in memory (only this process sees it) is imported in a worker thread:
    while an upload is being parsed, other requests are answered. The parser (the real
    one, held at its start until released) would, on the event loop, make /health wait
    for it, and give up waiting (after 10 s). Meanwhile the cyclic garbage collector is
    paused (its passes over the import's objects would stall every thread), and it runs
    again afterwards."""
    import gc

    from geo_service.registry import imports

    store = open_store("sqlite://")
    add_user(store, *ADMIN, role="admin")
    parse, parsing, release = imports.parse_resources, threading.Event(), threading.Event()
    released: list[bool] = []
    gc_during_parse: list[bool] = []

    def parse_when_released(*args, **kwargs):
        parsing.set()
        released.append(release.wait(timeout=10))
        gc_during_parse.append(gc.isenabled())
        return parse(*args, **kwargs)

    monkeypatch.setattr(imports, "parse_resources", parse_when_released)
    answers = []
    with api_client(store, tmp_path) as client:  # one event loop for all
        headers = bearer(client, *ADMIN)
        data = (DATA / "coordinator_list_cp932.csv").read_bytes()
        uploading = threading.Thread(target=lambda: answers.append(
            upload(client, headers, "list.csv", data, dry_run=True)))
        uploading.start()
        assert parsing.wait(timeout=10)
        health = client.get("/health")
        release.set()
        uploading.join()
    assert health.status_code == 200
    assert released == [True]  # the parser was still waiting when /health had answered
    assert answers[0].status_code == 200 and answers[0].json()["valid"] == 2
    assert gc_during_parse == [False] and gc.isenabled()


def _xlsx_text(content: bytes) -> str:
    wb = openpyxl.load_workbook(io.BytesIO(content))
    return "\n".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row)


def test_export_formats(client, admin):
    client.post("/resources", json=salon(), headers=admin)
    for fmt, media in (("csv", "text/csv"), ("xlsx", "spreadsheetml"),
                       ("geojson", "geo+json")):
        r = client.get("/resources/export", params={"format": fmt})
        assert r.status_code == 200 and media in r.headers["content-type"]
        text = _xlsx_text(r.content) if fmt == "xlsx" else r.content.decode("utf-8-sig")
        assert "立岩サロン" in text
    assert client.get("/resources/export", params={"format": "pdf"}).status_code == 422


def test_user_management(client, admin, sato):
    assert client.get("/users").status_code == 401
    assert client.get("/users", headers=sato).status_code == 403
    names = [u["username"] for u in client.get("/users", headers=admin).json()]
    assert names == ["admin", "kato", "sato"]
    body = {"username": "ito", "password": "ito-pass-12", "role": "coordinator", "areas": ["C"]}
    r = client.post("/users", json=body, headers=admin)
    assert r.status_code == 201 and "password" not in r.text and "hash" not in r.text
    assert client.post("/users", json=body, headers=admin).status_code == 409
    assert client.post("/users", json=body | {"username": "x", "password": "short"},
                       headers=admin).status_code == 422
    bearer(client, "ito", "ito-pass-12")
    r = client.patch("/users/ito", json={"areas": ["C", "D"]}, headers=admin)
    assert r.json()["areas"] == ["C", "D"]
    assert client.patch("/users/ito", json={"role": "root"}, headers=admin).status_code == 422
    assert client.delete("/users/ito", headers=sato).status_code == 403
    assert client.delete("/users/ito", headers=admin).status_code == 204
    assert client.delete("/users/ito", headers=admin).status_code == 404


def test_cors_is_configurable(store, tmp_path):
    c = api_client(store, tmp_path, cors_origins=["https://map.example.jp"])
    r = c.get("/health", headers={"Origin": "https://map.example.jp"})
    assert r.headers["access-control-allow-origin"] == "https://map.example.jp"
    r = c.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_docs_page_needs_no_internet(client):
    """/docs and /redoc load their scripts from the service itself (offices often have no
    internet)."""
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        urls = re.findall(r"""(?:src|href|spec-url)=["']([^"']+)["']|url: ['"]([^'"]+)['"]""",
                          html.text)
        urls = [a or b for a, b in urls]
        assert "/openapi.json" in urls and any(u.endswith(".js") for u in urls), urls
        assert not [u for u in urls if u.startswith(("http:", "https:", "//"))], urls
        for u in urls:
            r = client.get(u)
            assert r.status_code == 200 and len(r.content) > 500, u
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_registry_file_follows_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("GEO_SERVICE_DATABASE_URL", raising=False)
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path))
    assert ServiceSettings().database_url == f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", "sqlite:////elsewhere/r.sqlite3")
    assert ServiceSettings().database_url == "sqlite:////elsewhere/r.sqlite3"


@pytest.mark.parametrize("spelling", ["水", "水曜", "水曜日", "wed", "Wed", "Wednesday", "ｗｅｄ"])
def test_weekdays_are_read_the_same_way_everywhere(client, admin, spelling):
    """One parser: API filters, schedule and stop bodies, import cells."""
    from geo_service.registry.resources import parse_weekdays

    assert parse_weekdays(spelling) == ["wed"]
    stop = {"lon": 130.78, "lat": 33.80, "weekday": spelling, "time": "10:00"}
    r = client.post("/resources", headers=admin, json=salon(
        name="曜日サロン", schedule={"weekdays": [spelling], "stops": [stop]}))
    assert r.status_code == 201, r.text
    schedule = r.json()["properties"]["schedule"]
    assert (schedule["weekdays"], schedule["stops"][0]["weekday"]) == (["wed"], "wed")
    r = client.get("/resources", params={"weekday": spelling})
    assert [f["properties"]["name"] for f in r.json()["features"]] == ["曜日サロン"]
    assert client.get("/resources", params={"weekday": "wedding"}).status_code == 422
