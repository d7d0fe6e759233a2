"""Where a store's resources are: the region it serves and holds, and each resource's
responsible area (the area of the region's area layer that holds it).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine, insert, select

from geo_service._errors import InputError
from geo_service.i18n import msg
from geo_service.inputs.boundaries import AreaLayer
from geo_service.registry.resources import ResourceFields
from geo_service.registry.store.base import StoreBase, now_utc
from geo_service.registry.store.schema import registry_region


class RegionMismatchError(InputError):
    """The registry holds another region's resources than the region it is served with."""


class RegionAreas(StoreBase):
    """The region part of :class:`~geo_service.registry.store.ResourceStore`: binding a
    registry to one region, and the responsible areas of its resources."""

    def __init__(self, engine: Engine, *, layers: Mapping[str, AreaLayer] | None = None) -> None:
        super().__init__(engine)
        self.layers: dict[str, AreaLayer] = dict(layers or {})
        self.bounds: tuple[float, float, float, float] | None = None  # of the region served
        self.walking_speed_mps: float | None = None  # the region's, for walking-time areas
        self.area_layer: str | None = None  # the layer whose areas coordinators are responsible for

    def use_region(self, layers: Mapping[str, AreaLayer],
                   bounds: tuple[float, float, float, float], walking_speed_mps: float, *,
                   area_layer: str | None = None) -> None:
        """Serve a region: its boundary layers draw ``areas`` service areas, locations
        must lie within ``bounds`` (lon/lat), walking-time service areas are drawn at the
        region's walking speed, and a resource's responsible area is the area of
        ``area_layer`` that holds it (:meth:`responsible_area`)."""
        if area_layer is not None and area_layer not in layers:
            raise InputError(msg("no area layer {layer!r} in the region; layers: {layers}",
                                 layer=area_layer, layers=", ".join(layers)),
                             column="area_layer", value=area_layer)
        self.layers.update(layers)
        self.bounds = bounds
        self.walking_speed_mps = walking_speed_mps
        self.area_layer = area_layer

    def resolve_area(self, text: str, *, column: str = "area") -> str:
        """The id of the responsible-area layer's area called ``text`` (id or name, with or
        without 校区/地区 …); the text itself when no area layer is set.

        Raises
        ------
        InputError
            Naming the value and the layer's areas when no area matches.
        """
        layer = self.layers.get(self.area_layer or "")
        if layer is None:
            return text
        found = layer.resolve_name(text)
        if found is None:
            known = "、".join(f"{n} ({i})" for i, n in zip(layer.ids, layer.names, strict=True))
            raise InputError(msg("no such area in layer {layer!r}; areas: {known}",
                                 layer=layer.name, known=known),
                             column=column, value=text)
        return found

    def area_names(self) -> dict[str, str]:
        """Name of every area of the responsible-area layer, by id (none without one)."""
        layer = self.layers.get(self.area_layer or "")
        return {} if layer is None else dict(zip(layer.ids, layer.names, strict=True))

    def responsible_area(self, r: ResourceFields) -> str | None:
        """The area a resource belongs to, for coordinators' permissions and ``?area=``.

        With a responsible-area layer (:meth:`use_region`): the area holding the
        resource's location, or for a mobile-sales route without one its first stop's;
        a resource with neither keeps its given area, resolved by id or name. Without
        such a layer: the area as given.
        """
        layer = self.layers.get(self.area_layer or "")
        if layer is None:
            return r.area
        if r.lon is not None and r.lat is not None:
            return layer.area_at(r.lon, r.lat)
        if r.schedule.stops:
            return layer.area_at(r.schedule.stops[0].lon, r.schedule.stops[0].lat)
        return None if r.area is None else self.resolve_area(r.area)

    def region(self) -> tuple[str, str] | None:
        """(key, name) of the region this registry holds, or None before it is first served
        with one."""
        with self.reader.connect() as conn:
            row = conn.execute(select(registry_region.c.region_key,
                                      registry_region.c.region_name)).first()
        return (row.region_key, row.region_name) if row else None

    def bind_region(self, key: str, name: str) -> None:
        """Record that this registry holds region ``key`` (on first use); refuse another.

        Raises
        ------
        RegionMismatchError
            When the registry already holds a different region: one registry per region,
            so that one town's services never answer for another town.
        """
        with self.engine.begin() as conn:
            row = conn.execute(select(registry_region.c.region_key,
                                      registry_region.c.region_name)).first()
            if row is None:
                conn.execute(insert(registry_region).values(
                    id=1, region_key=key, region_name=name, bound_at=now_utc()))
                return
        if row.region_key != key:
            where = self.engine.url.render_as_string(hide_password=True)
            raise RegionMismatchError(
                f"this registry ({where}) holds the resources of region {row.region_name!r} "
                f"({row.region_key}), not of {name!r} ({key}); give each region its own "
                "registry (GEO_SERVICE_DATABASE_URL or --database-url)", value=name)
