"""The per-request search (``PointSearch`` on ``cutoff_dijkstra``) gives exactly the
answers of scipy's cut-off Dijkstra over the whole network."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from geo_service.engine.access import (
    Attachment,
    DistanceField,
    PointSearch,
    TargetIndex,
    _with_virtual_sources,
    attach_points,
)
from geo_service.engine.cutoff_dijkstra import _scratch_rows, cutoff_dijkstra
from geo_service.engine.network import WalkNetwork
from tests.conftest import grid_network
from tests.utils.stores import backend_store


def whole_graph(graph, sources, costs, limit):
    """The reference: scipy's Dijkstra from a virtual node with an edge of each starting
    cost to each source (pairs of sources per virtual row, as the engine builds them)."""
    n = graph.shape[0]
    g = _with_virtual_sources(graph, sources[:1], sources[1:2], costs[:1], costs[1:2])
    return dijkstra(g, directed=True, indices=n, limit=limit)[:n]


def hilly_grid(n: int = 30, spacing: float = 25.0, *, jitter: float = 6.0) -> WalkNetwork:
    base = grid_network(n, n, spacing)
    rng = np.random.default_rng(7)
    xy = base.node_xy + rng.uniform(-jitter, jitter, base.node_xy.shape)
    z = 30 * np.sin(xy[:, 0] / 120.0) + 0.05 * xy[:, 1]
    return WalkNetwork.from_edges(np.arange(len(xy)), xy, base.edge_u, base.edge_v, None,
                                  crs="EPSG:6670", node_z=z)


@pytest.mark.parametrize("elevation", [False, True])
def test_cutoff_dijkstra_equals_scipy_on_every_node(elevation):
    net = hilly_grid() if elevation else grid_network(30, 30, 25.0)
    rng = np.random.default_rng(3)
    every = np.arange(net.n_nodes)
    for _ in range(25):
        sources = rng.integers(0, net.n_nodes, 2)
        costs = rng.uniform(0, 40, 2)
        for graph in (net.distance_graph, net.time_graph):
            for limit in (0.0, 35.0, 300.0, 2000.0, np.inf):
                want = whole_graph(graph, sources, costs, limit)
                got = cutoff_dijkstra(graph, sources, costs, limit, every)
                np.testing.assert_array_equal(got, want)
                # a few wanted nodes (the search stops once they are settled)
                few = rng.integers(0, net.n_nodes, 3)
                np.testing.assert_array_equal(
                    cutoff_dijkstra(graph, sources, costs, limit, few), want[few])
    best, where, wanted, _, _ = _scratch_rows(net.n_nodes)
    assert np.isinf(best).all() and (where == -1).all() and not wanted.any()  # restored


def test_cutoff_dijkstra_by_hand_and_bad_input(grid):
    # 4 × 3 grid, 100 m: from node 0 (cost 5) and node 3 (cost 0), cut off at 250 m
    got = cutoff_dijkstra(grid.distance_graph, [0, 3], [5.0, 0.0], 250.0,
                          [0, 1, 2, 5, 6, 9, 12, 3, 3])
    np.testing.assert_array_equal(got, [5, 105, 100, 205, 200, np.inf, np.inf, 0, 0])
    with pytest.raises(IndexError, match="at must be node indices"):
        cutoff_dijkstra(grid.distance_graph, [0], [0.0], 10.0, [grid.n_nodes])
    with pytest.raises(ValueError, match="non-negative"):
        cutoff_dijkstra(grid.distance_graph, [0], [-1.0], 10.0, [0])


def test_point_search_matches_distance_fields_at_points():
    """Distances and (slope-aware, origin → target) times agree with the engine."""
    net = hilly_grid()
    rng = np.random.default_rng(5)
    targets = attach_points(net, rng.uniform(0, 725, size=(300, 2)))
    for x, y in rng.uniform(0, 725, size=(10, 2)):
        origin = attach_points(net, np.array([[x, y]]))
        search = PointSearch(net, origin)
        d, s = search.metres(targets, 400.0), search.seconds(targets, np.inf)
        ref = DistanceField(net, origin).at(targets).distance_m  # distances are symmetric
        inside = ref <= 400.0 - 1e-6
        assert inside.sum() > 10
        np.testing.assert_allclose(d[inside], ref[inside], rtol=1e-12, atol=1e-9)
        assert (np.isinf(d[~inside]) | (d[~inside] >= 400.0 - 1e-6)).all()
        assert np.isfinite(s).all()  # no time cut-off: the whole (connected) grid
        for k in rng.choice(len(targets), 15, replace=False):
            one = Attachment(targets.edge[k:k + 1], targets.offset[k:k + 1],
                             targets.connector[k:k + 1])
            # a field around the target gives the time of walking from a point to it
            want = DistanceField(net, one).at(origin).seconds[0]
            assert s[k] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("elevation", [False, True])
def test_quickest_walk_time_and_length_match_the_quickest_path(elevation):
    """``quickest`` gives the seconds and the length of the path scipy's Dijkstra (with
    predecessors, from a virtual node at the origin) finds quickest."""
    net = hilly_grid(20) if elevation else grid_network(20, 20, 25.0)
    n = net.n_nodes
    length_of = {}
    for e, (u, v) in enumerate(zip(net.edge_u, net.edge_v, strict=True)):
        length_of[(u, v)] = length_of[(v, u)] = net.edge_length[e]
    leaving = np.array([np.flatnonzero((net.edge_u == i) | (net.edge_v == i))[0]
                        for i in range(n)])
    at_start = net.edge_u[leaving] == np.arange(n)
    nodes = Attachment(leaving, np.where(at_start, 0.0, net.edge_length[leaving]), np.zeros(n))
    rng = np.random.default_rng(4)
    longer = 0
    for x, y in rng.uniform(0, 475, size=(8, 2)):
        origin = attach_points(net, np.array([[x, y]]))
        search = PointSearch(net, origin)
        g = _with_virtual_sources(net.time_graph, search.ends[:1], search.ends[1:],
                                  search.t_ends[:1], search.t_ends[1:])
        secs, pred = dijkstra(g, directed=True, indices=n, return_predecessors=True)
        want_m = np.full(n, np.nan)
        for node in range(n):
            path, k = 0.0, node
            while pred[k] != n:
                path += length_of[(pred[k], k)]
                k = pred[k]
            want_m[node] = path + search.to_ends[list(search.ends).index(k)]
        s, m = search.quickest(nodes, np.inf)
        np.testing.assert_allclose(s, secs[:n], rtol=1e-12)
        np.testing.assert_allclose(m, want_m, rtol=1e-9)
        shortest = search.metres(nodes, np.inf)
        assert (m >= shortest - 1e-9).all()
        longer += int((m > shortest + 1e-6).sum())
        s_cut, m_cut = search.quickest(nodes, 200.0)
        inside = s_cut <= 200.0
        assert 0 < inside.sum() < n
        np.testing.assert_array_equal(s_cut[inside], s[inside])
        np.testing.assert_array_equal(m_cut[inside], m[inside])
        assert np.isnan(m_cut[np.isinf(s_cut)]).all()
    assert (longer > 0) == elevation  # on slopes the quickest way is sometimes longer


def test_point_search_same_edge_and_island(grid):
    origin = attach_points(grid, np.array([[30.0, -10.0]]))
    targets = attach_points(grid, np.array([[60.0, 3.0], [1050.0, 0.0]]))
    search = PointSearch(grid, origin)
    d, s = search.metres(targets, 5000.0), search.seconds(targets, 5000.0)
    assert d[0] == pytest.approx(10 + 30 + 3)
    assert s[0] == pytest.approx(d[0] / grid.walking_speed_mps)
    assert search.quickest(targets, 5000.0)[1][0] == pytest.approx(d[0])
    assert np.isinf(d[1]) and np.isinf(s[1])  # the island


def test_point_search_edges_shorter_than_their_chord():
    # One street's geometry stops short of its nodes (15 m shorter than the straight line
    # between them); targets at every node still get the whole-graph answers.
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
    # a target at each node: at the start of an edge leaving it (offset 0, no connector)
    leaving = np.array([np.flatnonzero((net.edge_u == i) | (net.edge_v == i))[0]
                        for i in range(net.n_nodes)])
    at_start = net.edge_u[leaving] == np.arange(net.n_nodes)
    nodes = Attachment(leaving, np.where(at_start, 0.0, net.edge_length[leaving]),
                       np.zeros(net.n_nodes))
    for x in (10.0, 120.0, 300.0):
        origin = attach_points(net, np.array([[x, 2.0]]))
        e = int(origin.edge[0])
        ends = np.array([net.edge_u[e], net.edge_v[e]])
        a0, c0, length = origin.offset[0], origin.connector[0], net.edge_length[e]
        want = whole_graph(net.distance_graph, ends, np.array([a0 + c0, length - a0 + c0]),
                           240.0)
        d = PointSearch(net, origin).metres(nodes, 240.0)
        ok = np.isfinite(want)
        assert ok.sum() > 10
        np.testing.assert_allclose(d[ok], want[ok], rtol=1e-12)
        assert (np.isinf(d[~ok]) | (d[~ok] > 240.0)).all()


@pytest.mark.parametrize("backend", ["sqlite", "postgis"])
def test_access_serving_index_matches_the_store_query(tmp_path, backend):
    """The per-registry-state index of service areas answers as the store's serves query
    (on PostGIS: ST_Covers in the database)."""
    from geo_service.registry.resources import ResourceFields
    from geo_service.registry.store import ResourceFilter
    from geo_service.service.walking import WalkingService
    from tests.utils.grid import grid_region, lonlat

    store = backend_store(backend, tmp_path)
    access = WalkingService(grid_region(), store)
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


@pytest.mark.parametrize("short_chord", [False, True])
def test_target_index_keeps_every_target_within_reach(short_chord):
    """``TargetIndex.near`` may keep extra targets but never drops one within reach, also
    where a street's geometry is shorter than the straight line between its nodes."""
    net = hilly_grid(20)
    if short_chord:
        geoms = net.edge_geometry.copy()
        a, b = net.node_xy[net.edge_u[40]], net.node_xy[net.edge_v[40]]
        step = (b - a) / 4
        geoms[40] = shapely.LineString([a + step, b - step])
        net = WalkNetwork.from_edges(np.arange(net.n_nodes), net.node_xy, net.edge_u,
                                     net.edge_v, geoms, crs="EPSG:6670", node_z=net.node_z)
        assert net.chord_ratio < 0.6
    rng = np.random.default_rng(9)
    targets = attach_points(net, rng.uniform(0, 475, size=(400, 2)))
    index = TargetIndex(net, targets)
    kept = []
    for x, y in rng.uniform(0, 475, size=(20, 2)):
        search = PointSearch(net, attach_points(net, np.array([[x, y]])))
        for limit in (30.0, 120.0, 300.0):
            within = np.flatnonzero(search.metres(targets, limit) <= limit)
            near = index.near(search, limit)
            assert set(within) <= set(near)
            kept.append(len(near) / len(targets))
    assert min(kept) < 0.2  # and it does narrow the search down


