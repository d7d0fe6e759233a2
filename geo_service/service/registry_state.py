"""The registry as the walking answers see it: one consistent state at a time.

A :class:`RegistryState` holds what the per-request answers derive from the registry's
content at one moment (one :meth:`~geo_service.registry.store.ResourceStore.state_token`):
the resources with a location projected onto the network (:class:`Located`, for staff and
for the public), a spatial index of the service areas, the numbers of resources, one
distance field per category, and whatever else a caller derives and keeps per state
(:attr:`RegistryState.memo`). A request takes one state and answers from it alone
(:func:`one_state`), so an answer never mixes two registry versions. States are read
incrementally (:class:`Reader`): only the resources changed since the last read are parsed
and projected.

:class:`LiveStates` keeps the current state of a service. It is told when the registry may
have changed (:meth:`LiveStates.poke`: a request after :data:`TOKEN_CHECK_SECONDS`, or an
edit in this process) and then, either

- **inline** (the CLI, tests, planning tools): the next caller reads the token and, when it
  changed, builds the new state itself (fields follow as they are asked for); or
- **in the background** (the API): a worker thread reads the token and builds the new
  state complete — located resources, service areas and every category's field (searched
  with the compiled Dijkstra that lets the request threads run meanwhile) — and only then
  swaps it in; requests keep being answered from the old state until then and never wait
  for a rebuild. An edit that arrives while a state is being built supersedes it (the
  build restarts for the newer registry state, at most :data:`MAX_RESTARTS` times in a
  row so that a steady stream of edits cannot starve it); fields are kept by the points
  they were made from, so a rebuild searches again only the categories whose points
  changed — and repairs those fields near the points removed and added rather than
  searching the network anew (:class:`~geo_service.service.field_pool.FieldPool`) — and
  staff and public share a field when their points are the same. After each swap the
  heap is left out of the garbage collector's full collections (:func:`_freeze_heap`).
  The first state is read by its first caller (the API builds it, fields included, before it takes
  requests: :meth:`LiveStates.warm_up`).
"""

from __future__ import annotations

import gc
import logging
import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely

from geo_service.engine.access import DistanceField, attach_points
from geo_service.engine.network import WalkNetwork
from geo_service.memory import gc_paused
from geo_service.registry.resources import Resource
from geo_service.registry.store import ResourceFilter, ResourceStore
from geo_service.registry.store.queries import list_key
from geo_service.service.field_pool import FieldPool
from geo_service.service.located import (
    FEW,
    Located,
    Points,
    ServiceIndex,
    located,
    patched,
    seen_points,
    service_index,
)

#: How often the registry is asked whether it changed (at most; only while requests come):
#: an edit in another process shows in the walking answers this long after, plus a rebuild.
TOKEN_CHECK_SECONDS = 1.0
#: A read asks for the rows written since this long before the newest one it last saw
#: (a change written with an earlier time that commits later is seen in this window; one
#: later still makes the versions' sum differ, and the registry is read whole).
CHANGE_SLACK_SECONDS = 2.0
#: More rows changed than this since the last read (an import): the registry is read whole.
MAX_DERIVED_CHANGES = 500
#: How many times in a row a newer registry state may restart a background build.
MAX_RESTARTS = 3
#: How many steps below the process's CPU priority the rebuilding thread runs (Linux)
REBUILD_NICE = 10

_log = logging.getLogger(__name__)

Token = tuple[int, str]


