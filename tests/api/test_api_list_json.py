"""``GET /resources`` answers from cached feature JSON: the bytes equal the models' JSON.

The reference is the model path the route used before: ``store.list`` →
``views.to_collection`` → ``model_dump_json``. Runs on SQLite and, with
``GEO_SERVICE_TEST_PG_URL``, on PostGIS (whose spatial queries differ).
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import event

from geo_service.api import create_app, features, views
from geo_service.config import ServiceSettings
from geo_service.registry.resources import ResourceFields
from geo_service.registry.store import ResourceFilter, ResourceStore, create_store_engine
from geo_service.registry.store.testing import BACKENDS
from geo_service.service.walking import WalkingService
from tests.utils.grid import grid_region, lonlat
from tests.utils.stores import backend_store

CATEGORIES = ["サロン", "配食", "見守り", "認知症カフェ", "食料品店"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path) -> ResourceStore:
    """A registry of 80 varied resources (some staff-only, hidden fields, deleted)."""
    s = backend_store(request.param, tmp_path)
    WalkingService(grid_region(), s)  # sets the store's boundary layers (小学校区)
    rng = np.random.default_rng(5)
    for k in range(80):
        lon, lat = lonlat(*rng.uniform(0, 1000, 2))
        area = ["W", "M", "E"][k % 3]
        sa = ({"kind": "areas", "layer": "小学校区", "area_ids": [area, "M"]} if k % 5 == 2
              else {"kind": "radius", "radius_m": 250.0} if k % 5 == 3
              else {"kind": "municipality"} if k % 9 == 4 else {"kind": "none"})
        located = k % 10 != 7 or sa["kind"] == "radius"
        r = s.add(ResourceFields(
            name=f"資源 {k} \"引用\" \\ {'食堂' if k % 4 == 0 else 'サロン'}",
            kana=f"シゲン{k % 13:02d}" if k % 6 else None, category=CATEGORIES[k % 5],
            lon=lon if located else None, lat=lat if located else None, area=area,
            description=f"説明 {k}\n" * (k % 3), service_area=sa,
            schedule={"weekdays": [DAYS[k % 7], DAYS[(k * 3) % 7]]},
            fee={"kind": ["free", "paid", "unknown"][k % 3]},
            contact={"tel": f"0948-00-{k:04d}"}, staff_notes=f"note {k}",
            visibility="staff" if k % 7 == 0 else "public",
            staff_fields=(["location", "contact.tel"] if k % 11 == 3 else
                          ["address"] if k % 8 == 1 else [])))
        if k % 17 == 5:
            s.delete(r.id)
    return s


def reference(store: ResourceStore, f: ResourceFilter, limit: int, offset: int,
              staff: bool) -> bytes:
    """The answer as the route gave it before the feature cache (the models' JSON)."""
    page = views.to_collection(store.list(f, limit=limit, offset=offset), staff=staff)
    return page.model_dump_json().encode()


def filters(staff: bool) -> list[ResourceFilter]:
    """Filters as the route builds them, plus the spatial ones only other callers use."""
    w, s = lonlat(200, 200)
    e, n = lonlat(700, 800)
    kw = dict(staff=staff)
    built = [views.build_filter(**kw), views.build_filter(**kw, category="サロン"),
             views.build_filter(**kw, category="見守り", weekday="mon"),
             views.build_filter(**kw, weekday="水", fee="paid"),
             views.build_filter(**kw, q="食堂"), views.build_filter(**kw, q='"引用" \\'),
             views.build_filter(**kw, area="M"), views.build_filter(**kw, area="W", fee="free"),
             views.build_filter(**kw, bbox=f"{w},{s},{e},{n}"),
             views.build_filter(**kw, category="配食", bbox=f"{w},{s},{e},{n}", weekday="tue"),
             views.build_filter(**kw, needs_location=True),
             views.build_filter(**kw, needs_location=False, deleted=True),
             views.build_filter(**kw, category="食料品店", q="nothing")]
    return built + [
        ResourceFilter(include_staff=staff, within=shapely.box(w, s, e, n).buffer(0.001)),
        ResourceFilter(include_staff=staff, serves=lonlat(500, 500)),
        ResourceFilter(include_staff=staff, categories=("salon", "watching")),
    ] + ([ResourceFilter(include_staff=True, include_deleted=True)] if staff else [])


PAGES = [(50, 0), (5, 0), (5, 5), (5, 10), (7, 3), (3, 200), (500, 0), (1, 0), (4, 1000)]


@pytest.mark.parametrize("staff", [False, True])
def test_list_json_equals_model_json(store, staff):
    seen = 0
    for f in filters(staff):
        for limit, offset in PAGES:
            want = reference(store, f, limit, offset, staff)
            got = features.collection_json(store, f, limit=limit, offset=offset, staff=staff)
            assert got == want, (f, limit, offset)
            again = features.collection_json(store, f, limit=limit, offset=offset, staff=staff)
            assert again == want  # from the cache
            seen += got.count(b'"type":"Feature"')
    assert seen > 500


def test_route_answers_the_cached_bytes(store, tmp_path):
    client = TestClient(create_app(ServiceSettings(database_url="sqlite://", data_dir=tmp_path,
                                                   secret_key="k" * 40), store=store))
    w, s = lonlat(100, 100)
    for params in ({}, {"category": "サロン", "weekday": "mon", "limit": 3},
                   {"bbox": f"{w},{s},{w + 0.01},{s + 0.01}", "offset": 2}, {"q": "食堂"},
                   {"limit": 4, "offset": 999}):
        r = client.get("/resources", params=params)
        assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
        f = views.build_filter(staff=False, **{k: v for k, v in params.items()
                                               if k not in ("limit", "offset")})
        assert r.content == reference(store, f, params.get("limit", 50),
                                      params.get("offset", 0), False)


def test_edits_show_at_once_even_from_another_process(store):
    """An edit bumps ``updated_at``: a cached feature is never served stale, also when the
    edit is made through another engine (another worker process)."""
    url = store.engine.url.render_as_string(hide_password=False)
    other = ResourceStore(create_store_engine(url), layers=store.layers)
    f = views.build_filter(staff=False, category="サロン")
    before = features.collection_json(store, f, limit=50, offset=0, staff=False)
    victim = store.list(f).items[1]
    other.update(victim.id, {"name": "改名したサロン", "contact": {"tel": "0948-99-9999"}})
    after = features.collection_json(store, f, limit=50, offset=0, staff=False)
    assert after != before and "改名したサロン".encode() in after
    assert after == reference(store, f, 50, 0, False)
    other.update(victim.id, {"visibility": "staff"})
    hidden = features.collection_json(store, f, limit=50, offset=0, staff=False)
    assert "改名したサロン".encode() not in hidden
    assert hidden == reference(store, f, 50, 0, False)
    other.undo(victim.id)
    other.delete(store.list(f).items[0].id)
    assert features.collection_json(store, f, limit=50, offset=0, staff=False) == reference(
        store, f, 50, 0, False)
    staff_f = views.build_filter(staff=True, deleted=True)
    assert features.collection_json(store, staff_f, limit=50, offset=0, staff=True) == (
        reference(store, staff_f, 50, 0, True))


def test_a_change_while_the_page_is_read_is_not_mixed_in(store, monkeypatch):
    """A resource edited between reading the page's ids and loading its (uncached) data:
    the answer is the uncached one, as read after the edit."""
    f = views.build_filter(staff=False, category="見守り")
    victim = store.list(f).items[0]
    page_refs = store.page_refs

    def refs_then_edit(*args, **kwargs):
        out = page_refs(*args, **kwargs)
        store.update(victim.id, {"visibility": "staff"})
        return out

    monkeypatch.setattr(store, "page_refs", refs_then_edit)
    got = features.collection_json(store, f, limit=50, offset=0, staff=False)
    assert victim.name.encode() not in got
    assert got == reference(store, f, 50, 0, False)


def test_one_query_unless_the_page_cannot_give_the_total(store):
    f = views.build_filter(staff=False)
    total = store.list(f, limit=1000).total
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    features.collection_json(store, f, limit=1000, offset=0, staff=False)  # warm the cache
    event.listen(store.engine, "before_cursor_execute", count)
    try:
        for limit, offset, queries in [(1000, 0, 1), (total, 0, 2), (10, total - 3, 1),
                                       (10, 0, 2), (10, total, 2), (10, total + 5, 2)]:
            statements.clear()
            got = features.collection_json(store, f, limit=limit, offset=offset, staff=False)
            assert len(statements) == queries, (limit, offset, statements)
            assert got == reference(store, f, limit, offset, False)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)


