"""The registry commands: import resources, export resources, users add, serve's set-up."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service.cli.main import app
from geo_service.registry.store import ResourceFilter, open_store
from tests.conftest import TEST_DATA

DATA = TEST_DATA / "registry"
runner = CliRunner()


@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'reg.sqlite3'}"
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", url)
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("geo_service.registry.auth.BCRYPT_ROUNDS", 4)
    return url


def test_import_dry_run_then_partial(db):
    r = runner.invoke(app, ["import", "resources", str(DATA / "bad_rows.csv"), "--dry-run"])
    assert r.exit_code == 2, r.output
    assert "確認のみ：何も書き込んでいません" in r.output and "カラオケ" in r.output
    assert open_store(db).count() == 0
    r = runner.invoke(app, ["import", "resources", str(DATA / "bad_rows.csv")])
    assert r.exit_code == 2 and open_store(db).count() == 0
    r = runner.invoke(app, ["import", "resources", str(DATA / "bad_rows.csv"), "--partial"])
    assert r.exit_code == 0, r.output
    assert open_store(db).count() == 2


@pytest.fixture
def a27_file(tmp_path):
    """A hand-made 国土数値情報 A27 小学校区 file with three square districts."""
    import geopandas as gpd
    import shapely

    areas = gpd.GeoDataFrame(
        {"A27_001": ["40205"] * 3, "A27_002": ["飯塚市立"] * 3,
         "A27_003": ["B1", "B2", "B3"], "A27_004": ["菰田小学校", "立岩小学校", "鯰田小学校"],
         "A27_005": ["", "", ""]},
        geometry=[shapely.box(130.68, 33.62, 130.70, 33.64),
                  shapely.box(130.68, 33.64, 130.70, 33.66),
                  shapely.box(130.70, 33.66, 130.72, 33.68)], crs=6668)
    path = tmp_path / "a27.geojson"
    areas.to_file(path, driver="GeoJSON")
    return path


def test_import_with_boundary_file_resolves_school_districts(db, a27_file):
    r = runner.invoke(app, ["import", "resources", str(DATA / "coordinator_list_cp932.csv"),
                            "--areas", str(a27_file)])
    assert r.exit_code == 0, r.output
    store = open_store(db)
    mobile = store.list(ResourceFilter(keyword="移動スーパー")).items[0]
    assert mobile.service_area.kind == "areas" and mobile.service_area.area_ids == ["B1", "B2"]


def test_export_public_and_staff(db, tmp_path, a27_file):
    r = runner.invoke(app, ["import", "resources", str(DATA / "coordinator_list_utf8bom.csv"),
                            "--areas", str(a27_file)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "public.csv"
    r = runner.invoke(app, ["export", "resources", str(out)])
    assert r.exit_code == 0, r.output
    assert "見守り隊" not in out.read_text(encoding="utf-8-sig")
    staff = tmp_path / "staff.geojson"
    assert runner.invoke(app, ["export", "resources", str(staff), "--staff"]).exit_code == 0
    assert "見守り隊" in staff.read_text(encoding="utf-8")
    r = runner.invoke(app, ["export", "resources", str(tmp_path / "x.pdf")])
    assert r.exit_code == 2 and "書き出せない形式です（.csv、.xlsx、.geojson" in r.output


def test_users_add(db):
    r = runner.invoke(app, ["users", "add", "sato", "--area", "A", "--area", "B",
                            "--password-stdin"], input="sato-pass-12\n")
    assert r.exit_code == 0, r.output
    assert open_store(db).get_user("sato").areas == ("A", "B")
    r = runner.invoke(app, ["users", "add", "sato", "--password-stdin"], input="sato-pass-12\n")
    assert r.exit_code == 2 and "ユーザーはすでにあります" in r.output
    r = runner.invoke(app, ["users", "add", "kato", "--password-stdin"], input="short\n")
    assert r.exit_code == 2 and "パスワードは 10 文字以上にしてください" in r.output
    r = runner.invoke(app, ["users", "add", "kato", "--password-stdin"], input="Password2024!\n")
    assert r.exit_code == 2 and "よく使われるパスワード" in r.output
    r = runner.invoke(app, ["users", "add", "ito", "--role", "root", "--password-stdin"],
                      input="ito-pass-123\n")
    assert r.exit_code == 2 and "役割がわかりません（coordinator か admin）" in r.output


def test_serve_set_up_builds_demo_region_and_registry(db, tmp_path, monkeypatch):
    from geo_service.api.main import app_from_env
    from geo_service.cli.common import demo_region
    from geo_service.config import ServiceSettings

    region, _ = demo_region(ServiceSettings())
    assert (region / "region.json").exists()
    n = open_store(db).count()
    assert n >= 15
    demo_region(ServiceSettings())  # a second start adds nothing
    assert open_store(db).count() == n
    monkeypatch.setenv("GEO_SERVICE_REGION_DIR", str(region))
    client = TestClient(app_from_env())
    health = client.get("/health").json()
    assert health["region"] and health["walk_nodes"] > 100
    truck = client.get("/resources", params={"category": "移動販売"}).json()["features"][0]
    body = client.get(f"/resources/{truck['id']}/reach").json()
    assert body["kind"] == "stops" and body["features"][0]["properties"]["pop_65plus"] > 0


def test_import_keeps_to_the_upload_limits_of_the_settings(db, monkeypatch):
    monkeypatch.setenv("GEO_SERVICE_UPLOAD_MAX_ROWS", "1")
    r = runner.invoke(app, ["import", "resources", str(DATA / "bad_rows.csv"), "--dry-run"])
    assert r.exit_code == 2, r.output
    assert "GEO_SERVICE_UPLOAD_MAX_ROWS" in r.output
