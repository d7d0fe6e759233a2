"""Cutting an OSM extract into many smaller ones at once, each by an outline (a batch's
partitions with their buffers): osmium-tool when it is installed, else pyosmium.

Each target is an output ``.osm.pbf`` and an outline in EPSG:4326. A cut keeps every way
with one of the given keys and a node inside the outline, whole (``complete_ways``), and
the tagged nodes inside it, so shortest paths that stay within the outline are all there.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geo_service._errors import InputError
from geo_service.i18n import msg

Target = tuple[Path, shapely.Geometry]
"""An output file and the outline (EPSG:4326) whose ways it receives."""

#: targets cut by one ``osmium extract`` run; more are cut in two levels
GROUP_SIZE = 16


def cut_extract(pbf: str | Path, targets: Sequence[Target], *,
                keys: Sequence[str] = ("highway",), tool: str | None = "auto",
                client: Any = None, seconds: dict[str, float] | None = None) -> None:
    """Write each target's extract (an output ``.osm.pbf`` and its outline in EPSG:4326)
    from ``pbf``.

    With osmium-tool (``tool="auto"`` finds Debian's ``osmium``; ``None`` forces
    pyosmium): ``osmium tags-filter`` keeps the objects with one of ``keys`` (and the nodes
    their ways use), then ``osmium extract --strategy complete_ways`` writes every
    outline: every way with a node inside, with all its nodes. An extract run tests every
    node against every outline, so more than :data:`GROUP_SIZE` targets are cut in two
    levels: the filtered file into groups of neighbouring targets (about √n of them), then
    each group's file into its targets, as Dask tasks on ``client`` when given. Without
    osmium-tool, two pyosmium passes do the same with the outlines' bounding boxes, in one
    level. ``seconds`` receives the time of each step (``filter``,
    ``groups``, ``extracts``).
    """
    seconds = {} if seconds is None else seconds
    if not targets:
        return
    osmium_tool = shutil.which("osmium") if tool == "auto" else tool
    for output, _ in targets:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.unlink(missing_ok=True)
    pbf = Path(pbf)
    if not osmium_tool:
        _cut_with_pyosmium(pbf, targets, keys)
        return
    work = Path(tempfile.mkdtemp(prefix="_cut-", dir=targets[0][0].parent.parent))
    try:
        t = time.perf_counter()
        filtered = work / "filtered.osm.pbf"
        _run([osmium_tool, "tags-filter", str(pbf), *[f"nwr/{k}" for k in keys],
              "--overwrite", "-o", str(filtered)], pbf)
        seconds["filter"] = time.perf_counter() - t
        t = time.perf_counter()
        groups = [[targets[i] for i in g] for g in spatial_groups([o for _, o in targets])]
        if len(groups) == 1:
            _osmium_extract(osmium_tool, filtered, targets, work, source=pbf)
        else:
            outlines = [_grown(shapely.union_all([o for _, o in g])) for g in groups]
            files = [work / f"group{i}.osm.pbf" for i in range(len(groups))]
            _osmium_extract(osmium_tool, filtered, list(zip(files, outlines, strict=True)),
                            work, source=pbf)
            filtered.unlink()
            seconds["groups"] = time.perf_counter() - t
            t = time.perf_counter()
            jobs = [(f, g, work / f"group{i}") for i, (f, g) in enumerate(
                zip(files, groups, strict=True))]
            if client is None:
                for job in jobs:
                    _cut_group(*job, tool=osmium_tool, keys=keys, source=pbf)
            else:
                client.gather([client.submit(_cut_group, *job, tool=osmium_tool, keys=keys,
                                             source=pbf, pure=False) for job in jobs])
        seconds["extracts"] = time.perf_counter() - t
    finally:
        shutil.rmtree(work, ignore_errors=True)


def spatial_groups(outlines: Sequence[shapely.Geometry]) -> list[list[int]]:
    """Indices of neighbouring outlines in groups of about √n (one group up to
    :data:`GROUP_SIZE`): the outlines in Z-order of their centres, cut into equal runs."""
    n = len(outlines)
    if n <= GROUP_SIZE:
        return [list(range(n))]
    centres = shapely.get_coordinates(shapely.centroid(list(outlines)))
    span = np.ptp(centres, axis=0)
    cells = ((centres - centres.min(axis=0)) / np.where(span > 0, span, 1) * 65535).astype(
        np.uint64)
    order = np.argsort(_interleave(cells[:, 0]) | (_interleave(cells[:, 1]) << 1),
                       kind="stable")
    size = math.ceil(math.sqrt(n))
    return [order[k:k + size].tolist() for k in range(0, n, size)]


def _interleave(v: np.ndarray) -> np.ndarray:
    """The bits of 16-bit integers spread to the even bit positions (Morton order)."""
    v = v & 0xFFFF
    v = (v | (v << 8)) & 0x00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F
    v = (v | (v << 2)) & 0x33333333
    return (v | (v << 1)) & 0x55555555


def _grown(outline: shapely.Geometry, degrees: float = 0.002) -> shapely.Geometry:
    """A simpler outline that still covers ``outline`` (simplified, then grown by as
    much), so a group's extract run tests fewer polygon edges."""
    return shapely.buffer(shapely.simplify(outline, degrees), degrees)


