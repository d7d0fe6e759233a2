"""Checking a distance field against the field made anew."""

from __future__ import annotations

import numpy as np

from geo_service.engine.access import Attachment, DistanceField
from geo_service.engine.network import WalkNetwork


def same_field(field: DistanceField, net: WalkNetwork, att: Attachment) -> None:
    """``field`` has the values of the field of ``att`` made anew, bit for bit, and each
    node's label names a point of ``att`` from which its value is reached."""
    full = DistanceField(net, att, release_gil=True)
    np.testing.assert_array_equal(field.node_distance, full.node_distance)
    np.testing.assert_array_equal(field.node_seconds, full.node_seconds)
    for value, label, kind in ((field.node_distance, field.node_nearest, "distance"),
                               (field.node_seconds, field.node_quickest, "seconds")):
        np.testing.assert_array_equal(label < 0, ~np.isfinite(value))
        one = np.array([getattr(DistanceField(net, att.take([k])), f"node_{kind}")
                        for k in range(len(att))]).reshape(len(att), net.n_nodes)
        reached = np.flatnonzero(label >= 0)
        np.testing.assert_array_equal(one[label[reached], reached], value[reached])
