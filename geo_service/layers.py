"""Declarative layer definitions from ``layers/*.toml``: the one category vocabulary.

A *resource layer* lists categories, each with an id, a Japanese label, aliases that
users' files may use, the OSM tags that make such a resource, whether it is counted
(``include``), a colour, its ``kind`` (a place people go to, a service that comes to
them, or a mobile-sales route of stops) and whether it is a ``food`` source. The same
schema serves every layer:

- ``food_stores.toml``: the food stores counted by the shopping-difficulty indicators;
- ``gathering_places.toml``: 通いの場 shown on maps;
- ``resource_categories.toml``: the registry's controlled vocabulary of 地域資源 (with
  operator types), read by :func:`load_vocabulary`; a category may name the layer that
  details it (``食料品店`` → ``food_stores``).

A *map style* (``difficulty.toml``) holds the choropleth classes and colours (``[map]``)
and those of a scenario's difference map (``[difference]``). Code never
hard-codes either; users edit the TOML or pass their own file.
"""

from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from geo_service import settings
from geo_service._errors import InputError, UnknownCategoryError, sheet_rows
from geo_service.i18n import msg

if TYPE_CHECKING:  # pandas is imported where used (the CLI starts without it)
    import pandas as pd

CategoryKind = Literal["place", "service", "mobile"]

#: the resource layer of the food stores the shopping-difficulty indicators count
FOOD_STORE_LAYER = "food_stores"
#: the registry's category of a food store (detailed by :data:`FOOD_STORE_LAYER`)
FOOD_STORE_CATEGORY = "food_store"


@dataclass(frozen=True)
class Category:
    """One category of a resource layer."""

    id: str
    label: str
    aliases: tuple[str, ...] = ()
    osm: dict[str, list[str]] = field(default_factory=dict)
    include: bool = True
    color: str = "#3388ff"
    kind: CategoryKind = "place"
    food: bool = False
    layer: str | None = None  # the resource layer detailing this category, if any
    icon: str = ""  # the map marker's glyph (one or two characters)
    label_en: str = ""  # the label in the English pages
    walk_threshold_m: float | None = None  # "within reach" in the planning tools, if set


@dataclass(frozen=True)
class ResourceLayer:
    """A resource layer definition: its categories and how they are recognised."""

    id: str
    label: str
    description: str
    categories: tuple[Category, ...]
    operator_types: dict[str, str] = field(default_factory=dict)
    #: ``[public_transport]``: a bus stop's walk_threshold_m and min_weekday_departures
    public_transport: dict[str, float] = field(default_factory=dict)

    @cached_property
    def by_id(self) -> dict[str, Category]:
        """The categories by id, in definition order."""
        return {c.id: c for c in self.categories}

    @cached_property
    def _lookup(self) -> dict[str, str]:
        lookup: dict[str, str] = {}
        for cat in self.categories:
            for name in (cat.id, cat.label, *cat.aliases):
                lookup.setdefault(_fold(name), cat.id)
        return lookup

    def category_key(self, text: str, *, column: str | None = "category") -> str:
        """The id of the category called ``text`` (id, label or alias); raise when unknown."""
        key = self._lookup.get(_fold(str(text)))
        if key is None:
            known = "、".join(c.label for c in self.categories)
            raise UnknownCategoryError(msg("unknown category; known categories are {known}",
                                           known=known), column=column, value=text)
        return key

    def categories_named(self, text: str) -> list[str]:
        """Ids of the categories whose label or an alias contains ``text``, or whose
        English label is ``text`` (case- and width-insensitive): what a keyword search
        finds by category (サロン finds 通いの場・サロン)."""
        key = _fold(text)
        if not key:
            return []
        return [c.id for c in self.categories
                if any(key in _fold(n) for n in (c.label, *c.aliases))
                or (c.label_en and key == _fold(c.label_en))]

    def operator_type_key(self, text: str, *, column: str | None = "operator_type") -> str:
        """The operator-type key for a key or Japanese label; raise when unknown."""
        for key, label in self.operator_types.items():
            if _fold(str(text)) in (_fold(key), _fold(label)):
                return key
        known = "、".join(self.operator_types.values())
        raise InputError(msg("unknown operator type; known types are {known}", known=known),
                         column=column, value=text)

    @property
    def food_places(self) -> list[Category]:
        """The food sources people walk to (``kind = "place"``, ``food = true``): what the
        shopping-difficulty indicators measure the walk to."""
        return [c for c in self.categories if c.food and c.kind == "place"]

    def category(self, category_id: str) -> Category:
        """The category with this id."""
        for cat in self.categories:
            if cat.id == category_id:
                return cat
        raise UnknownCategoryError(msg("no category {category!r} in layer {layer!r}",
                                       category=category_id, layer=self.id))

    def restricted(self, include: list[str] | None = None,
                   exclude: list[str] | None = None) -> ResourceLayer:
        """A copy with only ``include`` counted (if given) and ``exclude`` left out."""
        known = {c.id for c in self.categories}
        for name in (include or []) + (exclude or []):
            if name not in known:
                raise UnknownCategoryError(msg("unknown category; known: {known}",
                                               known=", ".join(sorted(known))), value=name)
        cats = tuple(
            replace(c, include=(c.id in include if include else c.include)
                    and c.id not in (exclude or []))
            for c in self.categories)
        return ResourceLayer(self.id, self.label, self.description, cats, self.operator_types)

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
        import pandas as pd

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
            Naming the file, every offending row (spreadsheet rows), column and value.
        """
        folded = values.astype("string").map(lambda s: _fold(s) if isinstance(s, str) else s)
        mapped = folded.map(self._lookup)
        bad = mapped.isna()
        if bad.any():
            rows = bad.to_numpy().nonzero()[0]
            known = ", ".join(f"{c.id} ({c.label})" for c in self.categories)
            raise UnknownCategoryError(
                msg("unknown category; known categories: {known}", known=known), file=source,
                row=sheet_rows(rows), column=column, value=values.iloc[rows[0]])
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
        raise InputError(msg("layer definition not found"), file=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(msg("invalid TOML: {error}", error=str(exc)), file=path) from exc


def _layer_path(name_or_path: str | Path) -> Path:
    if isinstance(name_or_path, str) and not name_or_path.endswith(".toml"):
        return _named_layer_path(name_or_path, os.environ.get("GEO_SERVICE_LAYERS_DIR"))
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return path
    return settings.layers_dir() / f"{name_or_path}.toml"


@lru_cache(maxsize=64)
def _named_layer_path(name: str, layers_dir_setting: str | None) -> Path:
    """``layers/NAME.toml`` in the folder :func:`settings.layers_dir` gives for this
    ``GEO_SERVICE_LAYERS_DIR`` (made once: every category check of a registry read asks
    for the vocabulary, thousands of times)."""
    return settings.layers_dir() / f"{name}.toml"


def load_resource_layer(name_or_path: str | Path = FOOD_STORE_LAYER) -> ResourceLayer:
    """Read a resource layer by name (``layers/NAME.toml``) or path."""
    path = _layer_path(name_or_path)
    return _load_resource_layer(path, _changed(path))


def _changed(path: Path) -> int:
    """``path``'s modification time, the key of the read-once caches below (0 when it
    cannot be read: ``_read_toml`` then says what is wrong)."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@lru_cache(maxsize=16)
