"""A distance field repaired after an edit (``DistanceField.edited``) is the field made
anew: by hand on the 100 m grid, and node for node, bit for bit, after random sequences
of additions, removals and moves on a sloped grid and on the demo town."""

from __future__ import annotations

import numpy as np
import pytest

from geo_service.engine.access import DistanceField, attach_points
from geo_service.engine.network import WalkNetwork
from tests.utils.fields import same_field
from tests.utils.grid import X0, Y0, grid_region


def node(i: int, j: int) -> int:
    """The grid's node at column ``i``, row ``j`` (100 m blocks)."""
    return i + 11 * j


def test_an_added_a_moved_and_a_removed_resource_by_hand():
    net = grid_region().net  # flat, 1 m/s: seconds are metres
    xy = np.array([[X0, Y0], [X0 + 1000, Y0 + 1000]])  # corners A (0, 0) and B (10, 10)
    field = DistanceField(net, attach_points(net, xy))
    assert field.node_distance[node(5, 5)] == 1000.0  # as far from both
    assert field.node_distance[node(0, 10)] == 1000.0
    # C added at (3, 0): nodes nearer to it than to A and B take it
    xy2 = np.vstack([xy, [X0 + 300, Y0]])
    added = field.edited(attach_points(net, xy2), np.array([0, 1, -1]))
    assert added.node_distance[node(5, 5)] == 700.0 and added.node_nearest[node(5, 5)] == 2
    assert added.node_distance[node(1, 0)] == 100.0 and added.node_nearest[node(1, 0)] == 0
    assert added.node_distance[node(0, 10)] == 1000.0
    same_field(added, net, attach_points(net, xy2))
    # A moved to (0, 8), listed last now: a removal and an addition
    xy3 = np.array([[X0 + 1000, Y0 + 1000], [X0 + 300, Y0], [X0, Y0 + 800]])
    moved = added.edited(attach_points(net, xy3), np.array([1, 2, -1]))
    assert moved.node_distance[node(0, 0)] == 300.0 and moved.node_nearest[node(0, 0)] == 1
    assert moved.node_distance[node(0, 10)] == 200.0 and moved.node_nearest[node(0, 10)] == 2
    assert moved.node_seconds[node(0, 10)] == 200.0 and moved.node_quickest[node(0, 10)] == 2
    same_field(moved, net, attach_points(net, xy3))
    # every resource removed: nothing is reached
    gone = moved.edited(attach_points(net, np.zeros((0, 2))), np.zeros(0, dtype=np.int64))
    assert np.isinf(gone.node_distance).all() and (gone.node_nearest == -1).all()
    assert np.isinf(gone.node_seconds).all()


def random_edits(net: WalkNetwork, xy: np.ndarray, rng: np.random.Generator,
                 steps: int) -> None:
    """Apply ``steps`` random edits (add, remove, move one or a few resources) to the field
    of ``xy``, each repaired from the last, and compare each with the field made anew."""
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    field = DistanceField(net, attach_points(net, xy))
    for _ in range(steps):
        keep = np.ones(len(xy), dtype=bool)
        if len(xy) and rng.random() < 0.6:  # remove (or move: remove, then add)
            keep[rng.choice(len(xy), size=min(len(xy), rng.integers(1, 3)), replace=False)] = False
        new = rng.uniform(lo, hi, size=(rng.integers(0, 3), 2))
        order = rng.permutation(int(keep.sum()) + len(new))  # positions shuffled too
        previous = np.concatenate([np.flatnonzero(keep), np.full(len(new), -1)])[order]
        xy = np.vstack([xy[keep], new])[order]
        att = attach_points(net, xy, max_snap_m=np.inf)
        field = field.edited(att, previous)
        same_field(field, net, att)


def test_random_edits_on_a_sloped_grid_give_the_field_made_anew():
    net = grid_region(slope=0.05).net  # uphill is slower: the time field has its own labels
    assert net.has_elevation
    rng = np.random.default_rng(19)
    random_edits(net, rng.uniform([X0, Y0], [X0 + 1000, Y0 + 1000], size=(6, 2)), rng, 40)


@pytest.fixture(scope="module")
def demo_net(tmp_path_factory) -> WalkNetwork:
    from geo_service.engine.region import Region
    from geo_service.jobs.demo import run_demo

    out = tmp_path_factory.mktemp("demo") / "out"
    run_demo(out)
    return Region.load(out / "region").net


def test_random_edits_on_the_demo_town_give_the_field_made_anew(demo_net):
    rng = np.random.default_rng(3)
    lo, hi = demo_net.node_xy.min(axis=0), demo_net.node_xy.max(axis=0)
    random_edits(demo_net, rng.uniform(lo, hi, size=(8, 2)), rng, 40)
