"""The council coverage table in one pass (issue 19): the same numbers as the per-area
computation it replaced (kept here as the reference: each service's area tested against
each area, each area's people counted over the whole region), and known by hand on the
11 × 11 grid (121 people 65+ on the nodes; 西 columns 0–2: 33, 中 3–7: 55, 東 8–10: 33)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo_service.engine.access import BAND_TOLERANCE_S, DistanceField
from geo_service.registry.resources import ResourceFields, Schedule, ServiceArea, Stop
from geo_service.registry.service_areas import service_area_geometry
from geo_service.registry.store import ResourceFilter
from geo_service.registry.store.testing import fresh_store
from geo_service.service.service_coverage import area_profiles, shares_in_area
from geo_service.service.walking import WalkingService, reveals_location
from tests.utils.grid import grid_region, lonlat


def _old_covering(walking: WalkingService, layer: str, staff: bool) -> list[list[str]]:
    """The per-area loop of before: every service against every area."""
    areas = walking.area_layer(layer).areas.reset_index(drop=True)
    geoms = areas.to_crs(4326).geometry.to_numpy()
    services = [r for r in walking.store.all(ResourceFilter(include_staff=staff))
                if r.service_area.kind != "none"]
    out = []
    for i, aid in enumerate(str(a) for a in areas["area_id"]):
        here = []
        for r in services:
            sa = r.service_area
            if sa.kind == "municipality":
                hit = True
            elif sa.kind == "areas" and sa.layer == layer:
                hit = aid in sa.area_ids
            elif not staff and reveals_location(r):
                hit = False
            else:
                geom = service_area_geometry(r, walking.layers)
                hit = geom is not None and bool(geom.intersects(geoms[i]))
            if hit:
                here.append(r.id)
        out.append(sorted(here))
    return out


def _old_mask(walking: WalkingService, r, staff: bool) -> np.ndarray:
    """A walking-time area by a full distance field over the network (as before)."""
    sa = r.service_area
    if sa.kind == "walk":
        loc = walking.located(staff=staff)
        pick = np.flatnonzero(loc.resource_ids == r.id)
        seconds = DistanceField(walking.net, loc.attachment.take(pick)).at(
            walking.region.demand_attachment).seconds
        return seconds <= (sa.minutes or 0) * 60 + BAND_TOLERANCE_S
    from geo_service.service.service_coverage import service_mask

    return service_mask(r, walking, staff=staff)


@pytest.fixture
def council(tmp_path) -> WalkingService:
    walking = WalkingService(grid_region(slope=0.03), fresh_store("sqlite", tmp_path))
    add = walking.store.add
    x0, y0 = lonlat(-50, -50)
    x1, y1 = lonlat(450, 1050)
    add(ResourceFields(name="西の配食", category="配食", service_area=ServiceArea(
        kind="polygon", geometry=shapely.geometry.mapping(shapely.box(x0, y0, x1, y1)))))
    add(ResourceFields(name="市内全域の宅配", category="宅配",
                       service_area=ServiceArea(kind="municipality")))
    add(ResourceFields(name="東の見守り", category="配食",
                       service_area=ServiceArea(kind="areas", layer="小学校区",
                                                area_ids=["E"])))
    for k, (x, y, sa) in enumerate([
            (500, 500, ServiceArea(kind="walk", minutes=4)),
            (0, 1000, ServiceArea(kind="radius", radius_m=250)),
            (1000, 0, ServiceArea(kind="walk", minutes=7))]):
        lon, lat = lonlat(x, y)
        add(ResourceFields(name=f"サロン{k}", category="通いの場", lon=lon, lat=lat,
                           service_area=sa))
    lon, lat = lonlat(800, 200)
    add(ResourceFields(name="非公開の訪問", category="配食", lon=lon, lat=lat,
                       staff_fields=["location"],
                       service_area=ServiceArea(kind="radius", radius_m=300)))
    lon, lat = lonlat(300, 300)
    add(ResourceFields(name="移動スーパー", category="移動販売",
                       schedule=Schedule(stops=[Stop(name="角", lon=lon, lat=lat,
                                                     weekday="tue", time="10:00")])))
    for k in range(6):
        lon, lat = lonlat(200 * k, 100 * k)
        add(ResourceFields(name=f"店{k}", category="食料品店", lon=lon, lat=lat))
    walking.refresh()
    return walking


@pytest.mark.parametrize("staff", [False, True])
def test_the_one_pass_table_equals_the_per_area_one(council, staff):
    rows = council.area_coverage("小学校区", staff=staff)
    old = _old_covering(council, "小学校区", staff)
    assert [sorted(r for c in row["categories"].values() for r in c["covering"])
            for row in rows] == old
    assert any(old) and not all(len(c) == len(old[0]) for c in old)
    profiles = area_profiles(council, "小学校区", staff=staff)
    demand_area = council._demand_area(council.area_layer("小学校区"))
    pop65 = council.region.demand["pop_65plus"].to_numpy(dtype=float)
    for i, row in enumerate(profiles):
        in_area = demand_area == i
        for cat in row["categories"].values():
            ids = [c["id"] for c in cat["covering"]]
            masks = [_old_mask(council, council.store.get(r), staff) for r in ids]
            each, union = shares_in_area(in_area, pop65, masks)  # over the whole region
            assert [c["share_65plus"] for c in cat["covering"]] == each  # bit for bit
            assert cat["share_65plus_covered"] == union
    names = {c["name"] for row in profiles for cat in row["categories"].values()
             for c in cat["covering"]}
    assert ("非公開の訪問" in names) == staff


def test_the_council_table_by_hand(council):
    rows = {r["area_id"]: r for r in area_profiles(council, "小学校区", staff=False)}
    meal = {a: {c["name"]: c["share_65plus"] for c in rows[a]["categories"]["meal_delivery"]
                ["covering"]} for a in rows}
    # 西の配食 covers columns 0–4: all of 西, 22 of 中's 55; 東の見守り lists 東 only
    assert meal == {"W": {"西の配食": 1.0}, "M": {"西の配食": 22 / 55},
                    "E": {"東の見守り": 1.0}}
    assert rows["M"]["categories"]["meal_delivery"]["status"] == "partly"
    assert rows["W"]["categories"]["home_delivery"]["status"] == "covered"
    # サロン1's 250 m circle around (0, 1000) holds the 8 nodes with (i² + j'²) ≤ 6.25
    # (j' = 10 − j): (0,0) (1,0) (2,0) (0,1) (1,1) (2,1) (0,2) (1,2)
    salon = {c["name"]: c["share_65plus"]
             for c in rows["W"]["categories"]["salon"]["covering"]}
    assert salon["サロン1"] == pytest.approx(8 / 33)
