"""Dijkstra searches that touch only the nodes they reach, on one compiled binary heap.

scipy's :func:`scipy.sparse.csgraph.dijkstra` is used for the engine's whole-network
passes, but each call allocates and initialises state for *every* node of the graph (a
250,000-node network costs milliseconds before the first edge is relaxed), however small
its ``limit``. So this module compiles (numba) Dijkstra's searches on one binary heap of
(cost, node) entries with lazy deletion (a node reached sooner is pushed again; the entry
it leaves behind is skipped when popped), which is quicker than decrease-key on street
networks. Two searches share it:

- :func:`cutoff_dijkstra` (and :func:`cutoff_dijkstra_along`), for per-request searches:
  starting costs per source and a cut-off; its per-thread scratch rows of the graph's size
  are reset node by node after each call, so a search costs O(reached edges · log) and
  nothing per untouched node. The answers are those of scipy's Dijkstra from a virtual
  node with an edge of the starting cost to each source (tested exactly, node for node).
- :func:`improve_dijkstra`, for repairing a distance field in place (the what-if
  scenarios of :mod:`geo_service.planning.scenarios`): a search that enters a node only
  when it reaches it strictly sooner than its current value, carrying a label (the
  nearest resource).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy import sparse

# The helpers that run once per relaxation (_push, _enter, _relabel) are inlined into the
# searches (numba's inline="always"): as calls they made a search up to a fifth slower.


@njit(cache=True, nogil=True, inline="always")
def _push(keys: np.ndarray, nodes: np.ndarray, size: int, cost: float,
          node: int) -> tuple[np.ndarray, np.ndarray, int]:  # pragma: no cover - compiled
    # the heap is keys[:size] (costs) and nodes[:size]; it grows by doubling
    if size == len(keys):
        keys = np.concatenate((keys, np.empty_like(keys)))
        nodes = np.concatenate((nodes, np.empty_like(nodes)))
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] <= cost:
            break
        keys[i], nodes[i] = keys[parent], nodes[parent]
        i = parent
    keys[i], nodes[i] = cost, node
    return keys, nodes, size + 1


@njit(cache=True, nogil=True)
def _pop(keys: np.ndarray, nodes: np.ndarray,
         size: int) -> tuple[float, int, int]:  # pragma: no cover - compiled
    cost, node = keys[0], nodes[0]
    size -= 1
    last_c, last_n = keys[size], nodes[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and keys[child + 1] < keys[child]:
            child += 1
        if keys[child] >= last_c:
            break
        keys[i], nodes[i] = keys[child], nodes[child]
        i = child
    if size > 0:
        keys[i], nodes[i] = last_c, last_n
    return cost, node, size


@njit(cache=True, nogil=True, inline="always")
def _enter(v: int, cost: float, key: float, keys: np.ndarray, nodes: np.ndarray, size: int,
           reached: np.ndarray, n_reached: int, best: np.ndarray, where: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, int]:  # pragma: no cover
    # give v the lower cost and push it at `key` (the cost, plus the estimate of the rest
    # when aiming); the first time, list it in `reached` (where 0)
    if where[v] == -1:
        if n_reached == len(reached):
            reached = np.concatenate((reached, np.empty_like(reached)))
        reached[n_reached] = v
        n_reached += 1
        where[v] = 0
    best[v] = cost
    keys, nodes, size = _push(keys, nodes, size, key, v)
    return keys, nodes, size, reached, n_reached


@njit(cache=True, nogil=True, inline="always")
def _estimate(v: int, node_xy: np.ndarray, goal_xy: np.ndarray,
              cost_per_metre: float) -> float:  # pragma: no cover - compiled
    # a lower bound of the cost from v to the nearest goal: the straight line's
    best = np.inf
    for g in range(len(goal_xy)):
        dx, dy = node_xy[v, 0] - goal_xy[g, 0], node_xy[v, 1] - goal_xy[g, 1]
        best = min(best, dx * dx + dy * dy)
    return np.sqrt(best) * cost_per_metre


@njit(cache=True, nogil=True)
def _search(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray,
            along_weights: np.ndarray, sources: np.ndarray, source_costs: np.ndarray,
            source_along: np.ndarray, limit: float, best: np.ndarray, where: np.ndarray,
            wanted: np.ndarray, along: np.ndarray, estimate: np.ndarray, at: np.ndarray,
            node_xy: np.ndarray, cost_per_metre: float
            ) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    # where[v]: -1 never reached, 0 reached (listed in `reached`), -2 settled; wanted[v]
    # marks the nodes of `at` (the search ends once all are settled); these three rows
    # are restored before returning. With along_weights, along[v] sums them over the path
    # that gave best[v] (written, never read unset). With node_xy (A*), a node is keyed by
    # its cost plus estimate[v], the straight line to the nearest node of `at` times
    # cost_per_metre (written when v is first reached, never read unset).
    track = len(along_weights) > 0
    aim = len(node_xy) > 0
    goal_xy = node_xy[at] if aim else node_xy
    remaining = 0
    for i in range(len(at)):
        if not wanted[at[i]]:
            wanted[at[i]] = True
            remaining += 1
    keys = np.empty(64)
    nodes = np.empty(64, dtype=np.int64)
    reached = np.empty(64, dtype=np.int64)
    size = n_reached = 0
    for k in range(len(sources)):
        s, c = sources[k], source_costs[k]
        if c <= limit and c < best[s]:
            if aim and where[s] == -1:
                estimate[s] = _estimate(s, node_xy, goal_xy, cost_per_metre)
            keys, nodes, size, reached, n_reached = _enter(
                s, c, c + estimate[s] if aim else c, keys, nodes, size, reached, n_reached,
                best, where)
            if track:
                along[s] = source_along[k]
    while size > 0 and remaining > 0:
        key, u, size = _pop(keys, nodes, size)
        if key > (best[u] + estimate[u] if aim else best[u]):
            continue  # left behind: u was reached sooner since
        d = best[u]
        if wanted[u] and where[u] != -2:  # (a node settled again, by rounding, counts once)
            remaining -= 1
        where[u] = -2
        for j in range(indptr[u], indptr[u + 1]):
            v = indices[j]
            nd = d + weights[j]
            if nd <= limit and nd < best[v]:
                if aim and where[v] == -1:
                    estimate[v] = _estimate(v, node_xy, goal_xy, cost_per_metre)
                keys, nodes, size, reached, n_reached = _enter(
                    v, nd, nd + estimate[v] if aim else nd, keys, nodes, size, reached,
                    n_reached, best, where)
                if track:
                    along[v] = along[u] + along_weights[j]
    costs = np.full(len(at), np.inf)
    alongs = np.full(len(at), np.nan)
    for i in range(len(at)):
        if where[at[i]] == -2:
            costs[i] = best[at[i]]
            if track:
                alongs[i] = along[at[i]]
        wanted[at[i]] = False
    for i in range(n_reached):  # leave the scratch rows as they were found
        best[reached[i]] = np.inf
        where[reached[i]] = -1
    return costs, alongs


@njit(cache=True, nogil=True, inline="always")
def _relabel(v: int, cost: float, lab: int, keys: np.ndarray, nodes: np.ndarray, size: int,
             changed: np.ndarray, n_changed: int, best: np.ndarray, label: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, int]:  # pragma: no cover
    # give v the lower cost and the label `lab`, push it and list it in `changed`
    best[v], label[v] = cost, lab
    keys, nodes, size = _push(keys, nodes, size, cost, v)
    if n_changed == len(changed):
        changed = np.concatenate((changed, np.empty_like(changed)))
    changed[n_changed] = v
    return keys, nodes, size, changed, n_changed + 1


@njit(cache=True, nogil=True)
def _improve(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray,
             seed_node: np.ndarray, seed_cost: np.ndarray, seed_label: np.ndarray,
             best: np.ndarray, label: np.ndarray) -> np.ndarray:  # pragma: no cover
    # the caller's field (best, label) is lowered in place; returns the nodes lowered
    keys = np.empty(max(64, 2 * len(seed_node)))
    nodes = np.empty(len(keys), dtype=np.int64)
    size = 0
    changed = np.empty(max(64, len(seed_node)), dtype=np.int64)
    n_changed = 0
    for k in range(len(seed_node)):
        s, c = seed_node[k], seed_cost[k]
        if c < best[s]:
            keys, nodes, size, changed, n_changed = _relabel(s, c, seed_label[k], keys, nodes,
                                                             size, changed, n_changed, best,
                                                             label)
    while size > 0:
        d, u, size = _pop(keys, nodes, size)
        if d > best[u]:
            continue  # left behind: u was reached sooner since
        lab = label[u]
        for j in range(indptr[u], indptr[u + 1]):
            v = indices[j]
            nd = d + weights[j]
            if nd < best[v]:
                keys, nodes, size, changed, n_changed = _relabel(v, nd, lab, keys, nodes, size,
                                                                 changed, n_changed, best,
                                                                 label)
    return changed[:n_changed]

_scratch = threading.local()


def _scratch_rows(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                    np.ndarray]:
    """This thread's rows for an ``n``-node graph: costs (``inf``), search states (−1)
    and wanted marks (False), as every search leaves them, and the second sums and the
    estimates (any)."""
    rows = getattr(_scratch, "rows", None)
    if rows is None:
        rows = _scratch.rows = {}
    if n not in rows:
        rows[n] = (np.full(n, np.inf), np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=bool),
                   np.zeros(n), np.zeros(n))
    return rows[n]


def cutoff_dijkstra(graph: sparse.csr_matrix, sources: np.ndarray, source_costs: np.ndarray,
                    limit: float, at: np.ndarray) -> np.ndarray:
    """Least cost from any source (starting at its cost) to the nodes ``at``, searching
    only the nodes within ``limit`` and stopping once every node of ``at`` is settled.

    Parameters
    ----------
    graph
        Directed graph, CSR, non-negative weights (row = from, column = to).
    sources, source_costs
        Start nodes and the cost already spent to reach each.
    limit
        Nodes costing more are not reached (``inf`` searches everything reachable).
    at
        The nodes whose costs are wanted (any number, repeats allowed).

    Returns
    -------
    costs
        Per node of ``at``: its least cost, or ``inf`` when it costs more than ``limit``
        or cannot be reached.
    """
    return _run(graph, None, sources, source_costs, None, limit, at)[0]


def cutoff_dijkstra_along(graph: sparse.csr_matrix, along_weights: np.ndarray,
                          sources: np.ndarray, source_costs: np.ndarray,
                          source_along: np.ndarray, limit: float, at: np.ndarray, *,
                          aim: Aim | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cutoff_dijkstra`, also summing a second weight along each least-cost path
    (e.g. the metres of the quickest walk, searching by time).

    ``along_weights`` is aligned with ``graph.data``; ``source_along`` is each source's
    starting value. Returns the costs and, per node of ``at``, the second sum over the
    path that gave its cost (NaN where the cost is ``inf``).

    With ``aim`` the search is an A* toward the nodes of ``at``: it orders the nodes it
    reaches by their cost plus the straight line to the nearest node of ``at`` at the
    least cost a metre can take, and so settles those nodes, at the same costs, after
    touching only the nodes roughly between them and the sources, not a disc around the
    sources (a target 2 km away, beyond the walking threshold).
    """
    return _run(graph, along_weights, sources, source_costs, source_along, limit, at, aim)


