"""Which kind of OpenStreetMap file a path names, by the end of its name.

The readers of OSM files (the walking network in :mod:`geo_service.engine.osm`, rivers and
railways in :mod:`geo_service.engine.basemap_osm`, stores in
:mod:`geo_service.inputs.layer_points`) choose their reader with :func:`osm_file_kind`, so
that they take the same names:

- ``"pbf"``: ``.osm.pbf``, ``.pbf``;
- ``"xml"``: OSM XML, ``.osm``, ``.xml``, ``.osm.bz2``, ``.osm.gz``;
- ``"overpass_json"``: a raw Overpass response (as osmnx caches it), ``.json``.

Upper and lower case are alike (``KYUSHU.OSM.PBF``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

OsmFileKind = Literal["pbf", "xml", "overpass_json"]

_ENDINGS: dict[OsmFileKind, tuple[str, ...]] = {
    "pbf": (".pbf",),
    "xml": (".osm", ".xml", ".osm.bz2", ".osm.gz"),
    "overpass_json": (".json",),
}


def osm_file_kind(path: str | Path) -> OsmFileKind | None:
    """The kind of OSM file ``path`` names (see the module), or None for another file."""
    name = Path(path).name.lower()
    return next((kind for kind, endings in _ENDINGS.items() if name.endswith(endings)), None)
