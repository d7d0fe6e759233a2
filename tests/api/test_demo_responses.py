"""The API's answers on the demo stay byte for byte what they were (refactoring guard).

A fixed set of public and staff requests is sent to the service on the synthetic demo
region and registry; each body is compared with the file recorded in
``tests/data/api_demo/``. Resource ids are made deterministic while the demo registry is
seeded (they are random otherwise) and staff timestamps are replaced by ``<time>``;
everything else must match exactly. ``GEO_SERVICE_RECORD_RESPONSES=1`` records the files
again (only when an answer is meant to change; review the diff).
"""

from __future__ import annotations

import itertools
import os
import re
import uuid

import pytest
from fastapi.testclient import TestClient

from tests.conftest import TEST_DATA
from tests.utils.clients import ADMIN, SECRET_KEY, add_user, bearer

RECORDED = TEST_DATA / "api_demo"
_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory):
    from geo_service.api import create_app
    from geo_service.engine.region import Region
    from geo_service.jobs.demo import run_demo
    from geo_service.registry.store import open_store

    folder = tmp_path_factory.mktemp("demo")
    run_demo(folder / "out")
    region_dir = folder / "out" / "region"
    url = f"sqlite:///{folder / 'registry.sqlite3'}"
    store = open_store(url)
    from geo_service.jobs.demo_registry import seed_demo_registry

    counter = itertools.count(1)
    with pytest.MonkeyPatch.context() as mp:  # ids r-000000000001, r-000000000002 …
        mp.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter) << 80))
        seed_demo_registry(store, Region.load(region_dir))
    add_user(store, *ADMIN, role="admin")
    settings = _settings(database_url=url, region_dir=region_dir, data_dir=folder,
                         secret_key=SECRET_KEY)
    client = TestClient(create_app(settings))
    staff = bearer(client, *ADMIN)
    from geo_service.registry.store import ResourceFilter

    names = {r.id: r.name for r in store.all(ResourceFilter(include_staff=True))}
    assert sorted(names) == [f"r-{k:012x}" for k in range(1, len(names) + 1)]
    return client, staff, names, Region.load(region_dir)


def _settings(**values):
    from geo_service.config import ServiceSettings

    return ServiceSettings(**values)


def _points(region) -> list[tuple[float, float]]:
    """Three demand points (valley, river, hill) as (lon, lat)."""
    pts = region.demand.to_crs(4326).geometry
    return [(round(pts.iloc[i].x, 6), round(pts.iloc[i].y, 6)) for i in (0, 700, 1400)]


def _requests(region, names: dict[str, str]) -> list[tuple[str, str, bool]]:
    """(file name, path, as staff) of every recorded request."""
    by_name = {v: k for k, v in names.items()}
    out = [("health", "/health", False),
           ("resources", "/resources", False),
           ("resources_staff", "/resources?limit=100", True),
           ("resources_food", "/resources?category=食料品店", False),
           ("resources_keyword", "/resources?q=サロン", False),
           ("export_geojson", "/resources/export?format=geojson", False),
           ("export_csv", "/resources/export?format=csv", False),
           ("areas", "/areas/小学校区", False),
           ("areas_staff", "/areas/小学校区", True),
           ("areas_junior", "/areas/中学校区", False),
           ("difficulty", "/difficulty/小学校区", False),
           ("difficulty_mesh", "/difficulty/250mメッシュ", False)]
    for k, (lon, lat) in enumerate(_points(region)):
        out += [(f"nearby_{k}", f"/nearby?lat={lat}&lon={lon}&minutes=15", False),
                (f"nearby_staff_{k}", f"/nearby?lat={lat}&lon={lon}&minutes=30", True),
                (f"nearby_cat_{k}", f"/nearby?lat={lat}&lon={lon}&category=食料品店,サロン",
                 False),
                (f"reach_{k}", f"/reach?lat={lat}&lon={lon}", False),
                (f"reach_staff_{k}", f"/reach?lat={lat}&lon={lon}", True)]
    for name in ("まごころ配食サービス", "見守り訪問", "移動スーパー さかみち号"):
        out.append((f"resource_reach_{name}", f"/resources/{by_name[name]}/reach", False))
    first_place = sorted(n for n in by_name if "サロン" in n or "スーパー" in n)[0]
    out.append(("resource_reach_place", f"/resources/{by_name[first_place]}/reach", False))
    out += [("gaps", "/gaps/小学校区", False),
            ("gaps_staff_salon", "/gaps/中学校区?need=salon&threshold=400", True),
            ("siting", "/siting?need=food_store&k=3&candidates=grid:300", True),
            ("siting_target", "/siting?need=salon&target_share=0.9&candidates=grid:300", True),
            ("scenarios", "/scenarios", False)]
    return out


def _normalised(body: bytes) -> bytes:
    return _TIME.sub(b"<time>", body)


def test_demo_answers_are_unchanged(demo_client):
    client, staff, names, region = demo_client
    record = os.environ.get("GEO_SERVICE_RECORD_RESPONSES") == "1"
    RECORDED.mkdir(parents=True, exist_ok=True)
    checked = []
    for file, path, as_staff in _requests(region, names):
        response = client.get(path, headers=staff if as_staff else {})
        assert response.status_code == 200, (path, response.text[:300])
        body = _normalised(response.content)
        target = RECORDED / f"{file}.txt"
        if record:
            target.write_bytes(body)
        assert target.read_bytes() == body, f"{path} answers differently than recorded"
        checked.append(file)
    assert len(checked) == 12 + 3 * 5 + 4 + 5


def test_demo_scenario_answers_are_unchanged(demo_client):
    """A scenario created, shown and listed answers as recorded (the planner's shapes)."""
    client, staff, names, region = demo_client
    record = os.environ.get("GEO_SERVICE_RECORD_RESPONSES") == "1"
    stores = client.get("/scenarios").json()["stores"]
    change = {"kind": "close_store", "store": stores[0]["id"]}
    created = client.post("/scenarios?layer=小学校区", headers=staff,
                          json={"name": "記録", "changes": [change]})
    assert created.status_code == 201, created.text[:300]
    for file, response in (("scenario_created", created),
                           ("scenario_shown", client.get("/scenarios/記録?layer=中学校区")),
                           ("scenarios_saved", client.get("/scenarios"))):
        assert response.status_code == 200 or response is created
        body = _normalised(response.content)
        target = RECORDED / f"{file}.txt"
        if record:
            target.write_bytes(body)
        assert target.read_bytes() == body, f"{file} answers differently than recorded"
    assert client.delete("/scenarios/記録", headers=staff).status_code == 204