class Reader:
    """Reads registry states, each derived from the last one: only the rows changed since
    (:meth:`ResourceStore.changes`: by ``updated_at``, which every change renews, deletes
    too) are loaded, parsed and projected, and the located points of the rest are taken
    from the last state's arrays (see :meth:`read`)."""

    def __init__(self, store: ResourceStore, net: WalkNetwork,
                 bounds: tuple[float, float, float, float], pool: FieldPool) -> None:
        self.store, self.net, self.bounds, self.pool = store, net, bounds, pool
        #: id → the resource as last read, and per viewer (staff: True) the points it
        #: sees (lon/lat) with their attachment, or None when it does not see it
        self._kept: dict[str, tuple[Resource, dict[bool, Points | None]]] = {}
        #: every row's version (deleted ones too), their sum, and the newest ``updated_at``
        self._versions: dict[str, int] = {}
        self._sum = 0
        self._newest: datetime | None = None
        #: the live resources' service areas (kind, polygon), and their ids in registry order
        self._areas: dict[str, tuple[str, shapely.Geometry | None]] = {}
        self._order: list[str] = []
        #: what the last read changed: the ids, whether the ids in order did and whether
        #: any service area did (the last state's lists and service index are kept else)
        self._touched: set[str] = set()
        self._reordered = self._areas_moved = True
        #: the ids the public sees, in registry order
        self._public_order: list[str] = []
        #: the last state read (its located arrays are the next one's source)
        self._last: RegistryState | None = None
        #: states read whole and derived from the last one (for tests and logs)
        self.full_reads = self.derived = 0

    def read(self) -> RegistryState:
        """The registry's current state, read consistently: the token is read before and
        after, and the read repeated until it held.

        The rows written since :data:`CHANGE_SLACK_SECONDS` before the newest one last read
        are asked for; those with another version than last read are loaded. Every row is
        read instead for the first state, after an import (more than
        :data:`MAX_DERIVED_CHANGES` rows changed, or as many more rows than last read: then
        the changes are not asked for first) or when the versions' sum shows a change
        written earlier than that window.
        """
        store = self.store
        before = store.state_token()
        # over every try of the loop
        self._touched, self._reordered, self._areas_moved = set(), False, False
        while True:
            # more rows than that added (an import): no need to ask for the changes first
            derived = (self._last is not None
                       and before[0] - self._last.token[0] <= MAX_DERIVED_CHANGES
                       and self._read_changes())
            if not derived:
                self._read_all()
            after = store.state_token()
            if after == before:
                break
            before = after
        if derived:
            self.derived += 1
        else:
            self.full_reads += 1
        state = self._state(after, self._last if derived else None)
        self._last = state
        return state

    def _read_all(self) -> None:
        """Read every row (a whole read)."""
        rows, _ = self.store.changes(None)
        live = [r for r in rows if not r.deleted]
        kept = self._kept
        changed = [r.id for r in live if r.id not in kept or self._versions.get(r.id) != r.version]
        loaded = {r.id: r for r in self.store.get_many(changed)}
        self._kept = {r.id: (loaded[r.id], {}) if r.id in loaded else kept[r.id] for r in live}
        self._versions = {r.id: r.version for r in rows}
        self._sum = sum(self._versions.values())
        self._newest = max((r.updated_at for r in rows), default=None)
        self._areas = {r.id: (r.sa_kind, r.service_geom) for r in live}
        self._order = self.store.ids(ResourceFilter(include_staff=True))
        self._reordered = self._areas_moved = True
        self._touched |= set(self._kept)

    def _read_changes(self) -> bool:
        """Read the rows changed since the last read into the kept ones; False (nothing
        kept changed) when a whole read is needed instead."""
        since = None if self._newest is None else (
            self._newest - timedelta(seconds=CHANGE_SLACK_SECONDS))
        rows, (n, total) = self.store.changes(since)
        versions = self._versions
        changed = [r for r in rows if versions.get(r.id) != r.version]
        if len(changed) > MAX_DERIVED_CHANGES:
            return False
        expect = self._sum + sum(r.version - versions.get(r.id, 0) for r in changed)
        if total != expect or n != len(versions) + sum(r.id not in versions for r in changed):
            return False  # a change outside the window: read whole
        loaded = {r.id: r for r in self.store.get_many([r.id for r in changed
                                                        if not r.deleted])}
        kept, areas = self._kept, self._areas
        reordered = moved = False
        for r in changed:
            old, before = kept.get(r.id), areas.get(r.id, ("none",))[0]
            if r.deleted or r.id not in loaded:
                reordered |= kept.pop(r.id, None) is not None
                moved |= areas.pop(r.id, ("none",))[0] != "none"
                continue
            new = loaded[r.id]
            kept[r.id] = (new, {})
            areas[r.id] = (r.sa_kind, r.service_geom)
            reordered |= old is None or list_key(old[0]) != list_key(new)
            moved |= before != "none" or r.sa_kind != "none"
        for r in changed:
            versions[r.id] = r.version
        self._sum = total
        self._newest = max([r.updated_at for r in rows]
                           + ([self._newest] if self._newest else []), default=None)
        if reordered:
            self._order = self.store.ids(ResourceFilter(include_staff=True))
        self._reordered |= reordered
        self._areas_moved |= moved
        self._touched |= {r.id for r in changed}
        return True

    def _state(self, token: Token, last: RegistryState | None) -> RegistryState:
        """The state of the kept rows: from ``last``'s arrays but for the rows touched by
        the read (None: made whole)."""
        kept, order = self._kept, self._order
        by_viewer = {staff: self._locate(staff, last) for staff in (True, False)}
        public = by_viewer[False].resources
        same_ids = last is not None and not self._reordered and all(
            rid in kept and (rid in public) == (rid in last.located[False].resources)
            for rid in self._touched)
        if last is not None and same_ids and len(self._touched) <= FEW:
            items, shown = list(last.resources[True]), list(last.resources[False])
            for rid in self._touched:  # the same ids in the same places: replace these
                items[order.index(rid)] = kept[rid][0]
                if rid in public:
                    shown[self._public_order.index(rid)] = kept[rid][0]
        else:
            items = [kept[rid][0] for rid in order]
            self._public_order = [rid for rid in order if rid in public]
            shown = [kept[rid][0] for rid in self._public_order]
        if last is not None and same_ids and not self._areas_moved:
            services = last.services  # the same ids in order, no service area changed
        else:
            areas = [(rid, *self._areas[rid]) for rid in order]
            services = {True: service_index(areas),
                        False: service_index([a for a in areas if a[0] in public])}
        return RegistryState(token, by_viewer, services, {True: len(order), False: len(public)},
                             self.pool, {True: items, False: shown})

    def _locate(self, staff: bool, last: RegistryState | None) -> Located:
        """The located points the viewer may see: those of resources new or changed since
        the last read projected onto the network, the others taken from ``last``."""
        kept = self._kept
        new = [(r, seen) for r, seen in kept.values() if staff not in seen] if last is None \
            else [kept[rid] for rid in self._touched if rid in kept]
        shown = []
        for r, seen in new:
            xy = seen_points(r, staff, self.bounds)
            seen[staff] = None
            if xy is not None:
                shown.append((seen, xy))
        if shown:  # attach the new points in one call, then share them out
            xy = np.concatenate([v for _, v in shown])
            metric = np.column_stack(self.net.from_geographic.transform(xy[:, 0], xy[:, 1]))
            att = attach_points(self.net, metric.reshape(-1, 2), max_snap_m=math.inf)
            ends = np.cumsum([len(v) for _, v in shown])
            for (seen, v), end in zip(shown, ends, strict=True):
                seen[staff] = (v, att.take(np.arange(end - len(v), end)))
        if last is None:
            return located(self.net, [(kept[rid][0], p) for rid in self._order
                                       if (p := kept[rid][1][staff]) is not None])
        return patched(self.net, last.located[staff], self._order, self._touched,
                        {rid: (kept[rid][0], p) for rid in self._touched
                         if rid in kept and (p := kept[rid][1][staff]) is not None})

    def read_categories(self, categories: frozenset[str], *, staff: bool) -> Located:
        """The located resources of ``categories`` the viewer may see, read from the
        registry now: only their rows (by their category column), not every resource's;
        nothing is kept (the next :meth:`read` reads as before)."""
        found = self.store.all(ResourceFilter(categories=tuple(sorted(categories)),
                                              include_staff=True))
        shown = [(r, xy) for r in found if (xy := seen_points(r, staff, self.bounds)) is not None]
        xy = np.concatenate([v for _, v in shown] + [np.zeros((0, 2))])
        metric = np.column_stack(self.net.from_geographic.transform(xy[:, 0], xy[:, 1]))
        att = attach_points(self.net, metric.reshape(-1, 2), max_snap_m=math.inf)
        ends = np.cumsum([len(v) for _, v in shown], dtype=np.int64)
        return located(self.net, [(r, (v, att.take(np.arange(end - len(v), end))))
                                   for (r, v), end in zip(shown, ends, strict=True)])


