"""The NumPy nearest-edge search (``WalkNetwork.edge_index``) against GEOS.

``attach_points`` must give what ``STRtree.query_nearest`` + ``line_locate_point`` give:
the same distance to the nearest edge, and on that edge the same offset (to 1e-9 m); where
two edges tie, either may be chosen, but then both are at the same distance.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo_service.engine.access import attach_points
from geo_service.engine.network import WalkNetwork
from geo_service.engine.snapping import EdgeIndex


def _geos(net: WalkNetwork, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    points = shapely.points(xy)
    tree = shapely.STRtree(net.edge_geometry)
    (which, edge), dist = tree.query_nearest(points, return_distance=True, all_matches=False)
    order = np.argsort(which, kind="stable")
    return edge[order], dist[order]


def _check(net: WalkNetwork, xy: np.ndarray) -> None:
    g_edge, g_dist = _geos(net, xy)
    att = attach_points(net, xy, max_snap_m=np.inf)
    np.testing.assert_allclose(att.connector, g_dist, rtol=0, atol=1e-9)
    geoms = net.edge_geometry[att.edge]
    # the chosen edge really is at that distance
    np.testing.assert_allclose(shapely.distance(geoms, shapely.points(xy)), att.connector,
                               rtol=0, atol=1e-9)
    offset = np.clip(shapely.line_locate_point(geoms, shapely.points(xy)), 0,
                     net.edge_length[att.edge])
    np.testing.assert_allclose(att.offset, offset, rtol=0, atol=1e-9)
    same = att.edge == g_edge
    assert same.mean() > 0.5  # ties aside, the same edges


def _random_segments(rng: np.random.Generator, n: int, *, size: float = 1000.0,
                     max_len: float = 80.0) -> WalkNetwork:
    start = rng.uniform(0, size, (n, 2))
    end = start + rng.uniform(-max_len, max_len, (n, 2))
    end[:5] = start[:5] + rng.uniform(-3 * size, 3 * size, (5, 2))  # a few long ones
    xy = np.concatenate([start, end])
    return WalkNetwork.from_edges(np.arange(2 * n), xy, np.arange(n), np.arange(n, 2 * n),
                                  None, crs="EPSG:6677")


def _grid(n: int, spacing: float = 50.0, *, curved: bool = False) -> WalkNetwork:
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    xy = np.column_stack([ii.ravel() * spacing, jj.ravel() * spacing]).astype(float)
    node = ii * n + jj
    u = np.concatenate([node[:-1, :].ravel(), node[:, :-1].ravel()])
    v = np.concatenate([node[1:, :].ravel(), node[:, 1:].ravel()])
    geoms = None
    if curved:  # every third edge bends out sideways through one or two vertices
        lines = shapely.linestrings(np.stack([xy[u], xy[v]], axis=1))
        mid = (xy[u] + xy[v]) / 2 + np.array([7.0, -5.0])
        bent = [shapely.LineString([xy[a], m, xy[b]]) if k % 3 == 0 else
                shapely.LineString([xy[a], m - 3, m + 4, xy[b]]) if k % 3 == 1 else line
                for k, (a, b, m, line) in enumerate(zip(u, v, mid, lines, strict=True))]
        geoms = np.array(bent, dtype=object)
    return WalkNetwork.from_edges(np.arange(len(xy)), xy, u, v, geoms, crs="EPSG:6677")


def test_random_points_on_random_segments() -> None:
    rng = np.random.default_rng(1)
    net = _random_segments(rng, 3000)
    assert net.straight_edges
    xy = rng.uniform(-200, 1200, (20000, 2))
    _check(net, xy)


def test_far_points_take_the_exhaustive_path() -> None:
    rng = np.random.default_rng(2)
    net = _random_segments(rng, 2000, size=500)
    xy = np.concatenate([rng.uniform(-50_000, 50_000, (300, 2)),
                         np.array([[1e6, -1e6], [-3e5, 2e5]])])
    _check(net, xy)


def test_ties_on_a_grid() -> None:
    """Points on nodes, on edge midpoints and halfway between parallel streets."""
    net = _grid(30)
    rng = np.random.default_rng(3)
    k = rng.integers(0, 29, (3000, 2)).astype(float)
    xy = np.concatenate([k * 50, k * 50 + [25, 0], k * 50 + [25, 25], k * 50 + [0, 25],
                         rng.uniform(-100, 1600, (5000, 2))])
    g_edge, g_dist = _geos(net, xy)
    att = attach_points(net, xy, max_snap_m=np.inf)
    np.testing.assert_allclose(att.connector, g_dist, rtol=0, atol=1e-9)
    # a tie: the chosen edge is as near as GEOS's choice
    pts = shapely.points(xy)
    np.testing.assert_allclose(shapely.distance(net.edge_geometry[att.edge], pts),
                               shapely.distance(net.edge_geometry[g_edge], pts), atol=1e-9)
    _check(net, xy)


def test_curved_edges_use_geos() -> None:
    net = _grid(20, curved=True)
    assert not net.straight_edges
    index = net.edge_index
    assert len(index.curved) > 0 and len(index.seg_edge) > 0
    rng = np.random.default_rng(4)
    xy = np.concatenate([rng.uniform(-100, 1100, (8000, 2)),
                         net.node_xy[rng.integers(0, net.n_nodes, 500)]])
    _check(net, xy)


def test_fragment_preference_unchanged() -> None:
    """A point nearest to a small fragment moves onto the main network when it is close."""
    main = _grid(6, 100.0)
    # a two-node fragment 3 m off the grid's street x = 0 (between y = 0 and 100)
    xy = np.concatenate([main.node_xy, [[-3.0, 20.0], [-3.0, 40.0]]])
    n = len(main.node_xy)
    net = WalkNetwork.from_edges(np.arange(len(xy)), xy, np.r_[main.edge_u, n],
                                 np.r_[main.edge_v, n + 1], None, crs="EPSG:6677")
    assert net.edge_on_fragment[-1]
    att = attach_points(net, np.array([[-2.0, 30.0], [-20.0, 30.0]]))
    assert not net.edge_on_fragment[att.edge[0]]  # moved: the main street is 2 m away
    assert att.connector[0] == pytest.approx(2.0)


def test_lazy_geometry_equals_built() -> None:
    rng = np.random.default_rng(5)
    net = _random_segments(rng, 500)
    assert "edge_geometry" not in net.__dict__  # not built by construction or lengths
    length = net.edge_length
    _ = net.edge_index
    assert "edge_geometry" not in net.__dict__
    np.testing.assert_array_equal(length, shapely.length(net.edge_geometry))
    copy = net.with_speed(1.2)
    assert copy.straight_edges and copy.walking_speed_mps == 1.2
    np.testing.assert_array_equal(copy.edge_length, length)


def test_empty_and_single_segment() -> None:
    net = WalkNetwork.from_edges(np.arange(2), np.array([[0.0, 0.0], [10.0, 0.0]]),
                                 np.array([0]), np.array([1]), None, crs="EPSG:6677")
    att = attach_points(net, np.array([[5.0, 3.0], [-4.0, 3.0], [20.0, 0.0]]))
    np.testing.assert_allclose(att.connector, [3.0, 5.0, 10.0])
    np.testing.assert_allclose(att.offset, [5.0, 0.0, 10.0])
    assert len(attach_points(net, np.zeros((0, 2)))) == 0
    assert isinstance(net.edge_index, EdgeIndex)
