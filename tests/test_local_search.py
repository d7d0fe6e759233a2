"""``local_search`` gives exactly the answers of the cut-off search over the whole network."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from geo_service.access import DistanceField, attach_points, local_search
from geo_service.network import WalkNetwork
from tests.conftest import grid_network


def full_search(net: WalkNetwork, origin, limit_m: float, limit_s: float):
    """The reference: Dijkstra from both ends of the origin's edge on the whole graphs."""
    ls = local_search(net, origin, limit_m=limit_m, limit_s=limit_s)
    e = int(origin.edge[0])
    ends = [int(net.edge_u[e]), int(net.edge_v[e])]
    d2 = dijkstra(net.distance_graph, directed=True, indices=ends,
                  limit=max(limit_m - ls.to_ends.min(), 0.0))
    s2 = dijkstra(net.time_graph, directed=True, indices=ends,
                  limit=max(limit_s - ls.t_ends.min(), 0.0))
    d = np.minimum(d2[0] + ls.to_ends[0], d2[1] + ls.to_ends[1])
    s = np.minimum(s2[0] + ls.t_ends[0], s2[1] + ls.t_ends[1])
    return ls, d, s


def hilly_grid(n: int = 30, spacing: float = 25.0, *, jitter: float = 6.0) -> WalkNetwork:
    base = grid_network(n, n, spacing)
    rng = np.random.default_rng(7)
    xy = base.node_xy + rng.uniform(-jitter, jitter, base.node_xy.shape)
    z = 30 * np.sin(xy[:, 0] / 120.0) + 0.05 * xy[:, 1]
    return WalkNetwork.from_edges(np.arange(len(xy)), xy, base.edge_u, base.edge_v, None,
                                  crs="EPSG:6670", node_z=z)


@pytest.mark.parametrize("elevation", [False, True])
def test_local_search_equals_full_search_on_every_node(elevation):
    net = hilly_grid() if elevation else grid_network(30, 30, 25.0)
    rng = np.random.default_rng(3)
    all_nodes = np.arange(net.n_nodes)
    for x, y in rng.uniform(0, 725, size=(25, 2)):
        origin = attach_points(net, np.array([[x, y]]))
        for limit_m, limit_s in [(0.0, 0.0), (60.0, 400.0), (300.0, 250.0), (2000.0, 2000.0)]:
            ls, d, s = full_search(net, origin, limit_m, limit_s)
            assert len(ls.nodes) <= net.n_nodes
            np.testing.assert_array_equal(ls.distance_to(all_nodes), d)
            np.testing.assert_array_equal(ls.seconds_to(all_nodes), s)
    small = local_search(net, attach_points(net, np.array([[360.0, 360.0]])),
                         limit_m=100.0, limit_s=100.0)
    assert len(small.nodes) < net.n_nodes / 10  # only the neighbourhood is searched


def test_local_search_at_points_matches_distance_field():
    net = hilly_grid()
    rng = np.random.default_rng(5)
    targets = attach_points(net, rng.uniform(0, 725, size=(300, 2)))
    for x, y in rng.uniform(0, 725, size=(10, 2)):
        origin = attach_points(net, np.array([[x, y]]))
        ls = local_search(net, origin, limit_m=400.0, limit_s=np.inf)
        d, s = ls.at(targets)
        ref = DistanceField(net, origin).at(targets).distance_m  # distances are symmetric
        inside = ref <= 400.0 - 1e-6
        assert inside.sum() > 10
        np.testing.assert_allclose(d[inside], ref[inside], rtol=1e-12, atol=1e-9)
        assert (np.isinf(d[~inside]) | (d[~inside] >= 400.0 - 1e-6)).all()
        assert np.isfinite(s).all()  # no time cut-off: the whole (connected) grid


def test_local_search_same_edge_and_island(grid):
    origin = attach_points(grid, np.array([[30.0, -10.0]]))
    ls = local_search(grid, origin, limit_m=5000.0, limit_s=5000.0)
    d, s = ls.at(attach_points(grid, np.array([[60.0, 3.0], [1050.0, 0.0]])))
    assert d[0] == pytest.approx(10 + 30 + 3)
    assert s[0] == pytest.approx(d[0] / grid.walking_speed_mps)
    assert np.isinf(d[1]) and np.isinf(s[1])  # the island


def test_local_search_edges_shorter_than_their_chord():
    # One street's geometry stops short of its nodes (15 m shorter than the straight line
    # between them): the search radius is widened so that answers still match.
    base = grid_network(12, 12, 50.0)
    geoms = shapely.linestrings(np.stack([base.node_xy[base.edge_u],
                                          base.node_xy[base.edge_v]], axis=1))
    k = 5
    a, b = base.node_xy[base.edge_u[k]], base.node_xy[base.edge_v[k]]
    step = (b - a) / np.linalg.norm(b - a) * 7.5
    geoms[k] = shapely.LineString([a + step, b - step])
    net = WalkNetwork.from_edges(np.arange(base.n_nodes), base.node_xy, base.edge_u,
                                 base.edge_v, geoms, crs="EPSG:6670")
    assert net.edge_length[k] == pytest.approx(35.0)
    all_nodes = np.arange(net.n_nodes)
    for x in (10.0, 120.0, 300.0):
        origin = attach_points(net, np.array([[x, 2.0]]))
        ls, d, s = full_search(net, origin, 240.0, 240.0)
        np.testing.assert_array_equal(ls.distance_to(all_nodes), d)
        np.testing.assert_array_equal(ls.seconds_to(all_nodes), s)


@pytest.mark.parametrize("backend", ["sqlite", "postgis"])
def test_access_serving_index_matches_the_store_query(tmp_path, backend):
    """The per-registry-state index of service areas answers as the store's serves query
    (on PostGIS: ST_Covers in the database)."""
    from geo_service.api.access import AccessService
    from geo_service.resources import ResourceFields
    from geo_service.store import ResourceFilter
    from geo_service.store.testing import PG_URL_VARIABLE, fresh_store, postgis_url
    from tests.api.grid import grid_region, lonlat

    if backend == "postgis" and postgis_url() is None:
        pytest.skip(f"PostGIS tests need {PG_URL_VARIABLE} (bash .ci/postgis.sh prints one)")
    store = fresh_store(backend, tmp_path)
    access = AccessService(grid_region(), store)
    rng = np.random.default_rng(11)
    for k in range(40):
        lon, lat = lonlat(*rng.uniform(0, 1000, 2))
        d = float(rng.uniform(0.0005, 0.003))
        r = float(rng.uniform(50, 400))
        area = [{"kind": "municipality"}, {"kind": "radius", "radius_m": r},
                {"kind": "walk", "minutes": 3.0}, {"kind": "none"},
                {"kind": "polygon", "geometry": {"type": "Polygon", "coordinates": [[
                    [lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d],
                    [lon - d, lat + d], [lon - d, lat - d]]]}}][k % 5]
        store.add(ResourceFields(name=f"s{k}", kana=f"エス{k % 7}", category="見守り",
                                 lon=lon, lat=lat, service_area=area,
                                 visibility="staff" if k % 4 == 0 else "public"))
    sizes = []
    for x, y in rng.uniform(0, 1000, size=(60, 2)):
        lon, lat = lonlat(x, y)
        for staff in (False, True):
            want = store.ids(ResourceFilter(serves=(lon, lat), include_staff=staff))
            assert access.serving(lon, lat, staff=staff) == want
            sizes.append(len(want))
    assert max(sizes) > min(sizes)  # the points see different services
