"""A registry coordinators can trust: one region per registry, areas from geography,
permissions that undo respects, and always an admin left."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service._errors import ConflictError, InputError
from geo_service.cli.main import app
from geo_service.registry.resources import ResourceFields
from geo_service.registry.store import RegionMismatchError, ResourceFilter, open_store
from geo_service.service.walking import WalkingService, serve_region
from tests.utils.clients import bearer
from tests.utils.grid import grid_region, lonlat
from tests.utils.stores import backend_store

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgis"])
def store(request, tmp_path):
    """A registry serving the grid region (小学校区 W, M, E strips)."""
    s = backend_store(request.param, tmp_path)
    serve_region(s, grid_region())
    return s


def place(name: str, x: float, y: float, **extra) -> ResourceFields:
    lon, lat = lonlat(x, y)
    return ResourceFields(name=name, category="サロン", lon=lon, lat=lat, **extra)


def test_the_area_comes_from_the_location_and_follows_a_move(store):
    r = store.add(place("西のサロン", 100, 500, area="E"))  # a stale hand-written area
    assert r.area == "W"
    moved = store.update(r.id, dict(zip(("lon", "lat"), lonlat(900, 500), strict=True)))
    assert moved.area == "E"
    assert [x.name for x in store.list(ResourceFilter(area="E")).items] == ["西のサロン"]
    assert store.history(r.id)[-1].after["area"] == "E"


def test_a_registry_written_before_areas_came_from_geography_is_brought_in_step(tmp_path):
    old = backend_store("sqlite", tmp_path)  # no region: areas as written by hand
    r = old.add(place("西のサロン", 100, 500, area="川西"))
    kept = old.add(ResourceFields(name="電話相談", category="相談窓口", area="東"))
    assert (r.area, kept.area) == ("川西", "東")
    serve_region(old, grid_region())
    assert old.get(r.id).area == "W" and old.get(kept.id).area == "E"
    assert old.history(r.id)[-1].action == "area"
    assert old.refresh_areas() == 0  # in step now


def test_without_a_location_the_given_area_is_resolved_or_refused(store):
    r = store.add(ResourceFields(name="電話相談", category="相談窓口", area="東小学校区"))
    assert r.area == "E"
    with pytest.raises(InputError, match="no such area") as e:
        store.add(ResourceFields(name="x", category="相談窓口", area="北小学校"))
    assert "西小学校 (W)" in str(e.value)
    route = ResourceFields(name="移動販売", category="移動販売", schedule={"stops": [
        {"lon": lonlat(500, 100)[0], "lat": lonlat(500, 100)[1], "weekday": "mon",
         "time": "10:00"}]})
    assert store.add(route).area == "M"  # a route without a location: its first stop


def test_a_registry_holds_one_region(store):
    key, name = store.region()
    assert name == "grid" and key.startswith("grid-")
    serve_region(store, grid_region(slope=0.05))  # the same network: the same region
    other = grid_region()
    other.name = "門司港"
    other.net = other.net.with_speed(1.0)
    other.net.node_xy[0, 0] += 1.0  # another network
    with pytest.raises(RegionMismatchError, match="holds the resources of region 'grid'"):
        WalkingService(other, store)


def test_each_region_gets_its_own_default_registry(tmp_path, monkeypatch):
    from geo_service.api import create_app
    from geo_service.config import ServiceSettings

    a, b = grid_region(), grid_region()
    b.name = "別の町"
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    monkeypatch.delenv("GEO_SERVICE_DATABASE_URL", raising=False)
    for folder, region in (("a", a), ("b", b)):
        settings = ServiceSettings(region_dir=tmp_path / folder, data_dir=tmp_path,
                                   secret_key="k" * 40)
        url = settings.registry_url(region.key)
        assert url.endswith(f"registries/{region.key}.sqlite3")
        client = TestClient(create_app(settings))
        assert client.get("/health").json()["region"] == region.name
        assert open_store(url).region() == (region.key, region.name)
    assert len(list((tmp_path / "registries").glob("*.sqlite3"))) == 2


def test_undo_may_not_move_a_resource_out_of_the_coordinators_areas(store):
    from fastapi import Response

    from geo_service.api.views import undo_resource
    from geo_service.registry.auth import PermissionDeniedError

    admin = store.add_user("admin", "x", role="admin")
    west = store.add_user("nishi", "x", role="coordinator", areas=["西小学校"])
    assert west.areas == ("W",)
    r = store.add(place("東から西へ", 900, 500), user="admin")
    store.update(r.id, dict(zip(("lon", "lat"), lonlat(100, 500), strict=True)),
                 user="admin")
    assert store.get(r.id).area == "W"  # now the coordinator's …
    with pytest.raises(PermissionDeniedError, match="not of area 'E'"):
        # … but undo would move it back to E
        undo_resource(store, r.id, west, Response(), if_match=None)
    assert store.get(r.id).area == "W"
    assert undo_resource(store, r.id, admin, Response(), if_match=None).properties.area == "E"


def test_the_last_admin_stays(store):
    store.add_user("admin", "x", role="admin")
    store.add_user("sato", "x", role="coordinator", areas=["W"])
    for change in (lambda: store.update_user("admin", role="coordinator"),
                   lambda: store.update_user("admin", active=False),
                   lambda: store.delete_user("admin")):
        with pytest.raises(ConflictError, match="last active admin"):
            change()
    store.update_user("sato", role="admin")
    store.update_user("admin", role="coordinator", areas=["E"])  # another admin remains
    assert store.get_user("admin").role == "coordinator"
    with pytest.raises(InputError, match="no such area"):
        store.update_user("admin", areas=["北"])


def test_the_readmes_coordinator_example_works_on_the_demo(tmp_path, monkeypatch):
    """``geo-service users add sato --area 川西 --role coordinator`` with nothing configured:
    sato may edit the demo's resources in 川西小学校区 and no others."""
    from geo_service.api import create_app
    from geo_service.config import ServiceSettings

    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GEO_SERVICE_DATABASE_URL", raising=False)
    monkeypatch.setattr("geo_service.registry.auth.BCRYPT_ROUNDS", 4)
    r = runner.invoke(app, ["users", "add", "sato", "--area", "川西", "--role", "coordinator",
                            "--password-stdin"], input="sato-password-1\n")
    assert r.exit_code == 0, r.output
    bad = runner.invoke(app, ["users", "add", "kita", "--area", "北山", "--password-stdin"],
                        input="kita-password-1\n")
    assert bad.exit_code == 2 and "にその区域はありません" in bad.output
    assert "川西小学校" in bad.output
    settings = ServiceSettings(region_dir=tmp_path / "demo" / "region", secret_key="k" * 40)
    client = TestClient(create_app(settings))
    auth = bearer(client, "sato", "sato-password-1")
    kawanishi = client.get("/resources", params={"area": "川西小学校", "limit": 100}).json()
    assert kawanishi["total"] == 5
    mine = kawanishi["features"][0]["id"]
    assert client.patch(f"/resources/{mine}", json={"notes": "確認済み"},
                        headers=auth).status_code == 200
    others = client.get("/resources", params={"area": "山手小学校"}).json()["features"]
    assert client.patch(f"/resources/{others[0]['id']}", json={"notes": "x"},
                        headers=auth).status_code == 403