def _load_resource_layer(path: Path, changed: int) -> ResourceLayer:
    """The layer in ``path``, read once per modification time ``changed``."""
    data = _read_toml(path)
    cats: list[Category] = []
    try:
        meta = data["layer"]
        for c in data["categories"]:
            cat = Category(id=str(c["id"]), label=str(c["label"]),
                           aliases=tuple(str(a) for a in c.get("aliases", [])),
                           osm={k: list(v) for k, v in c.get("osm", {}).items()},
                           include=bool(c.get("include", True)),
                           color=str(c.get("color", "#3388ff")), kind=c.get("kind", "place"),
                           food=bool(c.get("food", False)), layer=c.get("layer"),
                           icon=str(c.get("icon", "")), label_en=str(c.get("label_en", "")),
                           walk_threshold_m=(float(c["walk_threshold_m"])
                                             if "walk_threshold_m" in c else None))
            if cat.kind not in CategoryKind.__args__:  # type: ignore[attr-defined]
                raise InputError(msg("kind must be place, service or mobile"), file=path,
                                 column="kind", value=cat.kind)
            if any(cat.id == other.id for other in cats):
                raise InputError(msg("category id defined twice"), file=path, value=cat.id)
            cats.append(cat)
    except KeyError as exc:
        raise InputError(msg("missing key {key}", key=str(exc)), file=path) from exc
    return ResourceLayer(meta["id"], meta["label"], meta.get("description", ""), tuple(cats),
                         {str(k): str(v) for k, v in data.get("operator_types", {}).items()},
                         {str(k): float(v) for k, v in data.get("public_transport", {}).items()})


def load_vocabulary() -> ResourceLayer:
    """The registry's category vocabulary (``layers/resource_categories.toml``)."""
    return load_resource_layer("resource_categories")


def load_map_style(name_or_path: str | Path = "difficulty") -> dict[str, Any]:
    """Read a map style (``layers/difficulty.toml``) and check its classes fit together."""
    path = _layer_path(name_or_path)
    return copy.deepcopy(_load_map_style(path, _changed(path)))


@lru_cache(maxsize=16)
def _load_map_style(path: Path, changed: int) -> dict[str, Any]:
    """The map style in ``path``, read and checked once per modification time ``changed``
    (``GET /ui/config`` asks for it on every page load)."""
    style = _read_toml(path)
    _check_classes(style.get("map", {}), path)
    return style


def load_difference_style(name_or_path: str | Path = "difficulty") -> dict[str, Any]:
    """The ``[difference]`` table of a map style (``layers/difficulty.toml``): the classes
    of a what-if scenario's difference map (percentage points of change), checked as the
    ``[map]`` classes are."""
    path = _layer_path(name_or_path)
    table = _read_toml(path).get("difference")
    if not isinstance(table, dict):
        raise InputError(msg("the map style has no [difference] table (the classes of the "
                             "scenario difference map)"), file=path)
    _check_classes(table, path, table_name="difference")
    for key in ("no_data_color", "no_data_label"):
        if not isinstance(table.get(key), str):
            raise InputError(msg("[difference] needs {key}", key=key), file=path, column=key)
    return table


def _check_classes(m: dict[str, Any], path: Path, *, table_name: str = "map") -> None:
    """One more colour and label than breaks, and breaks that increase."""
    breaks, colors, labels = m.get("breaks", []), m.get("colors", []), m.get("labels", [])
    if len(colors) != len(breaks) + 1 or len(labels) != len(colors):
        raise InputError(msg("a map style needs one more colour and label than breaks "
                             "([{table}])", table=table_name), file=path)
    if not all(isinstance(b, int | float) for b in breaks):
        raise InputError(msg("class breaks are numbers"), file=path, column=table_name,
                         value=breaks)
    if list(breaks) != sorted(breaks):
        raise InputError(msg("class breaks must increase"), file=path, value=breaks)