class Memo:
    """Values computed once per key; concurrent callers of a key wait for the one
    computing it (other keys go on)."""

    def __init__(self) -> None:
        self._values: dict[Any, Any] = {}
        self._building: dict[Any, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        """The value of ``key``: ``make()`` the first time."""
        values = self._values
        if key in values:
            return values[key]
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:
            if key not in values:
                values[key] = make()
        return values[key]


class SupersededError(Exception):
    """A newer registry state arrived while this one was being built."""


@dataclass
class RegistryState:
    """What the walking answers derive from one registry state (see the module)."""

    token: Token
    located: dict[bool, Located]  # by staff (True) or public (False)
    services: dict[bool, ServiceIndex]
    counts: dict[bool, int]
    pool: FieldPool
    resources: dict[bool, list[Resource]]  # every one the viewer sees, in registry order
    #: (category, staff) → the category's field and its points' positions in ``located``
    fields: dict[tuple[str, bool], tuple[DistanceField, np.ndarray]] = field(
        default_factory=dict)
    #: what callers derive from this state (:meth:`WalkingService.cached`)
    memo: Memo = field(default_factory=Memo)

    def field(self, category: str, *, staff: bool) -> tuple[DistanceField, np.ndarray]:
        """The distance field to the nearest located point of ``category`` the viewer may
        see, and those points' positions in ``located[staff]`` (made when first asked)."""
        key = (category, staff)
        found = self.fields.get(key)
        if found is None:
            loc = self.located[staff]
            pick = np.flatnonzero(loc.categories == category)
            found = self.fields.setdefault(key, (self.pool.get(
                loc.lonlat[pick], loc.attachment.take(pick), key), pick))
        return found

    def make_fields(self, check: Callable[[], None] = lambda: None) -> None:
        """Make every present category's field for both roles; ``check()`` between them
        (it raises :class:`SupersededError` to give up)."""
        for staff in (True, False):
            for category in sorted(self.located[staff].present):
                check()
                self.field(category, staff=staff)


#: the state a request (or a call of the service) answers from, once it has taken one
_PINNED: ContextVar[dict[int, RegistryState] | None] = ContextVar("geo_service_state",
                                                                  default=None)


class LiveStates:
    """The current :class:`RegistryState` of a registry over a network (see the module).

    Parameters
    ----------
    store, net, bounds
        The registry, the network its points are projected onto, and the extent (lon/lat)
        of the points kept.
    background
        Rebuild in a worker thread and swap (the API) instead of on the caller's thread.
    """

    def __init__(self, store: ResourceStore, net: WalkNetwork,
                 bounds: tuple[float, float, float, float], *, background: bool) -> None:
        self.store, self.net, self.bounds = store, net, bounds
        self.background = background
        self.pool = FieldPool(net, release_gil=background)
        self.reader = Reader(store, net, bounds, self.pool)
        self._current: RegistryState | None = None
        self._checked = -math.inf
        self._lock = threading.Lock()
        #: set when the registry may have changed; the worker thread waits on it
        self._wake = threading.Event()
        self._stop = threading.Event()
        #: set while the worker thread waits for a change; the state it builds (for tests)
        self.idle = threading.Event()
        self.building: Token | None = None
        #: builds finished and builds given up for a newer state (for tests and logs)
        self.builds = self.superseded = 0
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(
                target=_work, args=(weakref.ref(self), self._wake, self._stop, self.idle),
                name="registry-state", daemon=True)
            self._thread.start()

    def poke(self) -> None:
        """The registry may have changed (an edit in this process): look on the next call
        (inline) or now (in the background)."""
        self._checked = -math.inf
        if self.background:
            self._wake.set()

    def warm_up(self) -> None:
        """Make the current state complete now (every category's field) and compile the
        per-request search (:func:`~geo_service.engine.cutoff_dijkstra.warm_up`), e.g.
        before a server takes requests (a command does without both)."""
        from geo_service.engine.cutoff_dijkstra import warm_up

        warm_up()
        self.current().make_fields()
        if self.background:
            _freeze_heap()

    def close(self) -> None:
        """Stop the worker thread (background); the current state stays readable."""
        self._stop.set()
        self._wake.set()

    def current(self) -> RegistryState:
        """The state to answer from: the one pinned to this request or call if any, else
        the newest complete one (inline: after checking the registry's token at most every
        :data:`TOKEN_CHECK_SECONDS`; in the background the check is the worker's)."""
        pinned = _PINNED.get()
        if pinned is not None and id(self) in pinned:
            return pinned[id(self)]
        state = self._fresh()
        if pinned is not None:
            pinned[id(self)] = state
        return state

    def located_of(self, categories: frozenset[str], *, staff: bool) -> Located:
        """The located resources of ``categories`` the viewer may see: from the state to
        answer from (:meth:`current`) once one has been read (a server's, or an earlier
        call's), else from the registry's rows of those categories alone
        (:meth:`Reader.read_categories`: a command that needs one category does not read,
        check and project every resource)."""
        pinned = _PINNED.get()
        if self._current is None and not (pinned is not None and id(self) in pinned):
            return self.reader.read_categories(categories, staff=staff)
        loc = self.current().located[staff]
        return loc.subset(np.flatnonzero(np.isin(loc.categories, list(categories))), categories)

    def _fresh(self) -> RegistryState:
        now = time.monotonic()
        due = now - self._checked > TOKEN_CHECK_SECONDS
        if self.background and self._current is not None:
            if due:
                self._checked = now
                self._wake.set()
            return self._current
        if due or self._current is None:  # inline, or the first state
            token = self.store.state_token()
            self._checked = now
            with self._lock:
                if self._current is None or self._current.token != token:
                    self._swap(self.reader.read())
            if self.background:
                self._wake.set()  # the worker makes the first state's fields
        assert self._current is not None
        return self._current

    def _swap(self, state: RegistryState) -> None:
        self._current = state
        self.pool.keep([state])
        self.builds += 1
        if self.background:
            _freeze_heap()

    def settle(self, timeout: float) -> bool:
        """Wait until the current state is the registry's (a rebuild after an edit has
        been swapped in); whether that happened within ``timeout`` seconds. For tests and
        tools: requests never wait."""
        deadline = time.monotonic() + timeout
        while True:
            state = self._fresh() if self._current is None or not self.background else (
                self._current)
            if state.token == self.store.state_token():
                return True
            if time.monotonic() > deadline:
                return False
            self.poke()
            time.sleep(0.02)

    def _build(self) -> None:
        """Worker: bring the current state up to the registry's (see the module)."""
        restarts = 0
        while True:
            token = self.store.state_token()
            if self._current is None:
                return  # the first state is read by the first caller
            if self._current.token == token:
                self._current.make_fields()  # the first state's, made as asked until now
                return
            state = self.reader.read()
            self.building = state.token
            try:
                state.make_fields(self._check(state.token, restarts))
            except SupersededError:
                restarts += 1
                self.superseded += 1
                self.pool.keep([self._current, state])  # its finished fields serve the next
                continue
            with self._lock:
                self._swap(state)
            return


    def _check(self, token: Token, restarts: int) -> Callable[[], None]:
        """Between two fields of a build of ``token``: give up (:class:`SupersededError`)
        when the registry moved on since, unless ``restarts`` reached the limit."""
        def check() -> None:
            if restarts < MAX_RESTARTS and self._wake.is_set() and not self._stop.is_set():
                self._wake.clear()
                if self.store.state_token() != token:
                    raise SupersededError
        return check


def _freeze_heap() -> None:
    """Leave what is alive now (the region, the registry state just swapped in) out of the
    cyclic garbage collector's full collections (:func:`gc.freeze`).

    A state lives until the next edit, and a full collection scanned it each time a few
    states' worth of objects had come and gone: at 45,000 resources a pause of 2.3–2.7 s
    holding Python's lock (every request waited), every other edit; with the heap frozen
    after each swap the full collections take milliseconds. The worker builds with the
    collector paused (:func:`~geo_service.memory.gc_paused`), so that the objects of a
    large new state (an import's) are frozen before any collection scans them. A state is
    freed by reference
    counting when the next replaces it (it holds no reference cycle: tested), so freezing
    keeps nothing alive that would otherwise be freed but cyclic garbage alive at that
    moment (247 objects after 30 edits under two threads of requests, 5,000 resources).
    """
    gc.freeze()


def _lower_priority() -> None:
    """Linux: run this thread :data:`REBUILD_NICE` steps below the process's CPU priority
    (``nice``; a Linux thread has a priority of its own), so that the requests of every
    worker process of the server go first when the cores are busy: after a large import
    each worker rebuilds its state at the same time, and without it the requests of a
    2-core machine waited for the rebuilds' turns."""
    if sys.platform == "linux":
        nice = min(19, os.getpriority(os.PRIO_PROCESS, 0) + REBUILD_NICE)
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError:  # not allowed here: the rebuild runs at the requests' priority
            _log.warning("could not lower the priority of the registry state's rebuilds")


def _work(ref: weakref.ref[LiveStates], wake: threading.Event, stop: threading.Event,
          idle: threading.Event) -> None:
    """The worker thread of a background :class:`LiveStates` (holding it only while it
    builds, so that a service nobody uses any more can be collected), at a lower CPU
    priority than the requests' threads (:func:`_lower_priority`)."""
    _lower_priority()
    while not stop.is_set():
        idle.set()
        if not wake.wait(timeout=60):
            if ref() is None:
                return
            continue
        idle.clear()
        wake.clear()
        live = ref()
        if live is None or stop.is_set():
            return
        try:
            with gc_paused():  # the new state's objects are frozen, not scanned (see below)
                live._build()
        except Exception:  # e.g. the database away: keep serving, try on the next poke
            _log.exception("rebuilding the registry's walking state failed")
            time.sleep(1.0)
        del live


@contextmanager
def one_state() -> Iterator[None]:
    """Within this block every :meth:`LiveStates.current` answers the same state (the
    first one taken): what a request computes comes from one registry version."""
    if _PINNED.get() is not None:
        yield
        return
    reset = _PINNED.set({})
    try:
        yield
    finally:
        _PINNED.reset(reset)
