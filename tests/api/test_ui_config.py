"""GET /ui/config's region: what the region's output files say of it (name, 市区町村コード,
attributions, sources, generated or not), on the hand-made grid with hand-made sources."""

from __future__ import annotations

import dataclasses

import pytest

from geo_service.inputs.sources import ESTAT_ATTRIBUTION, Source
from geo_service.registry.store import open_store
from geo_service.service.walking import WalkingService
from tests.utils.clients import api_client
from tests.utils.grid import grid_region

REAL = Source("人口", "r2ka40205.shp", "e-Stat", "小地域", "令和2年", "CC BY 4.0",
              ESTAT_ATTRIBUTION, "https://www.e-stat.go.jp/")
MADE = Source("道路網", "格子", "geo-service（生成）", synthetic=True, attribution="生成")


@pytest.mark.parametrize(("region_synthetic", "sources", "synthetic"), [
    (False, [REAL], False), (False, [REAL, MADE, REAL], True), (True, [REAL], True),
    (False, [], False)])
def test_the_pages_region_is_the_outputs_metadata(tmp_path, region_synthetic, sources,
                                                   synthetic):
    region = dataclasses.replace(grid_region(), title="飯塚市", municipality_code="40205",
                                 synthetic=region_synthetic, sources=sources)
    store = open_store("sqlite://")
    shown = api_client(store, tmp_path, walking=WalkingService(region, store)
                       ).get("/ui/config").json()["region"]
    about = region.output_metadata()
    assert shown["name"] == about["region"] == "飯塚市"
    assert shown["municipality_code"] == about["municipality_code"] == "40205"
    assert shown["synthetic"] is about["synthetic"] is synthetic
    assert shown["attributions"] == about["attributions"] == \
        list(dict.fromkeys(s.attribution for s in sources))
    # every field of each source but its title, which the pages do not show
    assert shown["sources"] == [{k: v for k, v in s.to_dict().items() if k != "title"}
                                for s in sources]
