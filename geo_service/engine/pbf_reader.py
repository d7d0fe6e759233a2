"""Streaming reader of the walking network of an OSM PBF file, cached beside the file.

:func:`read_walk_arrays` reads the ways of a ``.osm.pbf`` with pyosmium in one pass (node
locations kept by osmium's own index, the ways filtered in C++ to those with a
``highway`` tag and written with their node locations as OPL text to a temporary file,
then by the walking filter below, one Python step per way) straight into NumPy arrays:
the node ids with their lon/lat and the edges as pairs of node indices — no
GeoDataFrames, no per-node or per-edge Python objects. The result equals pyrosm's
``get_network("walking", nodes=True)``:

- the **walking filter** is pyrosm's (``pyrosm.config.osm_filters.walking_filter``): a way
  with a ``highway`` tag is left out when ``area=yes``, ``highway`` is one of
  :data:`EXCLUDED_HIGHWAY`, ``service=private`` or a ``sidewalk``/``sidewalk:both|left|
  right`` tag is ``separate`` (each also as one of several ``;``-separated values), or when
  its access tags close it to pedestrians: the most specific of ``foot`` and ``access``
  that the way carries decides, and closes it when it is ``no`` or ``private`` (so
  ``access=private`` + ``foot=yes`` stays);
- every way is cut into one edge per pair of consecutive nodes, in the file order of the
  ways and along each way; a node the file does not hold (a way leaving a clipped extract)
  or with an invalid location is skipped, the way running straight on to its next node,
  as pyrosm does; a way with fewer than two nodes left gives no edge and no node;
- the nodes are those of the ways' edges, in the order of their first use; coordinates
  are the file's fixed-point values / 1e7, exactly as pyrosm reads them.

A corrupt file, or walkable ways none of whose nodes the file holds, is an
:class:`~geo_service._errors.InputError` naming the file; no walkable edge at all an
:class:`~geo_service._errors.EmptyNetworkError`.

**Cache.** The arrays are written to ``<file>.walk-v1.npz`` beside the input (uncompressed
npz), keyed by the input's size and modification time (ns) and :data:`READER_VERSION`; a
later read of the same unchanged file loads them instead of parsing it. When the input's
folder is not writable the cache goes to :func:`geo_service.settings.cache_dir` (named by a
hash of the input's absolute path). A stale, foreign or unreadable cache is ignored and
rewritten. Writes go to a temporary file in the target folder, then ``os.replace``, so a
concurrent reader (another Dask worker) sees the old cache, no cache, or the whole new one.
``GEO_SERVICE_PBF_CACHE=0`` (read at each call) or ``cache=False`` turns the cache off.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geo_service import settings
from geo_service._errors import EmptyNetworkError, InputError
from geo_service.i18n import msg

#: Bumped whenever the arrays read from a file could change; part of the cache's key and name.
READER_VERSION = 1
CACHE_SUFFIX = f".walk-v{READER_VERSION}.npz"

#: ``highway`` values that are not walkable (pyrosm's walking filter: the values excluded
#: for every network type, then bus guideways, cycleways and motorways).
EXCLUDED_HIGHWAY = frozenset({
    "abandoned", "construction", "no", "planned", "platform", "proposed", "raceway",
    "razed", "rest_area", "services", "bus_guideway", "cycleway", "motor", "motorway",
    "motorway_link",
})
#: ``(key, values)``: a way whose tag ``key`` has one of ``values`` is left out.
EXCLUDED_TAGS: tuple[tuple[str, frozenset[str]], ...] = (
    ("area", frozenset({"yes"})),
    ("highway", EXCLUDED_HIGHWAY),
    ("service", frozenset({"private"})),
    ("sidewalk", frozenset({"separate"})),
    ("sidewalk:both", frozenset({"separate"})),
    ("sidewalk:left", frozenset({"separate"})),
    ("sidewalk:right", frozenset({"separate"})),
)
#: Access tags from the most specific: the first one a way carries decides.
ACCESS_KEYS = ("foot", "access")
#: Access values that close a way.
CLOSED_ACCESS = frozenset({"no", "private"})

# osmium's valid range of fixed-point coordinates (Location::valid()): 1e-7 degrees.
_MAX_X, _MAX_Y = 1_800_000_000, 900_000_000
_ARRAYS = ("node_id", "lon", "lat", "edge_u", "edge_v")


@dataclass(frozen=True, eq=False)
class WalkArrays:
    """The walking network of a PBF as arrays: ``node_id`` (int64, in order of first use),
    ``lon``/``lat`` (float64 degrees), ``edge_u``/``edge_v`` (indices into the nodes, one
    edge per pair of consecutive nodes of a walkable way, in file order) and
    ``skipped_refs`` (way nodes the file does not hold or with invalid locations)."""

    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    skipped_refs: int = 0


def matches(value: str, values: frozenset[str]) -> bool:
    """Whether a tag value is one of ``values``, also as one of several ``;``-separated
    values (``private;delivery``), as pyrosm's ``MultiValue`` matches."""
    if value in values:
        return True
    return ";" in value and any(part.strip() in values for part in value.split(";"))


