"""Size limits: request bodies (413 before they are read whole), service-area polygons
(422 naming the field) and no large input echoed back in an error (issue 8, item 10)."""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import update

from geo_service.registry.polygons import MAX_POLYGON_VERTICES
from geo_service.registry.resources import Resource, ResourceFields
from geo_service.registry.store import open_store
from geo_service.registry.store.schema import resources
from geo_service.registry.store.testing import fresh_store
from tests.utils.clients import client_with_admin


@pytest.fixture
def client(tmp_path, fast_hashes):
    c, admin = client_with_admin(fresh_store("sqlite", tmp_path), tmp_path,
                                 max_body_bytes=600_000, max_upload_bytes=800_000)
    c.headers.update(admin)
    return c


def resource(**kw):
    return {"name": "配食サービス", "category": "配食", "lon": 130.69, "lat": 33.65,
            "area": "A"} | kw


def ring(n, *, bowtie=False):
    """A closed ring of ``n`` coordinates (the last repeats the first) around the
    resource, crossing itself if ``bowtie``."""
    points = [[130.69 + 0.01 * math.cos(2 * math.pi * i / (n - 1)),
               33.65 + 0.01 * math.sin(2 * math.pi * i / (n - 1))] for i in range(n - 1)]
    if bowtie:
        points[0], points[n // 2] = points[n // 2], points[0]
    return [[*points, points[0]]]


def polygon_area(n, **kw):
    return {"kind": "polygon", "geometry": {"type": "Polygon", "coordinates": ring(n, **kw)}}


def test_a_declared_large_body_is_refused_before_it_is_read(client):
    body = json.dumps(resource(description="x" * 700_000))
    r = client.post("/resources", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["detail"]["message"] == "リクエストの本文が上限の 600,000 バイトを超えています"
    r = client.post("/resources", content=body, headers={"Content-Type": "application/json",
                                                        "Accept-Language": "en"})
    assert r.json()["detail"]["message"] == "request body larger than the limit of 600,000 bytes"
    assert len(r.content) < 400
    assert client.get("/resources").json()["total"] == 0


def test_a_streamed_large_body_is_refused_as_it_arrives(client):
    sent = []

    def chunks():  # no Content-Length: the body is counted as it comes
        for _ in range(100):
            sent.append(1)
            yield b" " * 100_000

    r = client.post("/resources", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert "600,000 バイト" in r.json()["detail"]["message"]


def test_uploads_keep_their_own_larger_limit(client):
    csv = "名称,種別,備考\n" + "".join(f"サロン{i},サロン,{'x' * 100_000}\n" for i in range(7))
    assert 600_000 < len(csv.encode()) < 800_000
    r = client.post("/resources/import", params={"dry_run": True},
                    files={"file": ("big.csv", csv.encode(), "text/csv")})
    assert r.status_code == 200, r.text[:300]
    r = client.post("/resources/import", files={"file": ("big.csv", b"x" * 900_000,
                                                         "text/csv")})
    assert r.status_code == 413


def test_polygons_with_too_many_vertices_are_refused_naming_the_field(client):
    r = client.post("/resources", json=resource(
        service_area=polygon_area(MAX_POLYGON_VERTICES + 1)))
    assert r.status_code == 422, r.text[:300]
    assert "service_area.geometry" in r.text and "10,000" in r.text
    assert len(r.content) < 2_000  # and the polygon is not echoed back
    r = client.post("/resources", json=resource(service_area=polygon_area(MAX_POLYGON_VERTICES)))
    assert r.status_code == 201, r.text[:300]


@pytest.mark.parametrize("body", [
    resource(name="長" * 100_000),  # too long: FastAPI's 422 echoed the whole input
    resource(service_area=polygon_area(5_000, bowtie=True)),  # a model-level error
    resource(schedule={"weekdays": ["x" * 100_000]}),
])
def test_errors_do_not_echo_large_input(client, body):
    r = client.post("/resources", json=body)
    assert r.status_code == 422, r.text[:300]
    assert len(r.content) < 3_000, len(r.content)


def test_a_large_polygon_already_in_the_registry_is_still_read(tmp_path):
    """The cap is for new input: a registry filled before it keeps working."""
    store = fresh_store("sqlite", tmp_path)
    rid = store.add(ResourceFields.model_validate(resource(service_area=polygon_area(5)))).id
    data = store.get(rid).model_dump(mode="json")
    data["service_area"] = polygon_area(MAX_POLYGON_VERTICES + 1)
    with store.engine.begin() as conn:
        conn.execute(update(resources).where(resources.c.id == rid).values(data=data))
    reopened = open_store(f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    assert len(reopened.get(rid).service_area.geometry["coordinates"][0]) == 10_001
    assert reopened.list().total == 1
    with pytest.raises(ValueError, match="10,001 vertices"):  # but not as new input
        Resource.model_validate(data)
