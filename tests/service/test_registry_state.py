"""The walking answers while the registry changes: rebuilt in the background, swapped whole.

On the hand-made grid (``tests/utils/grid.py``: 100 m blocks, 1 m/s, distances known by
hand). A background service answers from the old registry state until the new one is
built; one request (or one :func:`one_state` block) sees one state; an edit shows once the
rebuild is in (waited for on a condition, never a fixed sleep); a newer edit supersedes a
build in progress. On SQLite and on PostGIS (``GEO_SERVICE_TEST_PG_URL``).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from geo_service.api.main import SWITCH_INTERVAL_S
from geo_service.engine.access import DistanceField, attach_points
from geo_service.registry.auth import hash_password
from geo_service.registry.resources import ResourceFields
from geo_service.service.field_pool import FieldPool
from geo_service.service.registry_state import REBUILD_NICE, one_state
from geo_service.service.walking import WalkingService
from tests.utils.fields import same_field
from tests.utils.grid import X0, Y0, grid_region, lonlat
from tests.utils.stores import backend_store

BACKENDS = ["sqlite", "postgis"]


def wait_until(condition, timeout: float = 60.0) -> None:
    """Poll ``condition()`` until it holds (fails after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def salon(x: float, y: float, name: str = "サロン", category: str = "サロン") -> ResourceFields:
    lon, lat = lonlat(x, y)
    return ResourceFields(name=name, category=category, lon=lon, lat=lat)


def nearest_salon(walking: WalkingService) -> tuple[str | None, float | None]:
    """/reach's サロン row from the grid's centre (500, 500): nearest name and metres."""
    _, rows = walking.reach(*lonlat(500, 500), staff=True)
    row = next((r for r in rows if r["category"] == "salon"), None)
    if row is None or row["nearest"] is None:
        return None, None
    return row["nearest"].name, round(row["distance_m"], 6)


@pytest.fixture(params=BACKENDS)
def background(request, tmp_path):
    store = backend_store(request.param, tmp_path)
    walking = WalkingService(grid_region(), store, background=True)
    # far (800 m) salon; a cafe and a shop so that a build has several fields to make
    store.add(salon(900, 900, "遠いサロン"))
    store.add(salon(0, 0, "カフェ", category="認知症カフェ"))
    store.add(salon(1000, 1000, "店", category="食料品店"))
    assert walking.live.settle(60)
    live = walking.live
    # the worker has made the state's fields and waits: the tests below hold its locks
    wait_until(lambda: len(live.current().fields) == 6 and live.idle.is_set()
               and not live._wake.is_set())
    yield walking, store
    walking.live.close()


def test_the_gil_free_field_is_the_scipy_field():
    """The background build's Dijkstra gives the same metres and seconds, node for node."""
    net = grid_region(slope=0.05).net
    xy = np.array([[X0 + 130, Y0 + 420], [X0 + 870, Y0 + 55], [X0 + 500, Y0 + 1000]])
    att = attach_points(net, xy)
    scipy_field = DistanceField(net, att)
    free = DistanceField(net, att, release_gil=True)
    np.testing.assert_allclose(free.node_distance, scipy_field.node_distance, rtol=1e-12)
    np.testing.assert_allclose(free.node_seconds, scipy_field.node_seconds, rtol=1e-12)
    # node (500, 500): 300 + 100 m to (200, 400), then 70 m along the street and the 20 m
    # connector to the first point (the others: 875 m and 500 m)
    assert free.node_distance[5 * 11 + 5] == pytest.approx(490.0)


def test_old_answers_serve_until_the_new_state_is_swapped_in(background):
    walking, store = background
    assert nearest_salon(walking) == ("遠いサロン", 800.0)
    before = walking.registry_token()
    with walking.live._lock:  # the worker may build, but not swap, while this is held
        store.add(salon(600, 500, "近いサロン"))
        # the worker has made the new state's サロン field (its points changed) …
        wait_until(lambda: any(len(f.resources) == 2 for f in walking.live.pool._fields.values()))
        # … and the answers still come from the old state, whole
        assert nearest_salon(walking) == ("遠いサロン", 800.0)
        assert walking.registry_token() == before
        assert walking.resource_count(staff=True) == 3
    assert walking.live.settle(60)
    assert nearest_salon(walking) == ("近いサロン", 100.0)
    assert walking.resource_count(staff=True) == 4
    assert walking.registry_token() == store.state_token() != before


def test_one_request_answers_from_one_state(background):
    walking, store = background
    with one_state():
        old = walking.registry_token()  # this block has taken the current state
        store.add(salon(600, 500, "近いサロン"))
        assert walking.live.settle(60)  # the new state is in for everyone else …
        assert walking.registry_token() == old  # … but not for this block
        assert nearest_salon(walking) == ("遠いサロン", 800.0)
        names = {w.resource.name for w in walking.nearby(*lonlat(500, 500), minutes=20,
                                                         staff=True)}
        assert "近いサロン" not in names and "遠いサロン" in names
    assert nearest_salon(walking) == ("近いサロン", 100.0)


def test_a_newer_edit_supersedes_a_build_in_progress(background):
    walking, store = background
    live = walking.live
    superseded = live.superseded
    with live.pool._lock:  # the worker stops after its first new field, mid-build
        store.add(salon(600, 500, "近いサロン"))
        first = store.state_token()
        wait_until(lambda: live.building == first)  # the worker builds that state …
        store.add(salon(500, 550, "もっと近いサロン"))  # … when a newer one comes
    assert live.settle(60)
    assert live.superseded > superseded
    assert nearest_salon(walking) == ("もっと近いサロン", 50.0)


def test_edits_through_the_api_show_after_the_rebuild(tmp_path):
    """The deployed setup: the API's service rebuilds in the background; a coordinator's
    new salon shows in /reach once it is built (polled, no fixed sleep)."""
    from geo_service.api import create_app
    from geo_service.config import ServiceSettings

    region = grid_region()
    region.save(tmp_path / "region")
    settings = ServiceSettings(database_url=f"sqlite:///{tmp_path / 'r.sqlite3'}",
                               region_dir=tmp_path / "region", data_dir=tmp_path,
                               secret_key="k" * 40)
    app = create_app(settings)
    assert app.state.geo.walking.live.background
    app.state.geo.store.add_user("admin", hash_password("admin-pass-1"), role="admin")
    with TestClient(app) as client:
        token = client.post("/auth/token", data={"username": "admin",
                                                 "password": "admin-pass-1"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        lon, lat = lonlat(500, 500)

        def salon_row() -> dict:
            body = client.get("/reach", params={"lat": lat, "lon": lon}).json()
            return next((r for r in body["walkable"] if r["category"] == "salon"), {})

        assert salon_row() == {}
        lon2, lat2 = lonlat(700, 500)
        r = client.post("/resources", headers=headers, json={
            "name": "新しいサロン", "category": "サロン", "lon": lon2, "lat": lat2})
        assert r.status_code == 201, r.text
        wait_until(lambda: salon_row().get("nearest_name") == "新しいサロン")
        assert salon_row()["distance_m"] == pytest.approx(200.0)
        # an import, written by a process of its own, shows the same way
        lon3, lat3 = lonlat(600, 500)
        table = f"名称,種別,緯度,経度\n近いサロン,サロン,{lat3:.7f},{lon3:.7f}\n".encode()
        r = client.post("/resources/import", headers=headers,
                        files={"file": ("list.csv", table, "text/csv")})
        assert r.status_code == 200 and r.json()["written"] == 1, r.text
        wait_until(lambda: salon_row().get("nearest_name") == "近いサロン")
        assert salon_row()["distance_m"] == pytest.approx(100.0, abs=0.5)
        # the server hands Python's lock between threads every 0.5 ms, and its rebuilds
        # run below the requests' CPU priority (Linux: a thread has a priority of its own)
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
        if sys.platform == "linux":
            rebuilder = app.state.geo.walking.live._thread.native_id
            assert os.getpriority(os.PRIO_PROCESS, rebuilder) == min(
                19, os.getpriority(os.PRIO_PROCESS, 0) + REBUILD_NICE)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_category_read_alone_equals_the_state(backend, tmp_path, monkeypatch):
    """``located_of``, asked before any state is read, reads only the rows of the asked
    categories (parsing no other resource) and gives what the full state's ``located``
    gives for them: staff-only resources for staff only, a staff-only location hidden
    from the public, a route's stops, deleted ones left out, for staff and the public."""
    from geo_service.registry.resources import Schedule, Stop
    from geo_service.registry.store import queries

    store = backend_store(backend, tmp_path)
    region = grid_region()

    def at(x, y):
        lon, lat = lonlat(x, y)
        return {"lon": lon, "lat": lat}

    store.add(ResourceFields(name="店A", category="食料品店", **at(100, 200)))
    store.add(ResourceFields(name="店B", category="食料品店", visibility="staff", **at(300, 400)))
    store.add(ResourceFields(name="店C", category="食料品店", staff_fields=["location"],
                             **at(500, 600)))
    gone = store.add(ResourceFields(name="店D", category="食料品店", **at(700, 800)))
    store.delete(gone.id)
    stop = Stop(name="角", weekday="tue", time="10:00", **at(900, 100))
    store.add(ResourceFields(name="移動スーパー", category="移動販売",
                             schedule=Schedule(stops=[stop])))
    for k in range(5):
        store.add(salon(100 * k, 900, f"サロン{k}"))
    parsed = []
    counted = queries.stored_resources

    def counting(rows):
        parsed.extend(rows)
        return counted(rows)

    cats = ("food_store", "mobile_sales")
    alone = {}
    for staff in (True, False):
        walking = WalkingService(region, store)
        monkeypatch.setattr(queries, "stored_resources", counting)
        alone[staff] = walking.located_of(*cats, staff=staff)
        monkeypatch.undo()
        assert walking.live._current is None  # no full state was read
    assert len(parsed) == 2 * 4  # 店A, 店B, 店C and the route, for each viewer

    walking = WalkingService(region, store)
    for staff in (True, False):
        full = walking.located(staff=staff)
        pick = np.flatnonzero(np.isin(full.categories, cats))
        ours = alone[staff]
        assert list(ours.resource_ids) == list(full.resource_ids[pick])
        assert list(ours.categories) == list(full.categories[pick])
        np.testing.assert_array_equal(ours.lonlat, full.lonlat[pick])
        np.testing.assert_array_equal(ours.attachment.edge, full.attachment.edge[pick])
        np.testing.assert_array_equal(ours.attachment.offset, full.attachment.offset[pick])
        assert set(ours.resources) == {i for i, r in full.resources.items()
                                       if r.category in cats}  # seen, points or not
        # once a state is read, the same answer comes from it
        again = walking.located_of(*cats, staff=staff)
        assert list(again.resource_ids) == list(ours.resource_ids)
        assert set(again.resources) == set(ours.resources)
        np.testing.assert_array_equal(again.lonlat, ours.lonlat)
    names = {s: sorted(alone[s].resources[r].name for r in alone[s].resource_ids)
             for s in (True, False)}
    assert names[True] == ["店A", "店B", "店C", "移動スーパー"]
    assert names[False] == ["店A", "移動スーパー"]  # 店C's location is staff-only


def test_edits_repair_the_fields_to_those_made_anew(background):
    """Random adds, moves, deletions and category changes, each settled: every field of
    the state swapped in was repaired from the last (not searched anew), and equals the
    field made anew from the state's points, bit for bit; /reach answers by hand."""
    walking, store = background
    live, rng = walking.live, np.random.default_rng(5)
    ids = [store.add(salon(*rng.uniform(0, 1000, 2), f"サロン{k}")).id for k in range(6)]
    assert live.settle(60)
    made = live.pool.made
    for step in range(16):
        kind = ("add", "move", "delete", "category")[step % 4]
        if kind == "add":
            ids.append(store.add(salon(*rng.uniform(0, 1000, 2), f"追加{step}")).id)
        elif kind == "delete":
            store.delete(ids.pop(int(rng.integers(len(ids)))))
        else:
            lon, lat = lonlat(*rng.uniform(0, 1000, 2))
            store.update(ids[int(rng.integers(len(ids)))],
                         {"lon": lon, "lat": lat} if kind == "move" else
                         {"category": ("認知症カフェ", "サロン")[step % 8 == 3]})
        assert live.settle(60)
        state = live.current()
        state.make_fields()
        for (_, staff), (field, pick) in state.fields.items():
            same_field(field, walking.net, state.located[staff].attachment.take(pick))
    assert live.pool.made == made and live.pool.repaired >= 16
    # by hand: a salon put 100 m east of the grid's centre is its nearest
    store.add(salon(600, 500, "近いサロン"))
    assert live.settle(60)
    assert nearest_salon(walking) == ("近いサロン", 100.0)


def test_a_field_is_made_anew_when_many_of_its_points_change():
    """The pool repairs a field after a few changed points, and searches anew after many
    (an import): both equal the field made anew."""
    net = grid_region().net
    pool = FieldPool(net, release_gil=True)
    rng = np.random.default_rng(2)
    lonlats = np.array([lonlat(*p) for p in rng.uniform(0, 1000, (40, 2))])

    def field_of(k: int) -> None:
        xy = np.column_stack(net.from_geographic.transform(lonlats[:k, 0], lonlats[:k, 1]))
        att = attach_points(net, xy)
        same_field(pool.get(lonlats[:k], att, ("salon", True)), net, att)

    field_of(20)
    assert (pool.made, pool.repaired) == (1, 0)
    field_of(21)  # one more: repaired
    field_of(19)  # two fewer: repaired
    assert (pool.made, pool.repaired) == (1, 2)
    field_of(40)  # 21 more (an import): made anew
    assert (pool.made, pool.repaired) == (2, 2)
    field_of(40)  # the same points: the same field, kept
    assert (pool.made, pool.repaired) == (2, 2)


def test_a_state_replaced_is_freed_without_the_garbage_collector(background):
    """A background service leaves its states out of the collector's full collections
    (``gc.freeze``): a state replaced by the next must be freed by reference counting
    alone, i.e. hold no reference cycle (else each edit would keep one alive)."""
    import gc
    import weakref

    walking, store = background
    live = walking.live
    old = weakref.ref(live.current())
    gc.disable()  # no collection may free it
    try:
        store.add(salon(600, 500, "近いサロン"))
        assert live.settle(60)
        wait_until(lambda: live.idle.is_set())
        assert nearest_salon(walking) == ("近いサロン", 100.0)
        assert old() is None
    finally:
        gc.enable()
    assert gc.get_freeze_count() > 0  # the heap was frozen after the swap
