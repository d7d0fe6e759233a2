"""Storage tests, each run on SQLite and on PostGIS (skipped only without a test database)."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import pytest
import shapely

from geo_service._errors import DuplicateIdError, InputError
from geo_service.inputs.boundaries import AreaLayer
from geo_service.registry.resources import Resource, ResourceFields
from geo_service.registry.store import NotFoundError, ResourceFilter
from geo_service.registry.store.testing import BACKENDS
from tests.utils.stores import backend_store

# Three 1 km-ish squares side by side: districts A, B, C (小学校区) around 130.70 E, 33.60 N.
SQUARES = {"A": shapely.box(130.70, 33.60, 130.71, 33.61),
           "B": shapely.box(130.71, 33.60, 130.72, 33.61),
           "C": shapely.box(130.72, 33.60, 130.73, 33.61)}


def district_layer() -> AreaLayer:
    gdf = gpd.GeoDataFrame({"code": list(SQUARES), "name": [f"{k}小学校区" for k in SQUARES]},
                           geometry=list(SQUARES.values()), crs=4326)
    return AreaLayer.from_geodataframe(gdf, "小学校区", id_column="code", name_column="name")


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    return backend_store(request.param, tmp_path, layers={"小学校区": district_layer()})


def salon(name: str = "立岩サロン", **kw) -> ResourceFields:
    base = dict(name=name, category="通いの場・サロン", lon=130.705, lat=33.605)
    base.update(kw)
    return ResourceFields(**base)


def test_create_get_and_history(store):
    r = store.add(salon(kana="タテイワサロン"), user="sato")
    assert r.id.startswith("r-") and r.category == "salon"
    got = store.get(r.id)
    assert got.name == "立岩サロン" and got.kana == "タテイワサロン"
    assert got.lon == pytest.approx(130.705) and got.lat == pytest.approx(33.605)
    (entry,) = store.history(r.id)
    assert (entry.action, entry.username, entry.before) == ("create", "sato", None)
    assert entry.after["name"] == "立岩サロン"


def test_given_id_kept_and_duplicate_rejected(store):
    store.add(Resource(id="S-1", **salon().model_dump()))
    with pytest.raises(DuplicateIdError, match="S-1"):
        store.add(Resource(id="S-1", **salon("other").model_dump()))
    assert store.count() == 1


def test_update_records_before_and_after_and_invalid_update_changes_nothing(store):
    r = store.add(salon())
    store.update(r.id, {"name": "立岩いきいきサロン"}, user="sato")
    with pytest.raises(InputError, match="25:00"):
        store.update(r.id, {"schedule": {"start": "25:00"}}, user="sato")
    assert store.get(r.id).name == "立岩いきいきサロン"
    actions = [(h.action, h.before and h.before["name"], h.after["name"])
               for h in store.history(r.id)]
    assert actions == [("create", None, "立岩サロン"),
                       ("update", "立岩サロン", "立岩いきいきサロン")]


def test_soft_delete_and_undo(store):
    r = store.add(salon())
    store.delete(r.id, user="sato")
    with pytest.raises(NotFoundError):
        store.get(r.id)
    assert store.list().total == 0
    assert store.get(r.id, include_deleted=True).deleted
    store.undo(r.id, user="sato")
    assert store.get(r.id).name == "立岩サロン"
    assert [h.action for h in store.history(r.id)] == ["create", "delete", "undo"]


def test_undo_update_restores_previous_values(store):
    r = store.add(salon())
    store.update(r.id, {"name": "改名", "fee": {"kind": "paid", "amount_yen": 300}})
    restored = store.undo(r.id)
    assert restored.name == "立岩サロン" and restored.fee.kind == "unknown"
    assert store.list(ResourceFilter(fee="paid")).total == 0


def test_add_many_is_all_or_nothing(store):
    items = [Resource(id="X1", **salon("a").model_dump()),
             Resource(id="X2", **salon("b").model_dump()),
             Resource(id="X1", **salon("c").model_dump())]
    with pytest.raises(DuplicateIdError):
        store.add_many(items, user="import")
    assert store.count() == 0
    assert store.history("X1") == []


def test_filters(store):
    store.add(salon("月曜サロン", schedule={"weekdays": ["mon"]}, fee={"kind": "free"}))
    store.add(salon("水曜カフェ", category="認知症カフェ", schedule={"weekdays": ["wed"]},
                    fee={"kind": "paid", "amount_yen": 100}, description="オレンジカフェです"))
    store.add(ResourceFields(
        name="移動スーパーとくし丸", category="移動販売",
        schedule={"stops": [{"lon": 130.715, "lat": 33.605, "weekday": "fri", "time": "10:00"}]}))
    names = lambda f: sorted(r.name for r in store.list(f).items)  # noqa: E731
    assert names(ResourceFilter(category="salon")) == ["月曜サロン"]
    assert names(ResourceFilter(weekday="wed")) == ["水曜カフェ"]
    assert names(ResourceFilter(weekday="fri")) == ["移動スーパーとくし丸"]
    assert names(ResourceFilter(weekday="sun")) == []
    assert names(ResourceFilter(fee="free")) == ["月曜サロン"]
    assert names(ResourceFilter(keyword="ｵﾚﾝｼﾞ".replace("ｵﾚﾝｼﾞ", "オレンジ"))) == ["水曜カフェ"]
    assert names(ResourceFilter(keyword="ＳＡＬ")) == []
    assert names(ResourceFilter(keyword="100%")) == []  # LIKE wildcards are literal
    assert names(ResourceFilter(needs_location=True)) == ["移動スーパーとくし丸"]


def test_keyword_is_width_and_case_insensitive(store):
    store.add(salon("ＡＢＣ食堂", category="サロン"))
    assert store.list(ResourceFilter(keyword="abc")).total == 1


def test_spatial_bbox_and_within(store):
    store.add(salon("in A", lon=130.705, lat=33.605))
    store.add(salon("in B", lon=130.715, lat=33.605))
    store.add(salon("in C", lon=130.725, lat=33.605))
    store.add(salon("no location", lon=None, lat=None))
    names = lambda f: sorted(r.name for r in store.list(f).items)  # noqa: E731
    assert names(ResourceFilter(bbox=(130.70, 33.60, 130.72, 33.61))) == ["in A", "in B"]
    # a triangle over A whose bounding box also holds B's point, but not the polygon
    tri = shapely.Polygon([(130.70, 33.60), (130.72, 33.60), (130.70, 33.62)])
    assert names(ResourceFilter(within=tri)) == ["in A"]


def test_service_area_contains_point_for_every_kind(store):
    store.add(salon("polygon B", category="配食", service_area={
        "kind": "polygon", "geometry": shapely.geometry.mapping(SQUARES["B"])}))
    store.add(salon("districts A+C", category="配食", service_area={
        "kind": "areas", "layer": "小学校区", "area_ids": ["A", "C"]}))
    store.add(salon("radius 300 m", category="家事支援", lon=130.705, lat=33.605,
                    service_area={"kind": "radius", "radius_m": 300}))
    store.add(salon("whole city", category="見守り", lon=None, lat=None,
                    service_area={"kind": "municipality"}))
    store.add(salon("a place", category="サロン"))

    def serving(lon, lat):
        return sorted(r.name for r in store.list(ResourceFilter(serves=(lon, lat))).items)

    assert serving(130.705, 33.605) == ["districts A+C", "radius 300 m", "whole city"]
    assert serving(130.715, 33.605) == ["polygon B", "whole city"]
    assert serving(130.725, 33.605) == ["districts A+C", "whole city"]
    # 0.004° of latitude ≈ 444 m north of the centre: outside the 300 m circle, still in A
    assert serving(130.705, 33.609) == ["districts A+C", "whole city"]
    assert serving(130.705, 33.6075) == ["districts A+C", "radius 300 m", "whole city"]


def test_school_district_service_area_covers_exactly_those_districts(store):
    r = store.add(salon("配食A+B", category="配食", service_area={
        "kind": "areas", "layer": "小学校区", "area_ids": ["A", "B"]}))
    for key, square in SQUARES.items():
        p = square.centroid
        got = [x.id for x in store.list(ResourceFilter(serves=(p.x, p.y))).items]
        assert (r.id in got) == (key in ("A", "B")), key
    assert store.list(ResourceFilter(area="B")).total == 1
    assert store.list(ResourceFilter(area="C")).total == 0


def test_staff_only_resources_hidden_unless_asked(store):
    store.add(salon("public one"))
    store.add(salon("staff one", visibility="staff"))
    assert [r.name for r in store.list().items] == ["public one"]
    assert store.list(ResourceFilter(include_staff=True)).total == 2
    assert [r.name for r in store.all() if r.lon is not None] == ["public one"]


def test_pagination_is_stable_and_counts_all(store):
    for i in range(7):
        store.add(salon(f"サロン{i}", kana=f"サロン{i}"))
    pages = [store.list(limit=3, offset=o) for o in (0, 3, 6)]
    assert [p.total for p in pages] == [7, 7, 7]
    assert [r.name for p in pages for r in p.items] == [f"サロン{i}" for i in range(7)]


def test_pagination_with_exact_spatial_filter(store):
    for i in range(5):
        store.add(salon(f"s{i}", kana=f"s{i}", lon=130.701 + 0.001 * i, lat=33.601))
    f = ResourceFilter(within=SQUARES["A"])
    page = store.list(f, limit=2, offset=2)
    assert page.total == 5 and [r.name for r in page.items] == ["s2", "s3"]


def test_unverified_for_twelve_months(store):
    store.add(salon("recent", last_verified=date(2026, 3, 1)))
    store.add(salon("old", last_verified=date(2025, 3, 1)))
    store.add(salon("never"))
    got = [r.name for r in store.unverified(months=12, today=date(2026, 4, 1))]
    assert got == ["never", "old"]


def test_users(store):
    u = store.add_user("sato", "hash", role="coordinator", areas=["A"])
    assert (u.username, u.role, u.areas) == ("sato", "coordinator", ("A",))
    with pytest.raises(DuplicateIdError):
        store.add_user("sato", "hash", role="admin")
    with pytest.raises(InputError, match="role"):
        store.add_user("kato", "hash", role="root")  # type: ignore[arg-type]
    store.update_user("sato", areas=["A", "B"], active=False)
    assert store.get_user("sato").areas == ("A", "B") and not store.get_user("sato").active
    store.delete_user("sato")
    with pytest.raises(NotFoundError):
        store.get_user("sato")


def test_migrations_upgrade_from_the_first_revision_and_back(tmp_path):
    from sqlalchemy import inspect

    from geo_service.registry.store import create_store_engine, migrate

    engine = create_store_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrate(engine, "0001")
    assert "ix_resources_updated_at" not in {
        i["name"] for i in inspect(engine).get_indexes("resources")}
    migrate(engine)
    assert "ix_resources_updated_at" in {
        i["name"] for i in inspect(engine).get_indexes("resources")}


def _users_before_0008(tmp_path, names):
    """A registry at migration 0007_access holding users ``names`` (before user names
    had a key)."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from geo_service.registry.store import create_store_engine, migrate

    engine = create_store_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrate(engine, "0007_access")
    with engine.begin() as conn:
        for name in names:
            conn.execute(text("INSERT INTO users (username, password_hash, role, areas, "
                              "active, created_at) VALUES (:n, 'h', 'admin', '[]', 1, :t)"),
                         {"n": name, "t": datetime.now(UTC)})
    return engine