def is_walkable_way(get: Callable[[str], str | None]) -> bool:
    """Whether a way with a ``highway`` tag passes pyrosm's walking filter.

    ``get(key)`` returns the way's value of tag ``key`` or None (``dict.get``, or the
    ``get`` of an osmium tag list).
    """
    for key, values in EXCLUDED_TAGS:
        value = get(key)
        if value is not None and matches(value, values):
            return False
    for key in ACCESS_KEYS:
        value = get(key)
        if value is not None:
            return not matches(value, CLOSED_ACCESS)
    return True


# ----------------------------------------------------------------------------------
# reading


def read_walk_arrays(path: str | Path, *, cache: bool | None = None) -> WalkArrays:
    """The walking network of an OSM PBF file, from its cache when it has a valid one.

    Parameters
    ----------
    path
        The ``.osm.pbf`` file.
    cache
        Whether to read and write the cache; None follows ``GEO_SERVICE_PBF_CACHE``
        (on unless ``0``, ``false``, ``no`` or ``off``).
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise InputError(msg("cannot read OSM PBF: {error}", error=exc.strerror or exc),
                         file=path) from None
    use_cache = cache_enabled() if cache is None else cache
    if use_cache:
        for candidate in cache_paths(path):
            hit = load_cache(candidate, path, stat)
            if hit is not None:
                return hit
    arrays = parse_walk_arrays(path)
    if use_cache:
        write_cache(path, stat, arrays)
    return arrays


def parse_walk_arrays(path: str | Path) -> WalkArrays:
    """Parse the walking network of an OSM PBF file (no cache); see the module docstring."""
    path = Path(path)
    ref, x, y, way_len = _read_ways(path)
    way = np.repeat(np.arange(len(way_len), dtype=np.int64), way_len)
    del way_len
    valid = (np.abs(x) <= _MAX_X) & (np.abs(y) <= _MAX_Y)
    skipped = int(len(ref) - np.count_nonzero(valid))
    if len(ref) and skipped == len(ref):
        raise InputError(
            f"the walkable ways reference {len(ref):,} nodes and the file holds none of them "
            "(node locations missing: an extract written without its nodes?)", file=path)
    if skipped:
        ref, x, y, way = ref[valid], x[valid], y[valid], way[valid]
    del valid
    # A way keeps its nodes only when at least two of them are left (pyrosm).
    used = np.bincount(way)[way] >= 2
    if not used.all():
        ref, x, y, way = ref[used], x[used], y[used], way[used]
    del used
    same_way = np.flatnonzero(way[1:] == way[:-1])
    del way
    if len(same_way) == 0:
        raise EmptyNetworkError(msg("the PBF holds no walkable ways"), file=path)
    node_id, first, inverse = np.unique(ref, return_index=True, return_inverse=True)
    del ref
    order = np.argsort(first, kind="stable")  # nodes in order of first use
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    index_type = np.int32 if len(order) < 2**31 else np.int64
    node_of_ref = rank[inverse.reshape(-1)].astype(index_type)
    del rank, inverse
    first = first[order]
    return WalkArrays(
        node_id=node_id[order], lon=x[first] / 1e7, lat=y[first] / 1e7,
        edge_u=node_of_ref[same_way], edge_v=node_of_ref[same_way + 1],
        skipped_refs=skipped)


def _read_ways(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One pass over the file: the node refs of the walkable ways (int64 ids and int32
    fixed-point locations, invalid ones out of range) and the number of refs of each way.

    osmium (C++) keeps the node locations and writes every way with a ``highway`` tag,
    locations on its nodes, as OPL text into a temporary file; Python then reads that text
    a chunk at a time, applies the walking filter to each way's tags and NumPy parses the
    node lists — no Python object per node.
    """
    import osmium

    with tempfile.TemporaryDirectory(prefix="geo-service-ways-") as folder:
        tmp = Path(folder) / "ways.opl"
        try:
            writer = osmium.SimpleWriter(osmium.io.File(
                str(tmp), "opl,locations_on_ways=true,add_metadata=false"))
            try:
                locations = osmium.NodeLocationsForWays(osmium.index.create_map("flex_mem"))
                locations.ignore_errors()  # a node the file lacks: an undefined location
                osmium.apply(osmium.io.Reader(str(path), osmium.osm.NODE | osmium.osm.WAY),
                             locations, osmium.filter.EntityFilter(osmium.osm.WAY),
                             osmium.filter.KeyFilter("highway"), writer)
            finally:
                writer.close()
        except (RuntimeError, ValueError, OSError) as exc:  # osmium's I/O and format errors
            raise InputError(msg("cannot read OSM PBF: {error}", error=exc), file=path) from exc
        return _parse_opl_ways(tmp, source=path)


