"""A registry state derived from the last one equals the registry read whole.

After each edit of random sequences (add, move, delete, undo, category, visibility,
rename, service area) on the hand-made grid, :class:`Reader` reads only the rows changed
and derives the state from the last; a fresh reader reads every row. Both must be the same
state, array for array. On SQLite and on PostGIS (``GEO_SERVICE_TEST_PG_URL``).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import shapely
import sqlalchemy

from geo_service.registry.resources import ResourceFields, ServiceArea
from geo_service.registry.store.schema import resources
from geo_service.service import registry_state
from geo_service.service.field_pool import FieldPool
from geo_service.service.registry_state import Reader, RegistryState
from geo_service.service.walking import WalkingService
from tests.utils.grid import grid_region, lonlat
from tests.utils.stores import backend_store

SEEDS = [7, 8, 9]


def same_state(a: RegistryState, b: RegistryState) -> None:
    """``a`` and ``b`` hold the same resources, points, service areas and counts."""
    assert a.token == b.token
    assert a.counts == b.counts
    for staff in (True, False):
        assert [r.model_dump() for r in a.resources[staff]] == [
            r.model_dump() for r in b.resources[staff]]
        la, lb = a.located[staff], b.located[staff]
        assert list(la.resource_ids) == list(lb.resource_ids)
        assert list(la.categories) == list(lb.categories)
        np.testing.assert_array_equal(la.lonlat, lb.lonlat)
        for f in ("edge", "offset", "connector"):
            np.testing.assert_array_equal(getattr(la.attachment, f), getattr(lb.attachment, f))
        assert la.resources.keys() == lb.resources.keys()
        (ia, ca, ta, wa), (ib, cb, tb, wb) = a.services[staff], b.services[staff]
        assert list(ia) == list(ib)
        np.testing.assert_array_equal(ca, cb)
        np.testing.assert_array_equal(wa, wb)
        assert all(shapely.equals_exact(ta.geometries, tb.geometries))


def square(x: float, y: float) -> ServiceArea:
    ring = [lonlat(x + dx, y + dy) for dx, dy in ((0, 0), (200, 0), (200, 200), (0, 200), (0, 0))]
    return ServiceArea(kind="polygon", geometry={"type": "Polygon", "coordinates": [ring]})


def edit(store, rng: random.Random, ids: list[str]) -> None:
    """One random edit of the registry (ids: those added so far)."""
    where = lambda: lonlat(rng.uniform(0, 1000), rng.uniform(0, 1000))  # noqa: E731
    live = [i for i in ids if not store.get(i, include_deleted=True).deleted]
    op = rng.choice(["add", "add", "move", "delete", "undo", "category", "visibility",
                     "rename", "area"] if live else ["add"])
    if op == "add":
        lon, lat = where()
        ids.append(store.add(ResourceFields(
            name=f"資源{len(ids)}", category=rng.choice(["サロン", "認知症カフェ"]), lon=lon,
            lat=lat, visibility=rng.choice(["public", "staff"]))).id)
        return
    rid = rng.choice(ids if op == "undo" else live)
    if op == "undo":
        store.undo(rid)
        return
    if op == "delete":
        store.delete(rid)
        return
    lon, lat = where()
    store.update(rid, {
        "move": {"lon": lon, "lat": lat},
        "category": {"category": rng.choice(["サロン", "認知症カフェ", "食料品店"])},
        "visibility": {"visibility": rng.choice(["public", "staff"])},
        "rename": {"name": rng.choice(["あ", "ん", "か"]) + rid[-4:]},
        "area": {"service_area": rng.choice([square(*rng.choice([(0, 0), (500, 300)])),
                                             ServiceArea(kind="municipality"),
                                             ServiceArea()])},
    }[op])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("backend", ["sqlite", "postgis"])
def test_a_derived_state_equals_the_registry_read_whole(backend, seed, tmp_path):
    store = backend_store(backend, tmp_path)
    walking = WalkingService(grid_region(), store, background=False)
    net, bounds = walking.net, walking.bounds
    reader = Reader(store, net, bounds, FieldPool(net, release_gil=False))
    rng, ids = random.Random(seed), []
    for _ in range(60):
        for _edit in range(rng.choice([1, 1, 1, 2, 3, 12])):  # 12: more than FEW
            edit(store, rng, ids)
        derived = reader.read()
        same_state(derived, Reader(store, net, bounds, FieldPool(net, release_gil=False)).read())
    assert reader.full_reads == 1  # the first; every later state was derived
    assert reader.derived == 59


def test_a_long_change_list_is_read_whole(tmp_path, monkeypatch):
    store = backend_store("sqlite", tmp_path)
    walking = WalkingService(grid_region(), store, background=False)
    reader = Reader(store, walking.net, walking.bounds,
                    FieldPool(walking.net, release_gil=False))
    store.add(ResourceFields(name="一", category="サロン", lon=lonlat(100, 100)[0],
                             lat=lonlat(100, 100)[1]))
    reader.read()
    monkeypatch.setattr(registry_state, "MAX_DERIVED_CHANGES", 2)
    store.add_many([ResourceFields(name=f"資源{k}", category="サロン", lon=lonlat(k * 100, 0)[0],
                                   lat=lonlat(k * 100, 0)[1]) for k in range(3)])
    asked = []
    changes = store.changes
    monkeypatch.setattr(store, "changes", lambda since: asked.append(since) or changes(since))

    def read_alone():  # what the reader asked for, and its state against a whole read
        asked.clear()
        state = reader.read()
        seen = list(asked)
        same_state(state, Reader(store, walking.net, walking.bounds,
                                 FieldPool(walking.net, release_gil=False)).read())
        return seen

    assert read_alone() == [None]  # three rows more than last read: whole, not asked first
    assert (reader.full_reads, reader.derived) == (2, 0)
    for rid in store.ids()[:3]:  # three changed, none added: asked first, then read whole
        store.update(rid, {"name": "改"})
    seen = read_alone()
    assert len(seen) == 2 and seen[0] is not None and seen[1] is None
    assert (reader.full_reads, reader.derived) == (3, 0)


@pytest.mark.parametrize("backend", ["sqlite", "postgis"])
def test_a_change_written_before_the_window_is_seen(backend, tmp_path):
    """A change whose ``updated_at`` is older than the rows last read (a transaction that
    took its time before committing) escapes the query by time, not the versions' sum."""
    store = backend_store(backend, tmp_path)
    walking = WalkingService(grid_region(), store, background=False)
    reader = Reader(store, walking.net, walking.bounds,
                    FieldPool(walking.net, release_gil=False))
    lon, lat = lonlat(100, 100)
    rid = store.add(ResourceFields(name="一", category="サロン", lon=lon, lat=lat)).id
    store.add(ResourceFields(name="二", category="サロン", lon=lon, lat=lat))
    reader.read()
    store.update(rid, {"lon": lonlat(900, 900)[0]})
    with store.engine.begin() as conn:  # as if written an hour ago
        conn.execute(sqlalchemy.update(resources).where(resources.c.id == rid).values(
            updated_at=datetime.now(UTC) - timedelta(hours=1)))
    state = reader.read()
    same_state(state, Reader(store, walking.net, walking.bounds,
                             FieldPool(walking.net, release_gil=False)).read())
    assert state.located[True].lonlat[state.located[True].resource_ids == rid][0, 0] == \
        pytest.approx(lonlat(900, 900)[0])
    assert (reader.full_reads, reader.derived) == (2, 0)


def test_an_empty_kana_reorders_as_the_store_lists(tmp_path):
    """The store lists by coalesce(カナ, 名称): an empty カナ sorts first, where a missing
    one sorts by the name — the derived state must see that as a reorder."""
    store = backend_store("sqlite", tmp_path)
    walking = WalkingService(grid_region(), store, background=False)
    reader = Reader(store, walking.net, walking.bounds,
                    FieldPool(walking.net, release_gil=False))
    lon, lat = lonlat(100, 100)
    store.add(ResourceFields(name="あ", category="サロン", lon=lon, lat=lat))
    rid = store.add(ResourceFields(name="い", category="サロン", lon=lon, lat=lat)).id
    reader.read()
    store.update(rid, {"kana": ""})
    state = reader.read()
    same_state(state, Reader(store, walking.net, walking.bounds,
                             FieldPool(walking.net, release_gil=False)).read())
    assert [r.name for r in state.resources[True]] == ["い", "あ"]
