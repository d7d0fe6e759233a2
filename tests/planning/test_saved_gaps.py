"""``gaps`` reading the per-point numbers saved with its region (issue 19): the same table
as computed afresh; a registry edit, another threshold or a broken entry is never
answered from the saved numbers. On the 11 × 11 grid (tests/engine/test_gaps.py: 100
people beyond the 500 m walk, 西 33, 中 49, 東 18)."""

from __future__ import annotations

import pandas as pd
import pytest

from geo_service.engine.region import Region
from geo_service.planning.gaps import find_gaps
from geo_service.registry.store import open_store
from geo_service.service.walking import WalkingService
from tests.utils.grid import grid_region, lonlat, west_meal_delivery


def _service(folder, url: str) -> WalkingService:
    """A new service over the saved region, as each command makes one."""
    region = Region.load(folder)
    return WalkingService(region, open_store(url, layers={a.name: a for a in region.areas}))


def _west_meal_delivery(walking: WalkingService) -> None:
    walking.store.add(west_meal_delivery())


@pytest.fixture
def saved_grid(tmp_path):
    folder = tmp_path / "region"
    grid_region().save(folder)
    return folder, f"sqlite:///{tmp_path / 'registry.sqlite3'}"


def _gap(walking: WalkingService, **kw) -> dict:
    return find_gaps(walking, "小学校区", "food_store", **kw).table.set_index(
        "area_id")["gap_65plus"].to_dict()


def test_saved_numbers_give_the_same_table_and_follow_registry_edits(saved_grid):
    folder, url = saved_grid
    first = find_gaps(_service(folder, url), "小学校区", "food_store").table
    assert first.set_index("area_id")["gap_65plus"].to_dict() == {"M": 49, "W": 33, "E": 18}
    saved = sorted(p.name.rsplit("-", 1)[0] for p in (folder / "cache").glob("gaps_*.npz"))
    assert saved == ["gaps_alternative-home_delivery-public",
                     "gaps_alternative-meal_delivery-public",
                     "gaps_alternative-mobile_sales-public", "gaps_need-food_store-public"]
    again = find_gaps(_service(folder, url), "小学校区", "food_store").table
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    # an edit of the registry by someone else: the next command counts the new service
    _west_meal_delivery(_service(folder, url))
    assert _gap(_service(folder, url)) == {"M": 27, "W": 0, "E": 18}
    # the same numbers as a service that saves nothing (a region built in memory)
    fresh = WalkingService(grid_region(), open_store(url))
    assert fresh.region.folder is None
    pd.testing.assert_frame_equal(find_gaps(fresh, "小学校区", "food_store").table,
                                  find_gaps(_service(folder, url), "小学校区",
                                            "food_store").table, check_exact=True)


def test_another_threshold_or_viewer_is_not_answered_from_the_saved_numbers(saved_grid):
    folder, url = saved_grid
    _west_meal_delivery(_service(folder, url))
    assert _gap(_service(folder, url)) == {"M": 27, "W": 0, "E": 18}
    # 700 m: the person on (i, j) walks 100 × (20 − i − j) m, beyond when i + j < 13.
    # 東 (i = 8, 9, 10): 5 + 4 + 3 = 12 beyond; 中 left to itself (i = 5, 6, 7; columns
    # 3–4 have the 配食): 8 + 7 + 6 = 21; 西 all covered
    by_hand = {"M": 21, "W": 0, "E": 12}
    assert _gap(_service(folder, url), threshold_m=700) == by_hand
    assert _gap(_service(folder, url), staff=True) == {"M": 27, "W": 0, "E": 18}


def test_a_broken_saved_entry_is_recomputed(saved_grid):
    folder, url = saved_grid
    _west_meal_delivery(_service(folder, url))
    _gap(_service(folder, url))
    for entry in (folder / "cache").glob("gaps_*.npz"):
        entry.write_bytes(b"\0" * 64)
    assert _gap(_service(folder, url)) == {"M": 27, "W": 0, "E": 18}


def test_site_reads_the_saved_coverage_sets_and_finds_the_same_sites(saved_grid):
    from geo_service.layers import load_vocabulary
    from geo_service.planning import siting
    from geo_service.planning.siting_plan import plan_siting

    folder, url = saved_grid
    need = load_vocabulary().category("food_store")

    def plan(walking: WalkingService):
        cands = siting.grid_candidates(walking.net, 200.0)
        return plan_siting(walking, need, cands, staff=False)

    fresh = plan(WalkingService(grid_region(), open_store(url)))  # nothing saved
    first, again = plan(_service(folder, url)), plan(_service(folder, url))
    assert len(list((folder / "cache").glob("siting_coverage-*.npz"))) == 1
    for p in (first, again):
        assert (p.problem.cover != fresh.problem.cover).nnz == 0
        assert p.problem.maximal_covering(3).chosen.tolist() == \
            fresh.problem.maximal_covering(3).chosen.tolist()
    # 500 m around the corner store serves the 21 people with i + j ≥ 15 (by hand)
    assert fresh.problem.already == first.problem.already == again.problem.already == 21
    assert len(list((folder / "cache").glob("siting_served-*.npz"))) == 1
    # a food store registered at (500, 0): the existing ones are the registry's now, and
    # 500 m around it serves |i − 5| + j ≤ 5: 11 + 9 + 7 + 5 + 3 + 1 = 36 people (by hand)
    from geo_service.registry.resources import ResourceFields

    lon, lat = lonlat(500, 0)
    _service(folder, url).store.add(ResourceFields(name="南の店", category="食料品店",
                                                   lon=lon, lat=lat))
    assert plan(_service(folder, url)).problem.already == 36