def test_page_refs_are_the_pages_of_list(store):
    for f in filters(True) + filters(False):
        ids = store.ids(f)  # read without paging
        for limit, offset in PAGES:
            page = store.list(f, limit=limit, offset=offset)
            refs, total = store.page_refs(f, limit=limit, offset=offset)
            assert total == page.total == len(ids)
            assert refs == [(r.id, r.updated_at) for r in page.items]
            assert [i for i, _ in refs] == ids[offset: offset + limit]


@pytest.mark.parametrize("staff", [False, True])
def test_nearby_and_reach_bytes_are_the_models_json(store, staff):
    """``/nearby`` and ``/reach`` are spliced from cached feature JSON: read back into their
    response models, they write the very same bytes (same fields, order and numbers)."""
    from geo_service.api import coverage_views
    from geo_service.api.schemas.resources import (
        NearbyCollection,
        NearbyPublic,
        NearbyStaff,
        ReachCollection,
        ResourcePublic,
        ResourceStaff,
    )

    walking = WalkingService(grid_region(), store)
    nearby_model = NearbyCollection[NearbyStaff] if staff else NearbyCollection[NearbyPublic]
    reach_model = ReachCollection[ResourceStaff] if staff else ReachCollection[ResourcePublic]
    checked = 0
    for x, y in [(500, 500), (120, 880), (900, 100)]:
        lon, lat = lonlat(x, y)
        body = coverage_views.nearby(walking, lat, lon, category=None, minutes=30, staff=staff)
        model = nearby_model.model_validate_json(body)
        assert model.model_dump_json().encode() == body
        checked += len(model.features)
        body = coverage_views.reach(walking, lat, lon, staff=staff)
        assert reach_model.model_validate_json(body).model_dump_json().encode() == body
    assert checked > 20  # the walks found resources to splice
