"""Results saved beside a region and found again by what they were computed from.

A command on a saved region (``geo-service scenario``, ``site``, ``gaps``) needs numbers
that only change when the region or the registry does: the network's graphs, the demand
points' edges, the baseline's distance fields and tables. They are saved once in the
region folder's ``cache/`` (or, when the region folder cannot be written, in
``<data directory>/cache/<folder digest>/``) and loaded by later commands instead of
being computed again.

Each entry is one ``.npz`` file, ``<name>-<key>.npz``; the key is a digest
(:func:`digest`) of everything the entry depends on — the contents of the region's files
(:func:`file_digest`), thresholds, speeds, the registry's state, :data:`FORMAT` — so an
entry made from other inputs is never found. Files are written to a temporary name and
renamed (a reader sees a whole entry or none); one that cannot be read, or whose stored
key is not its name's, is ignored, removed and rebuilt. A cache can be missing, stale or
broken, never wrong. :func:`load_or_make` is the way a result derived from a region is
read or made and saved.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from geo_service.engine.region import Region

#: bumped whenever what an entry holds or how it is computed changes
FORMAT = 1

_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content ("" when absent), remembered per (path, size, mtime)
    within the process."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return ""
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _FILE_DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _FILE_DIGESTS[memo] = h.hexdigest()
    return _FILE_DIGESTS[memo]


def digest(*parts: Any) -> str:
    """A key for an entry: a digest of ``parts`` (JSON-able values) and :data:`FORMAT`."""
    text = json.dumps([FORMAT, *parts], sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cache_folder(region_folder: str | Path, *, create: bool = False) -> Path:
    """Where a region's entries live: ``<region>/cache``, or under the data directory
    when the region folder cannot be written (a read-only shared copy). Only with
    ``create`` is ``<region>/cache`` made (reading never changes the region folder)."""
    region_folder = Path(region_folder)
    own = region_folder / "cache"
    if own.is_dir() and (not create or os.access(own, os.W_OK)):
        return own
    if create and not own.exists() and os.access(region_folder, os.W_OK):
        with contextlib.suppress(OSError):
            own.mkdir()
            return own
    from geo_service.config import data_dir

    where = hashlib.sha256(str(region_folder.resolve()).encode()).hexdigest()[:16]
    return data_dir() / "cache" / where


def load_entry(folder: Path, name: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays of entry ``name`` made with ``key``; None when there is none or it
    cannot be read (a broken file is removed)."""
    path = folder / f"{name}-{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        if str(arrays.pop("__key__")) != key:
            raise ValueError("another key")
        return arrays
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def save_entry(folder: Path, name: str, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Write entry ``name`` (replacing entries of that name made with other keys),
    atomically; a folder that cannot be written leaves nothing behind."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".npz.tmp", dir=folder)
    except OSError:
        return
    try:
        payload: dict[str, Any] = {"__key__": np.array(key), **arrays}
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
        os.chmod(tmp, 0o644)  # readable as the region's other files (mkstemp gives 0600)
        os.replace(tmp, folder / f"{name}-{key}.npz")
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return
    for old in folder.glob(f"{name}-*.npz"):
        if old.name != f"{name}-{key}.npz":
            with contextlib.suppress(OSError):
                old.unlink()


def load_or_make(region: Region, name: str, files: tuple[str, ...], extra: Any,
                 make: Callable[[], dict[str, np.ndarray]], *,
                 valid: Callable[[dict[str, np.ndarray]], bool] | None = None
                 ) -> dict[str, np.ndarray]:
    """Entry ``name`` of ``region``'s saved results, keyed by the contents of the region's
    ``files`` and ``extra`` (:meth:`~geo_service.engine.region.Region.saved_key`): read,
    else ``make()`` and saved (also when the entry read fails ``valid``); ``make()``
    alone for a region not loaded from a folder."""
    key = region.saved_key(*files, extra=extra)
    if key is None:
        return make()
    entry = load_entry(region.cache_folder(), name, key)
    if entry is None or (valid is not None and not valid(entry)):
        entry = make()
        save_entry(region.cache_folder(create=True), name, key, entry)
    return entry


def frame_bytes(frame: Any) -> np.ndarray:
    """A (Geo)DataFrame as GeoParquet / Parquet bytes in an array (to keep it in an
    entry)."""
    buf = io.BytesIO()
    frame.to_parquet(buf)
    return np.frombuffer(buf.getvalue(), dtype=np.uint8)


def frame_from(array: np.ndarray, *, geo: bool) -> Any:
    """The (Geo)DataFrame of :func:`frame_bytes`."""
    buf = io.BytesIO(array.tobytes())
    if geo:
        import geopandas as gpd

        return gpd.read_parquet(buf)
    import pandas as pd

    return pd.read_parquet(buf)