@dataclass(frozen=True)
class Aim:
    """Where the nodes of a graph lie (``node_xy``, metres) and the least cost of a metre
    of straight line between two of them (``cost_per_metre``: no path is cheaper), for an
    A* search (:func:`cutoff_dijkstra_along`)."""

    node_xy: np.ndarray
    cost_per_metre: float


def improve_dijkstra(graph: sparse.csr_matrix, seed_nodes: np.ndarray, seed_costs: np.ndarray,
                     seed_labels: np.ndarray, best: np.ndarray,
                     label: np.ndarray) -> np.ndarray:
    """Lower a distance field in place from seeds: a Dijkstra that enters a node only
    when it reaches it strictly sooner than its current value (a pruned search).

    Parameters
    ----------
    graph
        Directed graph, CSR, non-negative weights (row = from, column = to).
    seed_nodes, seed_costs, seed_labels
        Where the search starts, at what cost, and the label each seed carries (e.g.
        the resource it stands for).
    best, label
        The field (float64, one value per node; ``inf`` for none) and its labels (int64),
        both changed in place: a node reached sooner takes the cost and the label of the
        path that reached it.

    Returns
    -------
    nodes
        The nodes whose value was lowered, in the order lowered (a node lowered twice is
        listed twice).
    """
    n = graph.shape[0]
    if len(best) != n or len(label) != n or not (len(seed_nodes) == len(seed_costs)
                                                   == len(seed_labels)):
        raise ValueError("one value and label per node, one cost and label per seed")
    return _improve(graph.indptr, graph.indices, graph.data,
                    np.asarray(seed_nodes, dtype=np.int64),
                    np.asarray(seed_costs, dtype=np.float64),
                    np.asarray(seed_labels, dtype=np.int64), best, label)