def test_migration_0008_keys_existing_user_names(tmp_path):
    from geo_service.registry.store import ResourceStore, migrate

    engine = _users_before_0008(tmp_path, ["Sato", "kato", "ito "])
    migrate(engine)
    store = ResourceStore(engine)
    assert store.get_user("SATO").username == "Sato"
    assert store.get_user("ito").username == "ito "  # made before spaces were refused
    assert store.get_user("sato").token_generation == 0
    with pytest.raises(DuplicateIdError):
        store.add_user("sato", "hash", role="coordinator")


def test_migration_0008_names_users_that_differ_only_in_case(tmp_path):
    from geo_service.registry.store import migrate

    engine = _users_before_0008(tmp_path, ["sato", "SATO", "kato"])
    with pytest.raises(RuntimeError, match="differ only in case") as e:
        migrate(engine)
    assert "['SATO', 'sato']" in str(e.value)


def test_many_resources_read_with_the_vocabulary_looked_up_once(store, monkeypatch):
    """A read of many rows looks at the vocabulary's file once, not once per row (each look
    is a system call that lets go of Python's lock, which went back to the reading thread
    before a server's request threads could take it), and gives what reading each row
    alone gives, in order, across several blocks of rows."""
    import geo_service.layers as layers
    from geo_service.registry.store.rows import FREED_BLOCK

    n = FREED_BLOCK * 2 + 7
    added, _ = store.import_many([salon(f"サロン{k:04d}", kana=f"サロン{k:04d}",
                                        operator_type="NPO") for k in range(n)], [])
    looks = []
    changed = layers._changed
    monkeypatch.setattr(layers, "_changed", lambda path: looks.append(path) or changed(path))
    every = store.all()
    assert len(looks) == 1
    ids = [r.id for r in added]
    by_id = store.get_many(ids[::-1])
    assert len(looks) == 2
    assert [r.name for r in every] == [f"サロン{k:04d}" for k in range(n)]
    assert {r.id: r for r in by_id} == {r.id: r for r in every}
    assert every[FREED_BLOCK] == store.get(ids[FREED_BLOCK])
    assert every[-1].category == "salon" and every[-1].operator_type == store.get(
        ids[-1]).operator_type


def test_stored_resources_frees_the_rows_as_it_reads_them():
    """The rows' list is emptied as it is read (their data freed a block at a time)."""
    from types import SimpleNamespace

    from geo_service.registry.store.rows import FREED_BLOCK, stored_resources

    data = salon().model_dump(mode="json")
    rows = [SimpleNamespace(data={**data, "id": f"S-{k}", "name": f"n{k}"}, version=k + 1)
            for k in range(FREED_BLOCK + 3)]
    got = stored_resources(rows)
    assert rows == []
    assert [(r.id, r.name, r.version) for r in got] == [
        (f"S-{k}", f"n{k}", k + 1) for k in range(FREED_BLOCK + 3)]
