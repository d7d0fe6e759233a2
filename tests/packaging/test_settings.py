"""Settings: folders are read from the environment when used, never from the checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import platformdirs

from geo_service import settings
from geo_service.config import ServiceSettings, data_dir
from geo_service.layers import load_resource_layer
from tests.conftest import ROOT


def test_layer_definitions_are_the_repository_folder(monkeypatch):
    """Unset, the shipped definitions are used; in an editable install (the tests' set-up)
    they are the repository's layers/ folder itself, so an edit there shows at once."""
    monkeypatch.delenv("GEO_SERVICE_LAYERS_DIR", raising=False)
    folder = settings.layers_dir()
    assert {"food_stores.toml", "difficulty.toml", "gathering_places.toml",
            "resource_categories.toml"} <= {p.name for p in folder.iterdir()}
    import geo_service

    if Path(geo_service.__file__).resolve().parent == ROOT / "geo_service":
        assert folder.resolve() == ROOT / "layers"


def test_layers_dir_set_after_import_takes_effect(monkeypatch, tmp_path):
    text = (settings.layers_dir() / "food_stores.toml").read_text(encoding="utf-8")
    assert 'label = "食料品店"' in text
    (tmp_path / "food_stores.toml").write_text(
        text.replace('label = "食料品店"', 'label = "食料品店 (地元版)"', 1), encoding="utf-8")
    assert load_resource_layer("food_stores").label == "食料品店"
    monkeypatch.setenv("GEO_SERVICE_LAYERS_DIR", str(tmp_path))
    assert settings.layers_dir() == tmp_path
    assert load_resource_layer("food_stores").label == "食料品店 (地元版)"
    monkeypatch.delenv("GEO_SERVICE_LAYERS_DIR")
    assert load_resource_layer("food_stores").label == "食料品店"


def test_data_and_cache_dirs_set_after_import_take_effect(monkeypatch, tmp_path):
    monkeypatch.delenv("GEO_SERVICE_CACHE_DIR", raising=False)
    monkeypatch.delenv("GEO_SERVICE_DATABASE_URL", raising=False)
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path / "d"))
    assert data_dir() == tmp_path / "d"
    assert settings.cache_dir() == tmp_path / "d" / "cache"
    assert ServiceSettings().data_dir == tmp_path / "d"
    monkeypatch.setenv("GEO_SERVICE_CACHE_DIR", str(tmp_path / "c"))
    assert settings.cache_dir() == tmp_path / "c"


def test_default_data_dir_is_per_user_not_the_checkout(monkeypatch):
    for name in ("GEO_SERVICE_DATA_DIR", "GEO_SERVICE_CACHE_DIR", "GEO_SERVICE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    user = Path(platformdirs.user_data_dir("geo-service"))
    assert data_dir() == user
    assert settings.cache_dir() == user / "cache"
    service = ServiceSettings(_env_file=None)
    assert service.data_dir == user
    assert service.database_url == f"sqlite:///{user / 'registry.sqlite3'}"
    assert not user.resolve().is_relative_to(ROOT)


def test_uninstalled_checkout_reads_its_layers_folder(tmp_path):
    """A checkout put on sys.path without installing (no site-packages, so no editable
    finder) still finds its layer definitions."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from geo_service import settings; "
            "print(settings.layers_dir())")
    out = subprocess.run([sys.executable, "-S", "-c", code, str(ROOT)], cwd=tmp_path,
                         capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin"}).stdout.strip()
    assert Path(out).resolve() == ROOT / "layers"