def _parse_opl_ways(opl: Path, *, source: Path, chunk_bytes: int = 1 << 25,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Node refs of the walkable ways of an OPL file written with ``locations_on_ways``.

    Each line is ``w<id> T<k>=<v>,… N<refs>`` (OPL escapes ``,``, ``=``, space and ``%``
    in tags as ``%<hex>%``), each ref ``n<id>x<lon>y<lat>`` (``x`` and ``y`` empty when
    the file lacks the node); coordinates are decimal degrees with at most seven decimals,
    i.e. osmium's fixed-point integers / 1e7, read back exactly.
    """
    ids: list[np.ndarray] = []
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    lens: list[np.ndarray] = []
    with open(opl, encoding="utf-8") as f:
        while lines := f.readlines(chunk_bytes):
            fields = []
            for line in lines:
                head, _, refs = line.rstrip("\n").rpartition(" N")
                if is_walkable_way(_opl_tags(head.partition(" T")[2]).get):
                    fields.append(refs)
            del lines
            lens.append(np.array([fld.count(",") + 1 if fld else 0 for fld in fields],
                                 dtype=np.int64))
            text = ",".join(fld for fld in fields if fld)
            del fields
            if not text:
                continue
            # n<id>x<lon>y<lat> → <id>,<lon>,<lat>; a missing location reads as NaN
            text = (text.replace("xy", "xQyQ").replace("n", "").replace("x", ",")
                    .replace("y", ",").replace("Q", "nan"))
            values = np.fromstring(text, dtype=np.float64, sep=",")  # C parser, no list
            del text
            if len(values) != 3 * int(lens[-1].sum()):
                raise InputError(msg("cannot parse the ways osmium wrote (OPL)"), file=source)
            values = values.reshape(-1, 3)
            if np.abs(values[:, 0]).max() >= 2**53:
                raise InputError(msg("node ids beyond 2^53 are not supported"), file=source)
            ids.append(values[:, 0].astype(np.int64))
            for out, col in ((xs, 1), (ys, 2)):
                fixed = np.rint(values[:, col] * 1e7)
                fixed[~(np.abs(fixed) <= 2**31 - 1)] = 2**31 - 1  # osmium's undefined
                out.append(fixed.astype(np.int32))
    empty = np.empty(0, np.int64)
    return (np.concatenate(ids) if ids else empty,
            np.concatenate(xs) if xs else empty.astype(np.int32),
            np.concatenate(ys) if ys else empty.astype(np.int32),
            np.concatenate(lens) if lens else empty)


def _opl_tags(field: str) -> dict[str, str]:
    """The tags of an OPL ``T`` field (``k=v,k=v``, escapes decoded)."""
    if not field:
        return {}
    tags = dict(kv.partition("=")[::2] for kv in field.split(","))
    if "%" in field:
        tags = {_opl_unescape(k): _opl_unescape(v) for k, v in tags.items()}
    return tags


def _opl_unescape(text: str) -> str:
    return _OPL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


_OPL_ESCAPE = re.compile(r"%([0-9a-fA-F]+)%")


# ----------------------------------------------------------------------------------
# cache


def cache_enabled() -> bool:
    """Whether the PBF cache is on (``GEO_SERVICE_PBF_CACHE``, read at each call)."""
    value = os.environ.get("GEO_SERVICE_PBF_CACHE", "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def cache_paths(path: Path) -> list[Path]:
    """Where the cache of ``path`` may be: beside it, then in ``settings.cache_dir()``."""
    resolved = path.resolve()
    digest = hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()[:16]
    return [resolved.with_name(resolved.name + CACHE_SUFFIX),
            settings.cache_dir() / "pbf" / f"{resolved.name}-{digest}{CACHE_SUFFIX}"]


def _key(path: Path, stat: os.stat_result) -> dict[str, np.ndarray]:
    return {"source": np.array(str(path.resolve())), "source_size": np.array(stat.st_size),
            "source_mtime_ns": np.array(stat.st_mtime_ns),
            "reader_version": np.array(READER_VERSION)}


def load_cache(cache: Path, path: Path, stat: os.stat_result) -> WalkArrays | None:
    """The arrays cached in ``cache`` for ``path`` as it is now (``stat``); None when the
    cache is missing, stale, written for another file or unreadable."""
    if not cache.is_file():
        return None
    try:
        with np.load(cache, allow_pickle=False) as f:
            key = _key(path, stat)
            if any(k not in f or f[k].item() != v.item() for k, v in key.items()):
                return None
            arrays = WalkArrays(**{k: f[k] for k in _ARRAYS},
                                skipped_refs=int(f["skipped_refs"]))
    except Exception:  # noqa: BLE001 — a damaged cache of any kind is only ignored
        return None
    n = len(arrays.node_id)
    ok = (arrays.node_id.dtype == np.int64 and len(arrays.lon) == n == len(arrays.lat)
          and len(arrays.edge_u) == len(arrays.edge_v) > 0
          and arrays.edge_u.dtype.kind == arrays.edge_v.dtype.kind == "i"
          and min(arrays.edge_u.min(), arrays.edge_v.min()) >= 0
          and max(arrays.edge_u.max(), arrays.edge_v.max()) < n)
    return arrays if ok else None


def write_cache(path: Path, stat: os.stat_result, arrays: WalkArrays) -> Path | None:
    """Write the cache of ``path`` beside it, else in ``settings.cache_dir()``; atomically
    (temporary file, then ``os.replace``). Returns where it went, None when nowhere could
    be written (the read still succeeds)."""
    payload = {**_key(path, stat), **{k: getattr(arrays, k) for k in _ARRAYS},
               "skipped_refs": np.array(arrays.skipped_refs)}
    for target in cache_paths(path):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".",
                                       suffix=".tmp")
        except OSError:
            continue  # a read-only folder: try the next place
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **payload)
            # readable by whoever may read the input (mkstemp creates it 0600)
            os.chmod(tmp, stat.st_mode & 0o666)
            os.replace(tmp, target)
            return target
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return None
