"""A region: the unit of work — one study area's network, demand, areas and resources.

A :class:`Region` can be saved to a folder and loaded again quickly (the API starts from
saved regions rather than rebuilding them)::

    region/
      region.json         name, title (e.g. 飯塚市), 市区町村コード, sources (per input:
                          publisher, licence, attribution), CRS, layer names, notes,
                          whether it is synthetic
      network.npz         the WalkNetwork arrays
      demand.parquet      demand points (GeoParquet, metric CRS)
      areas.parquet       all area layers (column ``layer``)
      resources.parquet   all resource points (column ``resource_layer``)
      basemap.parquet     rivers, water areas and railways of its OSM extract, when it had
                          them (:mod:`geo_service.engine.basemap`; optional: a folder
                          without it loads, its basemap then has streets and outlines)
      cache/              what commands derived from these files, found again by their
                          digest (:mod:`~geo_service.engine.saved`; safe to delete)
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service import settings
from geo_service.engine import saved
from geo_service.engine.access import Attachment, DistanceField, attach_points
from geo_service.engine.basemap import load_extras, save_extras
from geo_service.engine.network import WalkNetwork
from geo_service.inputs.boundaries import AreaLayer
from geo_service.inputs.sources import (
    Source,
    attributions,
    file_label,
    output_metadata,
    read_sources,
)


@dataclass(eq=False)
class Region:
    """One study area.

    Attributes
    ----------
    net
        The walking network (metric CRS).
    demand
        Demand points in ``net.crs`` with ``point_id``, ``pop_total``, ``pop_65plus``,
        ``pop_75plus``.
    areas
        Area layers (any CRS).
    resources
        Resource points per layer id (``store_id``, ``name``, ``category``), any CRS.
    threshold_m
        The walking distance counted as "within walking range" in this region's analysis
        (saved with it, so the service answers with the threshold the map was made with).
    basemap_extras
        Rivers, water areas and railways for the region's own basemap
        (:func:`geo_service.engine.basemap_osm.extras_from_osm`), or None.
    title
        The name people call the region by (飯塚市); :attr:`label` falls back on ``name``.
    municipality_code
        The 全国地方公共団体コード (five digits, 40205), when the region is a municipality.
    sources
        Where each input came from (:class:`~geo_service.inputs.sources.Source`).
    """

    net: WalkNetwork
    demand: gpd.GeoDataFrame
    areas: list[AreaLayer] = field(default_factory=list)
    resources: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    name: str = ""
    synthetic: bool = False
    notes: list[str] = field(default_factory=list)
    threshold_m: float = settings.threshold_m
    basemap_extras: gpd.GeoDataFrame | None = None
    title: str = ""
    municipality_code: str = ""
    sources: list[Source] = field(default_factory=list)
    #: the folder it was loaded from (:meth:`load`), where derived results are saved
    #: (:mod:`~geo_service.engine.saved`); None for a region built in memory or changed
    #: (``dataclasses.replace`` does not carry it over)
    folder: Path | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def label(self) -> str:
        """The region's human name: its title, else its name (a file name's stem when an
        older region was named after its input's path), else 「地域」."""
        return self.title or file_label(self.name) or "地域"

    @property
    def attributions(self) -> list[str]:
        """The attribution texts the region's sources require (出典 lines, © OSM …)."""
        return attributions(self.sources)

    def output_metadata(self) -> dict[str, Any]:
        """What an output made from the region says of it (a GeoJSON's ``metadata``
        member, a summary, the pages' region): :func:`~geo_service.inputs.sources.
        output_metadata` of its label, sources and 市区町村コード, generated when the region
        or any of its sources is."""
        about = output_metadata(self.label, self.sources,
                                municipality_code=self.municipality_code)
        about["synthetic"] = self.synthetic or about["synthetic"]
        return about

    @cached_property
    def key(self) -> str:
        """A stable identity of the study area: its name and a fingerprint of its network
        (CRS, nodes and edges), e.g. to tell which region a registry holds."""
        digest = hashlib.sha256(self.net.crs.to_wkt().encode())
        for array in (self.net.node_xy, self.net.edge_u, self.net.edge_v):
            digest.update(np.ascontiguousarray(array).tobytes())
        slug = re.sub(r"[^\w-]+", "_", self.name or "region").strip("_")[:40] or "region"
        return f"{slug}-{digest.hexdigest()[:12]}"

    @cached_property
    def demand_attachment(self) -> Attachment:
        """The demand points projected onto the network (computed once; for a saved
        region, once for its files: kept in its cache)."""
        key = self.saved_key("demand")
        if key is not None:
            entry = saved.load_entry(self.cache_folder(), "demand_attachment", key)
            if entry is not None and len(entry["edge"]) == len(self.demand):
                return Attachment(entry["edge"], entry["offset"], entry["connector"])
        att = attach_points(self.net, shapely.get_coordinates(self.demand.geometry.to_numpy()),
                            ids=self.demand["point_id"].to_numpy(), source="demand")
        if key is not None:
            saved.save_entry(self.cache_folder(create=True), "demand_attachment", key,
                             {"edge": att.edge, "offset": att.offset,
                              "connector": att.connector})
            self.remember_network()  # every command attaches the demand first
        return att

    # saved results ------------------------------------------------------------------
    #: the region's files, by the parts of it they hold
    FILES = {"network": "network.npz", "demand": "demand.parquet",
             "areas": "areas.parquet", "resources": "resources.parquet",
             "meta": "region.json"}

    def saved_key(self, *parts: str, extra: object = ()) -> str | None:
        """A key (:func:`~geo_service.engine.saved.digest`) of the contents of the
        region's files holding ``parts`` (``network`` always) and ``extra``; None for a
        region not loaded from a folder (nothing is saved for it)."""
        if self.folder is None:
            return None
        names = dict.fromkeys(("network", *parts))
        return saved.digest({p: saved.file_digest(self.folder / self.FILES[p]) for p in names},
                            extra)

    def cache_folder(self, *, create: bool = False) -> Path:
        """Where this region's derived results are saved (:func:`saved.cache_folder`)."""
        assert self.folder is not None
        return saved.cache_folder(self.folder, create=create)

    def remember_network(self) -> None:
        """Save the network's arrays, lengths, times and graphs in the cache (when the
        region comes from a folder and they are not there yet), so :meth:`load` reads
        them instead of rebuilding them from the compressed file."""
        key = self.saved_key()
        if key is None or (self.cache_folder() / f"network-{key}.npz").exists():
            return
        saved.save_entry(self.cache_folder(create=True), "network", key, self.net.arrays())

    def attach(self, points: gpd.GeoDataFrame, *, source: str | None = None,
               id_column: str = "store_id") -> Attachment:
        """Project any points (in any CRS) onto the network."""
        xy = shapely.get_coordinates(points.to_crs(self.net.crs).geometry.to_numpy())
        ids = points[id_column].to_numpy() if id_column in points.columns else None
        return attach_points(self.net, xy, ids=ids, source=source)

    def distance_field(self, resources: gpd.GeoDataFrame, *,
                       source: str | None = None) -> DistanceField:
        """Distance field to the nearest of ``resources`` (one multi-source search)."""
        return DistanceField(self.net, self.attach(resources, source=source))

    def save(self, folder: str | Path) -> Path:
        """Write the region to ``folder`` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.net.save(folder / "network.npz")
        self.demand.to_parquet(folder / "demand.parquet")
        if self.areas:
            areas = pd.concat([a.areas.to_crs(self.net.crs).assign(layer=a.name)
                               for a in self.areas], ignore_index=True)
            gpd.GeoDataFrame(areas, geometry="geometry", crs=self.net.crs).to_parquet(
                folder / "areas.parquet")
        if self.resources:
            res = pd.concat([r.to_crs(self.net.crs).assign(resource_layer=k)
                             for k, r in self.resources.items()], ignore_index=True)
            gpd.GeoDataFrame(res, geometry="geometry", crs=self.net.crs).to_parquet(
                folder / "resources.parquet")
        if self.basemap_extras is not None:
            save_extras(self.basemap_extras, folder)
        meta = {"name": self.name, "synthetic": self.synthetic, "notes": self.notes,
                "threshold_m": self.threshold_m,
                "title": self.title, "municipality_code": self.municipality_code,
                "sources": [s.to_dict() for s in self.sources],
                "crs": self.net.crs.to_string(), "areas": [a.name for a in self.areas],
                "resources": list(self.resources)}
        (folder / "region.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2),
                                            encoding="utf-8")
        return folder

    @classmethod
    def saved_identity(cls, folder: str | Path) -> tuple[str, str]:
        """The :attr:`key` and :attr:`label` of a saved region, reading only its
        region.json and network (e.g. to name its registry without loading it all)."""
        folder = Path(folder)
        meta = json.loads((folder / "region.json").read_text(encoding="utf-8"))
        probe = cls(WalkNetwork.load(folder / "network.npz"), gpd.GeoDataFrame(),
                    name=meta.get("name", ""), title=str(meta.get("title") or ""))
        return probe.key, probe.label

    @classmethod
    def load(cls, folder: str | Path) -> Region:
        """Read a region written by :meth:`save`."""
        folder = Path(folder)
        meta = json.loads((folder / "region.json").read_text(encoding="utf-8"))
        net = _load_network(folder)
        demand = gpd.read_parquet(folder / "demand.parquet")
        areas: list[AreaLayer] = []
        if (folder / "areas.parquet").exists():
            all_areas = gpd.read_parquet(folder / "areas.parquet")
            areas = [AreaLayer(name, all_areas[all_areas["layer"] == name]
                               .drop(columns="layer").reset_index(drop=True), str(folder))
                     for name in meta["areas"]]
        resources: dict[str, gpd.GeoDataFrame] = {}
        if (folder / "resources.parquet").exists():
            all_res = gpd.read_parquet(folder / "resources.parquet")
            resources = {k: all_res[all_res["resource_layer"] == k]
                         .drop(columns="resource_layer").reset_index(drop=True)
                         for k in meta["resources"]}
        region = cls(net, demand, areas, resources, meta.get("name", ""),
                     bool(meta.get("synthetic")), list(meta.get("notes", [])),
                     float(meta.get("threshold_m", settings.threshold_m)),
                     load_extras(folder), str(meta.get("title") or ""),
                     str(meta.get("municipality_code") or ""),
                     read_sources(meta.get("sources")))
        region.folder = folder
        return region


def _load_network(folder: Path) -> WalkNetwork:
    """The region's network: from its cache entry (plain arrays with the graphs, see
    :meth:`Region.remember_network`) when one was saved for this very file, else from
    the file; geometries in either case only when first needed."""
    path = folder / Region.FILES["network"]
    key = saved.digest({"network": saved.file_digest(path)}, ())
    entry = saved.load_entry(saved.cache_folder(folder), "network", key)
    if entry is not None:
        try:
            return WalkNetwork.from_arrays(entry, geometry_file=path)
        except (KeyError, ValueError):  # an entry of another shape: read the file
            pass
    return WalkNetwork.load(path)
