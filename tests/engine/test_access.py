"""The engine on grids whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo_service._errors import OutsideNetworkError
from geo_service.engine.access import DistanceField, attach_points
from geo_service.engine.network import WalkNetwork
from tests.conftest import grid_network


def field_for(net: WalkNetwork, stores: list[tuple[float, float]]) -> DistanceField:
    return DistanceField(net, attach_points(net, np.array(stores, dtype=float)))


def test_attach_projects_onto_edge_not_node(grid):
    att = attach_points(grid, np.array([[130.0, 20.0]]))
    edge = att.edge[0]
    assert {grid.edge_u[edge], grid.edge_v[edge]} == {1, 2}  # edge (100,0)–(200,0)
    assert att.connector[0] == pytest.approx(20.0, abs=1e-9)
    start = grid.node_xy[grid.edge_u[edge]]
    assert att.offset[0] == pytest.approx(abs(130.0 - start[0]), abs=1e-9)


def test_node_distances_exact(grid):
    # Store on edge (0,0)-(100,0) at x=30, 10 m off the street.
    field = field_for(grid, [(30.0, -10.0)])
    d = field.node_distance
    assert d[0] == pytest.approx(40.0, abs=1e-6)       # 10 + 30
    assert d[1] == pytest.approx(80.0, abs=1e-6)       # 10 + 70
    assert d[5] == pytest.approx(180.0, abs=1e-6)      # node (100,100): via node 1
    assert d[11] == pytest.approx(10 + 70 + 200 + 200, abs=1e-6)  # (300,200)
    assert np.isinf(d[12]) and np.isinf(d[13])         # island
    assert (field.node_nearest[:12] == 0).all() and (field.node_nearest[12:] == -1).all()


def test_point_distance_uses_both_edge_ends_and_connectors(grid):
    field = field_for(grid, [(30.0, -10.0)])
    # Point on edge (200,0)-(200,100) at y=40, 5 m west: 5 + 40 + 100 + 70 + 10.
    pts = attach_points(grid, np.array([[195.0, 40.0], [255.0, 100.0]]))
    res = field.at(pts)
    assert res.distance_m[0] == pytest.approx(5 + 40 + 100 + 70 + 10, abs=1e-6)
    # (255,100) sits on edge (200,100)-(300,100): via (200,100): 55 + 100 + 100 + 80.
    assert res.distance_m[1] == pytest.approx(55 + 100 + 100 + 80, abs=1e-6)
    assert res.seconds == pytest.approx(res.distance_m / grid.walking_speed_mps)


def test_same_edge_pair_is_direct(grid):
    field = field_for(grid, [(30.0, -10.0)])
    res = field.at(attach_points(grid, np.array([[60.0, 3.0]])))
    assert res.distance_m[0] == pytest.approx(3 + 30 + 10, abs=1e-6)
    assert res.nearest[0] == 0


def test_nearest_of_several_stores(grid):
    field = field_for(grid, [(0.0, 0.0), (300.0, 200.0)])
    res = field.at(attach_points(grid, np.array([[280.0, 150.0], [10.0, 50.0]])))
    assert res.nearest.tolist() == [1, 0]
    assert res.distance_m[0] == pytest.approx(50 + 20, abs=1e-6)
    assert res.distance_m[1] == pytest.approx(10 + 50, abs=1e-6)


def test_unreachable_island_is_infinite_not_zero(grid):
    field = field_for(grid, [(30.0, 0.0)])
    res = field.at(attach_points(grid, np.array([[1340.0, 5.0]])))
    assert np.isinf(res.distance_m[0]) and np.isinf(res.seconds[0])
    assert not res.reachable[0] and res.nearest[0] == -1


def test_store_on_island_serves_only_island(grid):
    field = field_for(grid, [(1350.0, 0.0)])
    res = field.at(attach_points(grid, np.array([[1310.0, 0.0], [0.0, 0.0]])))
    assert res.distance_m[0] == pytest.approx(40.0, abs=1e-6)
    assert np.isinf(res.distance_m[1])


def test_no_stores_means_all_unreachable(grid):
    field = DistanceField(grid, attach_points(grid, np.zeros((0, 2))))
    assert np.isinf(field.at(attach_points(grid, np.array([[10.0, 0.0]]))).distance_m).all()


def test_far_point_is_rejected(grid):
    with pytest.raises(OutsideNetworkError, match="more than 1000 m"):
        attach_points(grid, np.array([[0.0, 5000.0]]), source="pts.csv")


def test_parallel_edges_keep_the_shortest():
    # Two edges between nodes 0 and 1: a straight 100 m one and a 300 m detour.
    xy = np.array([[0.0, 0.0], [100.0, 0.0]])
    detour = shapely.LineString([(0, 0), (0, 100), (100, 100), (100, 0)])
    straight = shapely.LineString([(100, 0), (0, 0)])  # runs v -> u: must be re-oriented
    net = WalkNetwork.from_edges(np.arange(2), xy, np.array([0, 0]), np.array([1, 1]),
                                 np.array([detour, straight], dtype=object), crs="EPSG:6670")
    assert net.distance_graph[0, 1] == pytest.approx(100.0)
    assert net.distance_graph.nnz == 2
    field = field_for(net, [(0.0, 0.0)])
    assert field.node_distance[1] == pytest.approx(100.0)
    # A point on the detour at (50, 100): 100 up + 50 along, either way round = 150.
    res = field.at(attach_points(net, np.array([[50.0, 101.0]])))
    assert res.distance_m[0] == pytest.approx(1 + 150, abs=1e-6)


def test_reversed_geometry_offsets():
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [200.0, 0.0]])
    geoms = np.array([shapely.LineString([(100, 0), (0, 0)]),
                      shapely.LineString([(100, 0), (200, 0)])], dtype=object)
    net = WalkNetwork.from_edges(np.arange(3), xy, np.array([0, 1]), np.array([1, 2]), geoms,
                                 crs="EPSG:6670")
    field = field_for(net, [(200.0, 0.0)])
    res = field.at(attach_points(net, np.array([[20.0, 0.0]])))
    assert res.distance_m[0] == pytest.approx(180.0, abs=1e-6)


def test_grid_matches_networkx_on_random_points():
    nx = pytest.importorskip("networkx")
    net = grid_network(8, 7, 90.0)
    rng = np.random.default_rng(1)
    stores = rng.uniform([0, 0], [630, 540], size=(5, 2))
    field = field_for(net, stores)
    g = nx.Graph()
    for u, v, w in zip(net.edge_u, net.edge_v, net.edge_length, strict=True):
        g.add_edge(int(u), int(v), weight=float(w))
    att = attach_points(net, stores)
    for k in range(5):
        e = att.edge[k]
        u, v = int(net.edge_u[e]), int(net.edge_v[e])
        g.add_edge(("s", k), u, weight=att.offset[k] + att.connector[k])
        g.add_edge(("s", k), v, weight=net.edge_length[e] - att.offset[k] + att.connector[k])
    ref = nx.multi_source_dijkstra_path_length(g, {("s", k) for k in range(5)})
    got = np.array([ref[i] for i in range(net.n_nodes)])
    np.testing.assert_allclose(field.node_distance, got, atol=1e-6)


def test_fragment_near_the_main_network_is_bypassed():
    # The grid plus a 2-node footway fragment 30 m north of its top edge (y = 230).
    base = grid_network(4, 3)
    xy = np.vstack([base.node_xy, [[100.0, 230.0], [140.0, 230.0]]])
    net = WalkNetwork.from_edges(np.arange(len(xy)), xy, np.append(base.edge_u, 12),
                                 np.append(base.edge_v, 13), None, crs="EPSG:6670")
    assert net.edge_on_fragment.sum() == 1
    att = attach_points(net, np.array([[120.0, 231.0]]))
    assert not net.edge_on_fragment[att.edge[0]]  # moved onto the street y = 200
    assert att.connector[0] == pytest.approx(31.0)
    field = field_for(net, [(0.0, 0.0)])
    assert field.at(att).distance_m[0] == pytest.approx(31 + 120 + 200, abs=1e-6)


def test_fragment_far_from_the_main_network_stays_an_island(grid):
    # The grid fixture's island lies 1 km away: beyond fragment_snap_m, so unreachable.
    att = attach_points(grid, np.array([[1340.0, 5.0]]))
    assert grid.edge_on_fragment[att.edge[0]]
    assert np.isinf(field_for(grid, [(0.0, 0.0)]).at(att).distance_m[0])
