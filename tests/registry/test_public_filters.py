"""The public's filters match what the public view shows, on SQLite and PostGIS; the
columns they read are filled in for registries made before them (migration 0006)."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select

from geo_service.registry.resources import ResourceFields
from geo_service.registry.store import MIGRATIONS_DIR, ResourceFilter, migrate
from geo_service.registry.store.schema import resources
from geo_service.registry.store.testing import BACKENDS
from tests.utils.stores import backend_store

LON, LAT = 130.705, 33.605
STOP = {"lon": 130.706, "lat": 33.606, "weekday": "sat", "time": "10:00"}


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    return backend_store(request.param, tmp_path)


def add(store, name, **kw):
    return store.add(ResourceFields(name=name, category="サロン", **kw))


def test_a_circle_around_a_hidden_location_does_not_serve_for_the_public(store):
    around = {"kind": "radius", "radius_m": 500}
    add(store, "shown", lon=LON, lat=LAT, service_area=around)
    add(store, "hidden", lon=LON, lat=LAT, service_area=around, staff_fields=["location"])

    def serving(include_staff):
        f = ResourceFilter(serves=(LON + 0.001, LAT), include_staff=include_staff)
        return sorted(r.name for r in store.all(f))

    assert serving(False) == ["shown"] and serving(True) == ["hidden", "shown"]


def test_store_filters_public_and_staff(store):
    add(store, "route", lon=LON, lat=LAT, schedule={"weekdays": ["mon"], "stops": [STOP]},
        fee={"kind": "free"}, staff_fields=["location"])
    add(store, "secret", schedule={"weekdays": ["sat"]}, fee={"kind": "free"},
        staff_fields=["schedule", "fee"])

    def names(**kw):
        return sorted(r.name for r in store.all(ResourceFilter(**kw)))

    assert names(weekday="sat") == [] and names(weekday="mon") == ["route"]
    assert names(weekday="sat", include_staff=True) == ["route", "secret"]
    assert names(fee="free") == ["route"] and names(fee="unknown") == ["secret"]
    assert names(fee="free", include_staff=True) == ["route", "secret"]
    assert store.count(include_staff=False) == 2  # staff-only fields, public resources


def test_migration_fills_in_the_public_filter_columns(store):
    add(store, "route", lon=LON, lat=LAT, schedule={"weekdays": ["mon"], "stops": [STOP]},
        fee={"kind": "paid"}, staff_fields=["location", "fee"])
    add(store, "staff", visibility="staff", schedule={"weekdays": ["tue"]},
        fee={"kind": "free"})
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:  # a registry made before the columns existed
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    migrate(store.engine)
    with store.engine.connect() as conn:
        got = {r.name: (r.public_weekday_mask, r.public_fee_kind) for r in conn.execute(
            select(resources.c.name, resources.c.public_weekday_mask,
                   resources.c.public_fee_kind))}
    assert got == {"route": (0b1, "unknown"), "staff": (0, "unknown")}  # 0b1: Monday
    assert [r.name for r in store.all(ResourceFilter(weekday="mon"))] == ["route"]
    assert store.all(ResourceFilter(weekday="sat")) == []


def test_migration_fills_in_the_public_area(store):
    """Registries made before ``public_area`` (0007_access) get it from their data: a
    route whose stops are staff-only is not found by its first stop's area."""
    store.add(ResourceFields(name="route", category="移動販売", area="A",
                             schedule={"stops": [STOP]}, staff_fields=["schedule"]))
    add(store, "salon", area="A")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    migrate(store.engine)
    with store.engine.connect() as conn:
        got = dict(conn.execute(select(resources.c.name, resources.c.public_area)).all())
    assert got == {"route": None, "salon": "A"}
    assert [r.name for r in store.all(ResourceFilter(area="A"))] == ["salon"]
    assert len(store.all(ResourceFilter(area="A", include_staff=True))) == 2
