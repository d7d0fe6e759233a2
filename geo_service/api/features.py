"""Resources as GeoJSON Feature JSON, serialised once per resource version and role, and
collections answered by splicing those bytes (the same bytes the models would give).

The cache is per process and per store. An entry is keyed by the resource's id and role and
remembers the ``updated_at`` it was made from: every change of a resource (in this process
or another worker's) sets a new ``updated_at``, so an entry is never served stale, and it
is replaced, so there is at most one entry per resource and role.
"""

from __future__ import annotations

from datetime import datetime
from weakref import WeakKeyDictionary

from pydantic import BaseModel

from geo_service.api.schemas.resources import FeatureCollection, ResourcePublic, ResourceStaff
from geo_service.api.views import to_collection, to_feature
from geo_service.registry.resources import Resource
from geo_service.registry.store import ResourceFilter, ResourceStore


class FeatureCache:
    """Each resource's Feature JSON for staff and for the public (see the module)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, bool], tuple[datetime, bytes]] = {}

    def feature_json(self, resource: Resource, *, staff: bool) -> bytes:
        """``views.to_feature(resource, staff=staff)`` as JSON, made once per version.

        Raises
        ------
        NotFoundError
            For the public, when the resource is staff-only or deleted.
        """
        key = (resource.id, staff)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == resource.updated_at:
            return entry[1]
        feature = to_feature(resource, staff=staff)
        out = feature.__pydantic_serializer__.to_json(feature)
        if resource.updated_at is not None:  # a stored version
            self._entries[key] = (resource.updated_at, out)
        return out

    def page_json(self, store: ResourceStore, refs: list[tuple[str, datetime]], *,
                  staff: bool) -> list[bytes] | None:
        """The Feature JSON of the resources named by (id, ``updated_at``) pairs (from
        :meth:`ResourceStore.page_refs`), loading the missing ones in one query; None when
        one of them has changed since."""
        entries = self._entries
        out: list[bytes] = []
        missing: dict[int, tuple[str, datetime]] = {}  # position in the page → its ref
        for k, (rid, at) in enumerate(refs):
            entry = entries.get((rid, staff))
            if entry is not None and entry[0] == at:
                out.append(entry[1])
            else:
                out.append(b"")
                missing[k] = (rid, at)
        if missing:
            loaded = {r.id: r for r in store.get_many([rid for rid, _ in missing.values()])}
            for k, (rid, at) in missing.items():
                resource = loaded.get(rid)
                if resource is None or resource.updated_at != at:
                    return None
                out[k] = self.feature_json(resource, staff=staff)
        return out


_caches: WeakKeyDictionary[ResourceStore, FeatureCache] = WeakKeyDictionary()


def feature_cache(store: ResourceStore) -> FeatureCache:
    """This process's :class:`FeatureCache` of the resources in ``store``."""
    cache = _caches.get(store)
    if cache is None:
        cache = _caches.setdefault(store, FeatureCache())
    return cache


def splice(head: BaseModel, features: list[bytes]) -> bytes:
    """``head`` (a collection serialised with an empty ``features`` list) with the
    already serialised features put in that list: the bytes ``model_dump_json`` would
    give for the whole collection, without serialising each feature again."""
    empty = b'"features":[]'
    out = head.__pydantic_serializer__.to_json(head)
    at = out.index(empty) + len(empty) - 1
    return out[:at] + b",".join(features) + out[at:]


def collection_json(store: ResourceStore, f: ResourceFilter, *, limit: int, offset: int,
                    staff: bool, sort: str = "name", descending: bool = False) -> bytes:
    """One page of the resources matching ``f`` (sorted as :meth:`ResourceStore.list`
    sorts) as the role's FeatureCollection JSON: the bytes of
    ``views.to_collection(store.list(f, ...), staff=staff).model_dump_json()``, from one
    query (ids and versions) when the features are cached."""
    order = {"sort": sort, "descending": descending}
    refs, total = store.page_refs(f, limit=limit, offset=offset, **order)
    features = feature_cache(store).page_json(store, refs, staff=staff)
    if features is None:  # a resource of the page changed meanwhile: the uncached way
        page = to_collection(store.list(f, limit=limit, offset=offset, **order), staff=staff)
        return page.__pydantic_serializer__.to_json(page)
    cls = FeatureCollection[ResourceStaff] if staff else FeatureCollection[ResourcePublic]
    return splice(cls(features=[], total=total, limit=limit, offset=offset), features)