def test_the_area_of_a_hidden_location_stays_hidden(store):
    """The area comes from the location, so for the public a staff-only location hides
    the area too, and ?area= does not find the resource."""
    from geo_service.registry.visibility import public_view

    hidden = store.add(place("非公開の場所", 100, 500, staff_fields=["location"]))
    shown = store.add(place("公開の場所", 150, 500))
    assert hidden.area == "W" and public_view(hidden)["area"] is None
    public = store.list(ResourceFilter(area="W")).items
    assert [r.name for r in public] == [shown.name]
    staff = store.list(ResourceFilter(area="W", include_staff=True)).items
    assert {r.name for r in staff} == {hidden.name, shown.name}


def test_users_add_refuses_areas_it_cannot_check(tmp_path, monkeypatch):
    """Issue 16, item 13: with GEO_SERVICE_DATABASE_URL set and no region, ``users add
    --area 川西`` stored the raw name, and that coordinator could edit nothing."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    registry = open_store(url)
    serve_region(registry, grid_region())  # the registry now holds the grid region
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", url)
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GEO_SERVICE_REGION_DIR", raising=False)
    monkeypatch.setattr("geo_service.registry.auth.BCRYPT_ROUNDS", 4)
    r = runner.invoke(app, ["users", "add", "sato", "--area", "中小学校", "--password-stdin"],
                      input="sato-password-1\n")
    assert r.exit_code == 2, r.output
    assert "--region" in r.output and "grid" in r.output
    assert registry.list_users() == []
    r = runner.invoke(app, ["users", "add", "root", "--role", "admin", "--password-stdin"],
                      input="root-password-1\n")  # no areas to check: fine
    assert r.exit_code == 0, r.output