def _run(graph: sparse.csr_matrix, along_weights: np.ndarray | None, sources: np.ndarray,
         source_costs: np.ndarray, source_along: np.ndarray | None, limit: float,
         at: np.ndarray, aim: Aim | None = None) -> tuple[np.ndarray, np.ndarray]:
    sources = np.asarray(sources, dtype=np.int64)
    source_costs = np.asarray(source_costs, dtype=np.float64)
    if (source_costs < 0).any() or len(sources) != len(source_costs):
        raise ValueError("one non-negative starting cost per source is needed")
    at = np.asarray(at, dtype=np.int64)
    n = graph.shape[0]
    for name, nodes in (("sources", sources), ("at", at)):
        if len(nodes) and (nodes.min() < 0 or nodes.max() >= n):
            raise IndexError(f"{name} must be node indices of the graph (0 … {n - 1})")
    if along_weights is None:
        along_weights = source_along = np.zeros(0)
    elif (source_along is None or len(along_weights) != len(graph.data)
          or len(source_along) != len(sources)):
        raise ValueError("one second weight per graph entry and per source is needed")
    node_xy, cost_per_metre = (np.zeros((0, 2)), 0.0) if aim is None else (
        aim.node_xy, aim.cost_per_metre)
    if aim is not None and (node_xy.shape != (n, 2) or not cost_per_metre >= 0):
        raise ValueError("an aim needs x, y per node and a non-negative cost per metre")
    return _search(graph.indptr, graph.indices, graph.data,
                   np.asarray(along_weights, dtype=np.float64), sources, source_costs,
                   np.asarray(source_along, dtype=np.float64), float(limit),
                   *_scratch_rows(n), at, np.asarray(node_xy, dtype=np.float64),
                   float(cost_per_metre))


def warm_up() -> None:
    """Compile the search now (about 3 s the first time, then loaded from numba's on-disk
    cache), so that a service's first request does not wait for it."""
    graph = sparse.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    cutoff_dijkstra_along(graph, graph.data, np.array([0]), np.zeros(1), np.zeros(1), 2.0,
                          np.array([1]))
