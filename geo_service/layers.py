"""Declarative layer definitions from ``layers/*.toml``.

A *resource layer* (e.g. ``food_stores.toml``) lists categories, each with an id, a
Japanese label, aliases that users' files may use, the OSM tags that make such a
resource, whether it is counted (``include``) and a colour. A *map style*
(``difficulty.toml``) holds the choropleth classes and colours. Code never hard-codes
either; users edit the TOML or pass their own file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from geo_service import settings
from geo_service._errors import InputError, UnknownCategoryError


@dataclass(frozen=True)
class Category:
    """One category of a resource layer."""

    id: str
    label: str
    aliases: tuple[str, ...] = ()
    osm: dict[str, list[str]] = field(default_factory=dict)
    include: bool = True
    color: str = "#3388ff"


@dataclass(frozen=True)
class ResourceLayer:
    """A resource layer definition: its categories and how they are recognised."""

    id: str
    label: str
    description: str
    categories: tuple[Category, ...]

    def category(self, category_id: str) -> Category:
        """The category with this id."""
        for cat in self.categories:
            if cat.id == category_id:
                return cat
        raise UnknownCategoryError(f"no category {category_id!r} in layer {self.id!r}")

    def restricted(self, include: list[str] | None = None,
                   exclude: list[str] | None = None) -> ResourceLayer:
        """A copy with only ``include`` counted (if given) and ``exclude`` left out."""
        known = {c.id for c in self.categories}
        for name in (include or []) + (exclude or []):
            if name not in known:
                raise UnknownCategoryError(
                    f"unknown category; known: {', '.join(sorted(known))}", value=name)
        cats = tuple(
            Category(c.id, c.label, c.aliases, c.osm,
                     (c.id in include if include else c.include) and c.id not in (exclude or []),
                     c.color)
            for c in self.categories)
        return ResourceLayer(self.id, self.label, self.description, cats)

    @property
    def included_ids(self) -> list[str]:
        """Ids of the categories that count."""
        return [c.id for c in self.categories if c.include]

    def osm_filter(self) -> dict[str, list[str]]:
        """OSM tag filter (key → values) of the included categories, for pyrosm/osmnx."""
        tags: dict[str, list[str]] = {}
        for cat in self.categories:
            if cat.include:
                for key, values in cat.osm.items():
                    tags[key] = list(dict.fromkeys(tags.get(key, []) + list(values)))
        return tags

    def category_from_osm(self, tags: pd.DataFrame) -> pd.Series:
        """Category id per row of an OSM feature table (columns are tag keys), or NA."""
        out = pd.Series(pd.NA, index=tags.index, dtype="object")
        for cat in self.categories:
            for key, values in cat.osm.items():
                if key in tags.columns:
                    hit = out.isna() & tags[key].isin(values)
                    out[hit] = cat.id
        return out

    def normalise_categories(self, values: pd.Series, *, source: str,
                             column: str = "category") -> pd.Series:
        """Map category ids, labels and aliases in a user's file to category ids.

        Raises
        ------
        UnknownCategoryError
            Naming the file, the first offending row (1-based data row), column and value.
        """
        lookup: dict[str, str] = {}
        for cat in self.categories:
            for name in (cat.id, cat.label, *cat.aliases):
                lookup[_fold(name)] = cat.id
        folded = values.astype("string").map(lambda s: _fold(s) if isinstance(s, str) else s)
        mapped = folded.map(lookup)
        bad = mapped.isna()
        if bad.any():
            pos = int(bad.to_numpy().nonzero()[0][0])
            known = ", ".join(f"{c.id} ({c.label})" for c in self.categories)
            raise UnknownCategoryError(
                f"unknown category ({int(bad.sum())} rows); known categories: {known}",
                file=source, row=pos + 1, column=column, value=values.iloc[pos])
        return mapped.astype(str)


def _fold(text: str) -> str:
    """Case- and width-insensitive key for matching labels (NFKC, lower, no spaces)."""
    import unicodedata

    return unicodedata.normalize("NFKC", text).strip().lower().replace(" ", "")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as exc:
        raise InputError("layer definition not found", file=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"invalid TOML: {exc}", file=path) from exc


def _layer_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return path
    return settings.layers_dir() / f"{name_or_path}.toml"


def load_resource_layer(name_or_path: str | Path = "food_stores") -> ResourceLayer:
    """Read a resource layer by name (``layers/NAME.toml``) or path."""
    path = _layer_path(name_or_path)
    data = _read_toml(path)
    try:
        meta = data["layer"]
        cats = tuple(
            Category(id=c["id"], label=c["label"], aliases=tuple(c.get("aliases", [])),
                     osm={k: list(v) for k, v in c.get("osm", {}).items()},
                     include=bool(c.get("include", True)), color=c.get("color", "#3388ff"))
            for c in data["categories"])
    except KeyError as exc:
        raise InputError(f"missing key {exc}", file=path) from exc
    return ResourceLayer(meta["id"], meta["label"], meta.get("description", ""), cats)


def load_map_style(name_or_path: str | Path = "difficulty") -> dict[str, Any]:
    """Read a map style (``layers/difficulty.toml``) and check its classes fit together."""
    path = _layer_path(name_or_path)
    style = _read_toml(path)
    m = style.get("map", {})
    breaks, colors, labels = m.get("breaks", []), m.get("colors", []), m.get("labels", [])
    if len(colors) != len(breaks) + 1 or len(labels) != len(colors):
        raise InputError("a map style needs one more colour and label than breaks", file=path)
    if list(breaks) != sorted(breaks):
        raise InputError("class breaks must increase", file=path, value=breaks)
    return style