def test_straight_line_seconds_per_metre_by_hand_and_a_lower_bound():
    """On the flat 100 m grid at 1 m/s a metre of straight line takes at least 1 s; on
    slopes (and a street shorter than its nodes' chord) it is a lower bound of every
    walk's time between two nodes (scipy's Dijkstra from each of a few nodes)."""
    flat = grid_network(4, 3, 100.0).with_speed(1.0)
    assert flat.straight_line_seconds_per_metre == pytest.approx(1.0)
    hilly = hilly_grid(12)
    rate = hilly.straight_line_seconds_per_metre
    assert 0 < rate < 1 / hilly.walking_speed_mps  # downhill is quicker than flat
    secs = dijkstra(hilly.time_graph, directed=True, indices=[0, 50, 143])
    for row, k in zip(secs, [0, 50, 143], strict=True):
        line = np.hypot(*(hilly.node_xy - hilly.node_xy[k]).T)
        assert (row >= line * rate - 1e-9).all()


@pytest.mark.parametrize("elevation", [False, True])
def test_an_aimed_search_settles_its_targets_at_the_same_costs(elevation):
    """The A* (``aim``) gives the plain search's seconds and metres for a few far nodes
    and for the nodes of random attachments (``PointSearch.quickest(aimed=True)``), with
    and without a cut-off, and leaves the scratch rows as it found them."""
    from geo_service.engine.access import time_aim
    from geo_service.engine.cutoff_dijkstra import Aim, cutoff_dijkstra_along

    net = hilly_grid() if elevation else grid_network(30, 30, 25.0)
    aim = time_aim(net)
    rng = np.random.default_rng(11)
    for _ in range(40):
        sources, costs = rng.integers(0, net.n_nodes, 2), rng.uniform(0, 30, 2)
        few = rng.integers(0, net.n_nodes, rng.integers(1, 4))
        for limit in (200.0, np.inf):
            args = (net.time_graph, net.time_graph_lengths, sources, costs, costs * 1.3, limit,
                    few)
            s, m = cutoff_dijkstra_along(*args)
            s_aim, m_aim = cutoff_dijkstra_along(*args, aim=aim)
            np.testing.assert_allclose(s_aim, s, rtol=1e-12)
            np.testing.assert_allclose(m_aim, m, rtol=1e-12)
            assert limit < np.inf or np.isfinite(s).all()  # the grid is connected
    targets = attach_points(net, rng.uniform(0, 725, size=(30, 2)))
    for x, y in rng.uniform(0, 725, size=(10, 2)):
        search = PointSearch(net, attach_points(net, np.array([[x, y]])))
        pick = rng.choice(len(targets), 3, replace=False)
        want = search.quickest(targets.take(pick), np.inf)
        got = search.quickest(targets.take(pick), np.inf, aimed=True)
        for w, g in zip(want, got, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-12)
    best, where, wanted, _, _ = _scratch_rows(net.n_nodes)
    assert np.isinf(best).all() and (where == -1).all() and not wanted.any()
    with pytest.raises(ValueError, match="x, y per node"):
        cutoff_dijkstra_along(net.time_graph, net.time_graph_lengths, [0], [0.0], [0.0],
                              10.0, [1], aim=Aim(net.node_xy[:5], 1.0))
