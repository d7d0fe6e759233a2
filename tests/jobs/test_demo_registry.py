"""The demo registry reads true: a place's address is in the 町 of the 小学校区 it stands
in (山手ふれあいサロン was at 坂の町本町1-2, down in 川西's 本町)."""

from __future__ import annotations

import shapely

#: the 町 of each demo 小学校区: where its school stands (A27_005 of the demo's districts)
TOWNS = {"川西小学校": "坂の町本町", "川東小学校": "坂の町東町", "山手小学校": "坂の町山手"}


def test_every_address_is_in_the_town_of_its_area(tmp_path):
    from tests.utils.demo import demo_service

    demo = demo_service(tmp_path)
    layer = demo.region.areas[0].areas.to_crs(4326)
    located = [r for r in demo.store.list(limit=500).items if r.lon is not None]
    with_address = [r for r in located if r.address]
    assert len(with_address) == 5  # the demo's gathering places
    for r in with_address:
        [area] = layer[layer.contains(shapely.Point(r.lon, r.lat))]["name"]
        assert r.address.startswith(TOWNS[area]), (r.name, area, r.address)
        # a name that names a 町 (山手, 本町) is in it
        for town in ("山手", "本町"):
            if town in r.name:
                assert r.address.startswith("坂の町" + town), (r.name, r.address)
    assert len({r.address for r in with_address}) == len(with_address)