def _cut_group(group_file: Path, members: Sequence[Target], work: Path, *, tool: str,
               keys: Sequence[str], source: Path) -> None:
    """The second level (a Dask task): one group's file into its targets, with this
    machine's osmium-tool, else pyosmium."""
    work.mkdir(parents=True, exist_ok=True)
    local = shutil.which("osmium") or (tool if Path(tool).exists() else None)
    if local:
        _osmium_extract(local, group_file, members, work, source=source)
    else:
        _cut_with_pyosmium(group_file, members, keys)


def _osmium_extract(tool: str, source_file: Path, targets: Sequence[Target], work: Path, *,
                    source: Path) -> None:
    """One ``osmium extract --strategy complete_ways`` run writing every (output file,
    outline) target."""
    extracts = []
    for i, (output, outline) in enumerate(targets):
        polygon = work / f"outline{i}.geojson"
        polygon.write_text(json.dumps({"type": "Feature", "properties": {},
                                       "geometry": shapely.geometry.mapping(outline)}),
                           encoding="utf-8")
        extracts.append({"output": str(output), "output_format": "pbf",
                         "polygon": {"file_name": str(polygon), "file_type": "geojson"}})
    config = work / "extracts.json"
    config.write_text(json.dumps({"extracts": extracts}), encoding="utf-8")
    _run([tool, "extract", "--config", str(config), "--strategy", "complete_ways",
          "--overwrite", "--no-progress", str(source_file)], source)


def _run(command: list[str], source: Path) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InputError(msg("{tool} {command} failed: {error}", tool=Path(command[0]).name,
                             command=command[1], error=done.stderr.strip()[-500:]),
                         file=source)


def _cut_with_pyosmium(pbf: Path, targets: Sequence[Target], keys: Sequence[str]) -> None:
    """Pass 1 (ways, with node locations): a way with one of ``keys`` goes to every
    target whose outline's box holds one of its nodes, with all its nodes. Pass 2: those
    nodes, tagged nodes with one of ``keys`` inside a box, and the ways, in file order."""
    import osmium

    boxes = shapely.bounds(np.array([o for _, o in targets], dtype=object))
    k = len(targets)
    way_parts: dict[int, list[int]] = {}
    node_mask: dict[int, int] = {}
    try:
        reader = osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY)
        for way in reader.with_locations():
            if not isinstance(way, osmium.osm.Way) or not any(key in way.tags for key in keys):
                continue
            refs, xy = [], []
            for n in way.nodes:
                refs.append(n.ref)
                loc = n.location
                xy.append((loc.lon, loc.lat) if loc.valid() else (np.nan, np.nan))
            arr = np.asarray(xy, dtype=float)
            hit = np.flatnonzero(
                ((arr[:, None, 0] >= boxes[None, :, 0]) & (arr[:, None, 0] <= boxes[None, :, 2])
                 & (arr[:, None, 1] >= boxes[None, :, 1])
                 & (arr[:, None, 1] <= boxes[None, :, 3])).any(axis=0))
            if not len(hit):
                continue
            way_parts[way.id] = hit.tolist()
            mask = sum(1 << int(j) for j in hit)
            for ref in refs:
                node_mask[ref] = node_mask.get(ref, 0) | mask
    except RuntimeError as exc:  # pyosmium reports unreadable files as RuntimeError
        raise InputError(msg("cannot read the OSM extract: {error}", error=exc), file=pbf) from exc
    writers = [osmium.SimpleWriter(str(output)) for output, _ in targets]
    try:
        for obj in osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY):
            if isinstance(obj, osmium.osm.Node):
                mask = node_mask.get(obj.id, 0)
                if obj.location.valid() and any(key in obj.tags for key in keys):
                    lon, lat = obj.location.lon, obj.location.lat
                    inside = np.flatnonzero((boxes[:, 0] <= lon) & (lon <= boxes[:, 2])
                                            & (boxes[:, 1] <= lat) & (lat <= boxes[:, 3]))
                    mask |= sum(1 << int(j) for j in inside)
                for j in range(k):
                    if mask >> j & 1:
                        writers[j].add_node(obj)
            else:
                for j in way_parts.get(obj.id, ()):
                    writers[j].add_way(obj)
    finally:
        for w in writers:
            w.close()
