"""One reading of OSM file names for the three OSM readers (network, rivers and railways,
stores), and each reader's refusal of another file, in Japanese and in English."""

from __future__ import annotations

import pytest

from geo_service._errors import InputError
from geo_service.engine.basemap_osm import extras_for_network, extras_from_osm
from geo_service.engine.osm import load_walk_network
from geo_service.inputs.layer_points import stores_from_osm
from geo_service.inputs.osm_files import osm_file_kind
from geo_service.layers import load_resource_layer


@pytest.mark.parametrize(("name", "kind"), [
    ("kyushu-latest.osm.pbf", "pbf"), ("area.pbf", "pbf"), ("KYUSHU.OSM.PBF", "pbf"),
    ("town.osm", "xml"), ("town.xml", "xml"), ("town.osm.bz2", "xml"), ("Town.OSM.GZ", "xml"),
    ("overpass.json", "overpass_json"), ("CACHE.JSON", "overpass_json"),
    ("net.graphml", None), ("net.npz", None), ("stores.geojson", None), ("town.bz2", None),
    ("town.gz", None), ("pbf", None), ("osm.pbf.zip", None),
])
def test_osm_file_kinds_by_name(name, kind):
    assert osm_file_kind(name) == kind
    assert osm_file_kind(f"/data/{name}") == kind


def test_every_reader_refuses_another_file_in_japanese_and_english(tmp_path):
    path = tmp_path / "stores.geojson"
    path.write_text("{}", encoding="utf-8")
    readers = [
        (load_walk_network,
         "道路網のファイル形式がわかりません。.osm.pbf、.osm、.osm.bz2、.json（Overpass）、"
         ".graphml、.npz のいずれかにしてください",
         "unknown network format; expected .osm.pbf, .osm, .osm.bz2, .json (Overpass), "
         ".graphml or .npz"),
        (extras_from_osm, "川と鉄道は .osm.pbf、.osm、Overpass の .json ファイルから読めます",
         "rivers and railways can be read from .osm.pbf, .osm or Overpass .json files"),
        (lambda p: stores_from_osm(p, load_resource_layer("food_stores")),
         "店を取り出せるのは .osm.pbf、.osm、Overpass の .json ファイルです",
         "stores can be taken from .osm.pbf, .osm or Overpass .json files"),
    ]
    for read, ja, en in readers:
        with pytest.raises(InputError) as err:
            read(path)
        assert err.value.text("ja").endswith(ja) and str(path) in err.value.text("ja")
        assert err.value.text("en").endswith(en)
    assert extras_for_network(path, (0, 0, 1, 1)) is None  # no OSM file, no extras
