"""Bad requests are 4xx with one documented body shape, never 500 (issue 8, items 11–13);
security headers and owner-only files (item 12)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat

import pytest

from geo_service.registry.auth import load_or_create_secret
from geo_service.registry.store import open_store
from tests.api.test_api_coverage import app_parts, q  # noqa: F401  (the grid app fixture)

ERROR_KEYS = {"message", "reason", "field", "value", "problems"}


def detail(response, status=422):
    """The error detail of ``response``, checked to have the one documented shape."""
    assert response.status_code == status, response.text
    body = response.json()["detail"]
    assert set(body) == ERROR_KEYS, body
    assert body["problems"] and {"field", "value", "reason"} == set(body["problems"][0])
    return body


def post_json(client, headers, text: bytes, path="/resources", method="POST"):
    return client.request(method, path, content=text,
                          headers=headers | {"Content-Type": "application/json"})


def test_huge_offset_is_422(app_parts):  # noqa: F811
    client, _, _ = app_parts
    for params in ({"offset": 9223372036854775808}, {"offset": 2**31}, {"limit": 2**63}):
        body = detail(client.get("/resources", params=params))
        assert body["field"] in params
    assert client.get("/resources", params={"offset": 2**31 - 1}).json()["features"] == []


def test_empty_import_upload_is_422_naming_the_file(app_parts):  # noqa: F811
    client, _, admin = app_parts
    for data in (b"", b"\xef\xbb\xbf", b"\n\n"):
        r = client.post("/resources/import", headers=admin,
                        files={"file": ("empty list.csv", data, "text/csv")})
        body = detail(r)
        assert "empty list.csv" in body["message"] and "ファイルが空です" in body["reason"]


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_in_json_bodies_are_422(app_parts, number):  # noqa: F811
    client, store, admin = app_parts
    lon, lat = q(500, 500)["lon"], q(500, 500)["lat"]
    for text in (b'{"name": "x", "category": "salon", "lon": %s, "lat": %f}' % (number, lat),
                 b'{"name": "x", "category": "salon", "lon": %f, "lat": %f, '
                 b'"fee": {"kind": "paid", "amount_yen": %s}}' % (lon, lat, number)):
        body = detail(post_json(client, admin, text))
        assert number.lstrip(b"-").decode() in body["reason"]
    assert store.count() == 0
    rid = client.post("/resources", headers=admin, json={
        "name": "x", "category": "salon", "lon": lon, "lat": lat}).json()["id"]
    detail(post_json(client, admin, b'{"lat": %s}' % number, f"/resources/{rid}", "PATCH"))
    assert store.get(rid).lat == pytest.approx(lat)


def test_lone_surrogate_is_422(app_parts):  # noqa: F811
    client, store, admin = app_parts
    body = detail(post_json(client, admin, b'{"name": "\\ud800x", "category": "salon"}'))
    assert body["field"] == "name" and body["value"] == "\\ud800x"
    body = detail(post_json(client, admin, b'{"name": "x", "category": "salon", '
                                           b'"\\udfffbad": 1}'))
    assert body["value"] == "\\udfffbad"
    assert store.count() == 0


def test_nearby_beyond_the_maximum_is_refused_naming_it(app_parts):  # noqa: F811
    """NEARBY_MAX_MINUTES is 30 by default: 59.9 used to be answered silently for 30."""
    client, _, _ = app_parts
    body = detail(client.get("/nearby", params=q(500, 500, minutes=59.9)))
    assert body["field"] == "minutes" and body["value"] == 59.9 and "30" in body["reason"]
    assert client.get("/nearby", params=q(500, 500, minutes=30)).json()["minutes"] == 30
    minutes = next(p for p in client.get("/openapi.json").json()["paths"]["/nearby"]["get"]
                   ["parameters"] if p["name"] == "minutes")
    assert minutes["schema"]["maximum"] == 30


def test_validation_and_input_errors_share_one_shape(app_parts):  # noqa: F811
    client, _, admin = app_parts
    by_fastapi = detail(client.get("/resources", params={"limit": 0}))
    assert by_fastapi["field"] == "limit" and by_fastapi["value"] == "0"
    by_service = detail(client.get("/resources", params={"category": "カラオケ"}))
    assert by_service["field"] == "category" and by_service["value"] == "カラオケ"
    several = detail(client.post("/resources", headers=admin, json={"name": 5, "lon": "x"}))
    assert {p["field"] for p in several["problems"]} >= {"name", "lon", "category"}
    big = detail(client.post("/resources", headers=admin, json={"name": "x" * 100_000}))
    assert len(big["value"]) <= 201 and len(client.post(
        "/resources", headers=admin, json={"name": "x" * 100_000}).content) < 2_000
    long_category = client.get("/resources", params={"category": "カ" * 5_000})
    assert detail(long_category)["field"] == "category" and len(long_category.text) < 3_000


def test_security_headers_on_every_answer(app_parts):  # noqa: F811
    client, _, _ = app_parts
    for r in (client.get("/health"), client.get("/resources", params={"limit": 0}),
              client.get("/resources/none"), client.get("/openapi.json")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp


def _inline_script_hashes(html: str) -> set[str]:
    scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S)
    return {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
            for s in scripts}


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_docs_pages_load_under_their_policy(app_parts, page):  # noqa: F811
    """The pages load; their scripts are same-origin or inline scripts allowed by hash
    (and nothing else inline); the only other origins are the background maps' tile
    servers, as images."""
    client, _, _ = app_parts
    r = client.get(page)
    assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
    policy = dict(part.strip().split(" ", 1) for part in
                  r.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    script_src = set(policy["script-src"].split())
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert script_src == {"'self'"} | _inline_script_hashes(r.text)
    assert all(s.startswith("/") for s in re.findall(r'<script[^>]*\bsrc="([^"]+)"', r.text))
    tiles = {"https://cyberjapandata.gsi.go.jp", "https://tile.openstreetmap.org"}
    assert set(policy["img-src"].split()) == {"'self'", "data:"} | tiles
    assert not [v for k, v in policy.items() if k != "img-src" and ("http" in v or "*" in v)]


_EXTERNAL_LOAD = re.compile(r"""\bsrc\s*[:=]\s*["']https?://|url\(\s*["']?https?://|"""
                            r"""@import[^;]*https?://""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_nothing_external(app_parts, page):  # noqa: F811
    """Issue 16, item 16: ReDoc's footer loaded its logo from cdn.redoc.ly; Swagger UI
    would load its validator badge from validator.swagger.io. Neither the page nor any
    script or stylesheet it names (all served by the service) loads another origin."""
    client, _, _ = app_parts
    html = client.get(page).text
    assets = re.findall(r'<(?:script|link)[^>]*\b(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/") for a in assets)
    for text in (html, *(client.get(a).text for a in assets)):
        assert not _EXTERNAL_LOAD.search(text), _EXTERNAL_LOAD.search(text)
    if page == "/docs":
        assert '"validatorUrl": null' in html


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_registry_file_and_secret_key_are_owner_only(tmp_path):
    fresh = tmp_path / "new" / "registry.sqlite3"
    store = open_store(f"sqlite:///{fresh}")
    store.add_user("admin", "hash", role="admin")
    assert _mode(fresh) == 0o600
    assert all(_mode(p) == 0o600 for p in fresh.parent.glob("registry.sqlite3-*"))
    old = tmp_path / "old.sqlite3"  # made by an earlier version: readable by all
    open_store(f"sqlite:///{old}")
    os.chmod(old, 0o644)
    open_store(f"sqlite:///{old}")
    assert _mode(old) == 0o600
    key = tmp_path / "secret_key"
    assert load_or_create_secret(key) and _mode(key) == 0o600
    os.chmod(key, 0o644)
    assert load_or_create_secret(key) == key.read_text() and _mode(key) == 0o600


def test_openapi_documents_errors_content_types_and_optional_login(app_parts):  # noqa: F811
    client, _, _ = app_parts
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    public = {("get", "/resources"), ("get", "/resources/{resource_id}"), ("get", "/nearby"),
              ("get", "/reach"), ("get", "/areas/{layer}"), ("get", "/resources/export"),
              ("get", "/resources/{resource_id}/reach"),
              ("get", "/areas/{layer}/{area_id}/coverage"), ("get", "/profiles/{layer}"),
              ("get", "/karte/{layer}/{area_id}"), ("get", "/booklet/{layer}/{area_id}"),
              ("get", "/gaps/{layer}"),
              ("get", "/health")}  # counts what the caller may see
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for code, response in op["responses"].items():
                if code.startswith("4"):
                    assert list(response["content"]) == ["application/json"], (path, code)
            if op.get("parameters") or "requestBody" in op:
                assert op["responses"]["422"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorOut"}, (method, path)
            if "security" in op:  # anyone may call it (no login: {}), or staff only
                assert ({} in op["security"]) == ((method, path) in public), (method, path)
                assert "401" in op["responses"], (method, path)
    geojson = spec["paths"]["/resources/{resource_id}"]["get"]["responses"]["200"]["content"]
    assert list(geojson) == ["application/geo+json"]
    assert list(spec["paths"]["/nearby"]["get"]["responses"]["200"]["content"]) == [
        "application/geo+json"]
    assert "412" in spec["paths"]["/resources/{resource_id}"]["patch"]["responses"]


def test_405_allows_every_method_of_the_path(app_parts):  # noqa: F811
    client, _, admin = app_parts
    r = client.request("OPTIONS", "/users", headers=admin)
    assert r.status_code == 405 and {"GET", "POST"} <= set(r.headers["allow"].split(", "))
    r = client.request("PUT", "/resources/unverified")
    assert r.status_code == 405 and "PATCH" not in r.headers["allow"]


def test_body_that_is_not_utf8_is_422(app_parts):  # noqa: F811
    client, _, admin = app_parts
    body = detail(post_json(client, admin, b'{"username": "\xff\xfe"}', "/users"))
    assert "UTF-8" in body["reason"]


def test_user_flags_are_strict_booleans(app_parts):  # noqa: F811
    client, store, admin = app_parts
    detail(client.patch("/users/admin", headers=admin, json={"active": 0}))
    assert store.get_user("admin").active


def test_timestamps_carry_their_time_zone(app_parts):  # noqa: F811
    client, _, admin = app_parts
    rid = client.post("/resources", headers=admin, json={
        "name": "x", "category": "salon", **q(500, 500)}).json()["id"]
    zone = re.compile(r"(Z|[+-]\d\d:\d\d)$")
    props = client.get(f"/resources/{rid}", headers=admin).json()["properties"]
    assert zone.search(props["created_at"]) and zone.search(props["updated_at"])
    (entry,) = client.get(f"/resources/{rid}/history", headers=admin).json()
    assert zone.search(entry["at"]), entry["at"]


def test_malformed_multipart_upload_is_a_documented_400(app_parts):  # noqa: F811
    client, _, admin = app_parts
    boundary = "d5ac6f2685609bca91c9a39f67de665f"
    r = client.post("/resources/import", headers=admin | {
        "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=f"--{boundary}\r\n-9007199254740992--{boundary}--\r\n".encode())
    assert r.status_code == 400 and isinstance(r.json()["detail"], str)
    responses = client.get("/openapi.json").json()["paths"]["/resources/import"]["post"][
        "responses"]
    assert "400" in responses


def test_nearby_maximum_follows_the_setting(app_parts, tmp_path):  # noqa: F811
    from fastapi.testclient import TestClient

    from geo_service.api import create_app
    from geo_service.config import ServiceSettings

    client, _, _ = app_parts
    geo = client.app.state.geo
    settings = ServiceSettings(database_url="sqlite://", data_dir=tmp_path,
                               secret_key="k" * 40, nearby_max_minutes=45)
    other = TestClient(create_app(settings, store=geo.store, walking=geo.walking))
    assert other.get("/nearby", params=q(500, 500, minutes=40)).status_code == 200
    assert "45" in detail(other.get("/nearby", params=q(500, 500, minutes=46)))["reason"]
    minutes = next(p for p in other.get("/openapi.json").json()["paths"]["/nearby"]["get"]
                   ["parameters"] if p["name"] == "minutes")
    assert minutes["schema"]["maximum"] == 45


# ---------------------------------------------------------------- issue 16, items 14 and 15

ENGLISH = {"Accept-Language": "en"}


@pytest.mark.parametrize("header", ['"' + "1" * 4301 + '"', "1" * 4301, '"1' + "0" * 19 + '"'])
def test_if_match_beyond_any_version_is_412_naming_the_etag(app_parts, header):  # noqa: F811
    """A 4,301-digit entity tag was a 500 (int()'s digit limit): it names no version, so
    the answer is the documented 412 with the current ETag, saying what to send."""
    client, store, admin = app_parts
    rid = client.post("/resources", headers=admin, json={
        "name": "x", "category": "salon", **q(500, 500)}).json()["id"]
    for language, words in (({}, "ETag を送って"), (ENGLISH, "send the ETag")):
        r = client.patch(f"/resources/{rid}", json={"name": "y"},
                         headers=admin | language | {"If-Match": header})
        assert r.status_code == 412 and r.json()["detail"]["etag"] == '"1"', r.text
        assert words in r.json()["detail"]["message"] and '"1"' in r.json()["detail"]["message"]
    assert store.get(rid).name == "x"


def _nested(depth: int) -> bytes:
    return b'{"name": "x", "category": "salon", "notes": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(("text", "ja", "en"), [
    (_nested(100_000), "入れ子が 32 段", "nested more than 32 levels"),
    (_nested(33), "入れ子が 32 段", "nested more than 32 levels"),
    (b'{"name": "x", "category": "salon", "lon": ' + b"1" * 4301 + b"}",
     "4,300 桁", "more than 4,300 digits"),
    (b'{"name": "x", "category": "salon", "lon": 1e999}', "大きすぎます", "too large"),
])
def test_unreadable_json_is_a_documented_422(app_parts, text, ja, en):  # noqa: F811
    """Deep nesting and over-long integers were an undocumented 400 ("There was an error
    parsing the body"): they are the 422 of every unreadable JSON body, saying the limit."""
    client, store, admin = app_parts
    assert ja in detail(post_json(client, admin, text))["reason"]
    assert en in detail(post_json(client, admin | ENGLISH, text))["reason"]
    assert store.count() == 0


def test_json_within_the_limits_is_read(app_parts):  # noqa: F811
    client, _, admin = app_parts
    body = detail(post_json(client, admin, _nested(31)))  # read; refused for its meaning
    assert body["field"] == "notes"


def _polygon_area(ring) -> dict:
    return {"kind": "polygon", "geometry": {"type": "Polygon", "coordinates": [ring]}}


def _square(lon: float, lat: float, size: float = 0.001) -> list[list[float]]:
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size],
            [lon, lat]]


@pytest.mark.parametrize(("geometry", "ja", "en"), [
    ({"type": "Polygon", "coordinates": [[[str(c) for c in p] for p in _square(0, 0)]]},
     "座標は数値", "must be numbers"),
    ({"type": None, "coordinates": [_square(0, 0)]}, "Polygon か MultiPolygon",
     "Polygon or MultiPolygon"),
    ({"coordinates": [_square(0, 0)]}, "Polygon か MultiPolygon", "Polygon or MultiPolygon"),
    ({"type": "Polygon"}, "入れ子", "not nested"),
    ({"type": "MultiPolygon", "coordinates": [_square(0, 0)]}, "点の配列", "positions"),
    ({"type": "Polygon", "coordinates": [_square(0, 0)[:3]]}, "4点以上", "at least 4"),
    ({"type": "Polygon", "coordinates": [[[True, 0], [1, 0], [1, 1], [True, 0]]]},
     "座標は数値", "must be numbers"),
])
def test_service_area_polygon_must_be_geojson_of_numbers(app_parts, geometry,  # noqa: F811
                                                         ja, en):
    """Coordinates written as text were accepted; a missing type answered "'NoneType'
    object has no attribute 'lower'". Each is a 422 naming the rule of RFC 7946 broken."""
    client, store, admin = app_parts
    body = {"name": "x", "category": "salon", **q(500, 500),
            "service_area": {"kind": "polygon", "geometry": geometry}}
    for language, words in (({}, ja), (ENGLISH, en)):
        problem = detail(client.post("/resources", headers=admin | language, json=body))
        assert problem["field"] == "service_area.geometry", problem
        assert words in problem["reason"] and "NoneType" not in problem["message"], problem
    assert store.count() == 0


def test_service_area_wholly_outside_the_region_is_422(app_parts):  # noqa: F811
    """A polygon in Tokyo was accepted for a resource of the region; one reaching into the
    region still is."""
    client, store, admin = app_parts
    lon, lat = q(500, 500)["lon"], q(500, 500)["lat"]
    tokyo = _polygon_area(_square(139.70, 35.60, 0.05))
    body = {"name": "x", "category": "salon", "lon": lon, "lat": lat, "service_area": tokyo}
    problem = detail(client.post("/resources", headers=admin, json=body))
    assert problem["field"] == "service_area.geometry" and "対象地域の外" in problem["reason"]
    english = detail(client.post("/resources", headers=admin | ENGLISH, json=body))
    assert "wholly outside the region" in english["reason"]
    assert store.count() == 0
    inside = _polygon_area(_square(lon - 0.5, lat - 0.5, 1.0))  # reaches beyond it too
    r = client.post("/resources", headers=admin, json=body | {"service_area": inside})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    detail(client.patch(f"/resources/{rid}", headers=admin, json={"service_area": tokyo}))
    assert store.get(rid).service_area.geometry is not None


KEPT = ("name", "category", "service_area", "schedule", "fee", "contact", "payment_methods",
        "visibility", "staff_fields")


def test_patch_documents_which_fields_cannot_be_emptied(app_parts):  # noqa: F811
    """PATCH /resources declared name, category, service_area … nullable but answered 422
    to null: the document says they are not, the 422 says to leave them out; the fields a
    resource may lack (kana, notes, …) still take null."""
    client, store, admin = app_parts
    spec = client.get("/openapi.json").json()
    update = spec["components"]["schemas"]["ResourceUpdate"]["properties"]
    nullable = {name for name, prop in update.items()
                if {"type": "null"} in prop.get("anyOf", []) or prop.get("type") == "null"}
    assert nullable.isdisjoint(KEPT) and {"kana", "notes", "lon", "area"} <= nullable
    rid = client.post("/resources", headers=admin, json={
        "name": "x", "category": "salon", "notes": "n", **q(500, 500)}).json()["id"]
    for name in KEPT:
        problem = detail(client.patch(f"/resources/{rid}", headers=admin, json={name: None}))
        assert problem["field"] == name and "省いて" in problem["reason"], problem
    problem = detail(client.patch(f"/resources/{rid}", headers=admin | ENGLISH,
                                  json={"name": None}))
    assert "leave the field out" in problem["reason"]
    r = client.patch(f"/resources/{rid}", headers=admin, json={"notes": None})
    assert r.status_code == 200 and store.get(rid).notes is None and store.get(rid).name == "x"


def test_last_admin_409_is_documented(app_parts):  # noqa: F811
    client, store, admin = app_parts
    paths = client.get("/openapi.json").json()["paths"]["/users/{username}"]
    for method, call in (("patch", lambda: client.patch("/users/admin", headers=admin,
                                                         json={"role": "coordinator"})),
                         ("delete", lambda: client.delete("/users/admin", headers=admin))):
        assert paths[method]["responses"]["409"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOut"}
        problem = detail(call(), status=409)
        assert problem["field"] == "username" and "管理者" in problem["reason"]
    assert store.get_user("admin").role == "admin"


@pytest.mark.parametrize(("header", "english"), [
    (None, False), ("ja", False), ("en", True), ("en-US,en;q=0.9", True),
    ("ja,en-US;q=0.8", False), ("en;q=0.5, ja", False), ("fr, en;q=0.3", True),
    ("fr", False), ("en;q=0", False), ("en;q=x", False)])
def test_english_when_preferred_to_japanese(header, english):
    from starlette.requests import Request

    from geo_service.api.errors import prefers_english

    headers = [(b"accept-language", header.encode())] if header else []
    assert prefers_english(Request({"type": "http", "headers": headers})) is english
