"""Nothing imports upward: the engine never sees the registry or HTTP, and ``api/`` holds
routes, dependencies, schemas and serialisation only (no SQL, no engine arithmetic)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import geo_service

PACKAGE = Path(geo_service.__file__).resolve().parent
ENGINE = ("crs", "mesh", "readers", "population", "boundaries", "layers", "layer_points",
          "network", "cutoff_dijkstra", "access", "region", "difficulty", "coverage")
REGISTRY_AND_UP = ("geo_service.resources", "geo_service.store", "geo_service.importers",
                   "geo_service.auth", "geo_service.walking", "geo_service.api",
                   "geo_service.cli", "geo_service.registry_cli", "geo_service.config",
                   "fastapi", "sqlalchemy")
NOT_IN_API = ("sqlalchemy", "numpy", "scipy", "geopandas", "pandas", "geo_service.store.schema",
              "geo_service.access", "geo_service.network", "geo_service.cutoff_dijkstra",
              "geo_service.difficulty", "geo_service.coverage")


def imports(path: Path) -> set[str]:
    """Every module a file imports (at any depth of the file)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def offending(found: set[str], banned: tuple[str, ...]) -> list[str]:
    return sorted(m for m in found if any(m == b or m.startswith(b + ".") for b in banned))


@pytest.mark.parametrize("module", ENGINE)
def test_the_engine_and_inputs_import_nothing_above_them(module):
    assert offending(imports(PACKAGE / f"{module}.py"), REGISTRY_AND_UP) == []


@pytest.mark.parametrize("path", sorted((PACKAGE / "api").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_api_package_holds_no_sql_and_no_engine(path):
    assert offending(imports(path), NOT_IN_API) == []


def test_the_coverage_service_knows_no_http_and_no_sql():
    assert offending(imports(PACKAGE / "walking.py"),
                     ("fastapi", "starlette", "sqlalchemy", "geo_service.api",
                      "geo_service.store.schema")) == []
