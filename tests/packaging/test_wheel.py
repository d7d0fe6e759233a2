"""A wheel that installs: built offline from this tree, installed into a fresh virtualenv,
``geo-service demo`` runs from an empty folder with nothing of the checkout in reach.

The virtualenv sees the machine's packages (``--system-site-packages``, or the running
virtualenv's through a ``.pth`` file) so nothing is downloaded; ``pip install --no-index``
then also checks, offline, that every declared dependency is present. The checkout's own
editable install is visible there too, which is why the test asserts that ``geo_service``
is imported from the new virtualenv.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # the fast default leaves it out (README, Tests)

LAYERS = sorted(p.name for p in (ROOT / "layers").glob("*.toml"))
# Not needed to build the wheel (and large, or the other engineer's tools): left out of the
# copy that is built, so that nothing stale (build/) or unrelated reaches it.
_SKIP_TOP = {".git", "build", "dist", "data", "tests", "benchmarks", ".ci", "out",
             "geo-service-demo"}
_SKIP_ANY = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".venv", "venv"}


def _wheel_tools_missing() -> str | None:
    if importlib.util.find_spec("pip") is None:
        return "pip is not installed"
    if importlib.util.find_spec("venv") is None:
        return "the venv module is not available"
    # (setuptools is not imported here: its distutils shim must not meet the distutils
    # other packages of the test process may have imported)
    try:
        major, minor = (int(x) for x in metadata.version("setuptools").split(".")[:2])
    except metadata.PackageNotFoundError:
        return "setuptools is not installed"
    if (major, minor) < (70, 1) and importlib.util.find_spec("wheel") is None:
        return "setuptools >= 70.1 (or the wheel package) is needed to build a wheel offline"
    return None


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that points Python or geo-service elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GEO_SERVICE_", "PYTHON", "VIRTUAL_ENV", "PIP_INDEX",
                                "PIP_EXTRA_INDEX"))}
    env.update(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv, empty folder, data folder, wheel) with the wheel of this tree installed."""
    missing = _wheel_tools_missing()
    if missing:
        pytest.skip(missing)
    tmp = tmp_path_factory.mktemp("wheel")
    env = _clean_env()

    def ignore(folder: str, names: list[str]) -> list[str]:
        top = Path(folder) == ROOT
        return [n for n in names if n in _SKIP_ANY or n.endswith((".egg-info", ".whl"))
                or (top and n in _SKIP_TOP)]

    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=ignore)
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
              "--no-index", "-w", tmp / "dist", src], cwd=tmp, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = (tmp / "dist").glob("geo_service-*.whl")

    venv = tmp / "venv"
    r = _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv],
             cwd=tmp, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    python = venv / "bin" / "python"
    if sys.prefix != sys.base_prefix:
        # Running in a virtualenv: --system-site-packages reaches the base interpreter's
        # packages only; add this environment's, after the new venv's own.
        purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                       cwd=tmp, env=env).stdout.strip()
        dirs = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
        Path(purelib, "_outer_env.pth").write_text(
            "".join(f"import site; site.addsitedir({d!r})\n" for d in sorted(dirs)))
    # pip itself comes from the machine's packages (the venv is made without its own)
    r = _run([python, "-m", "pip", "install", "--no-index", wheel], cwd=tmp, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    empty = tmp / "empty"
    empty.mkdir()
    return venv, empty, tmp / "data", wheel


def test_wheel_ships_the_layer_definitions(installed):
    venv, empty, _, wheel = installed
    with zipfile.ZipFile(wheel) as z:
        shipped = {Path(n).name: z.read(n) for n in z.namelist()
                   if n.startswith("geo_service/layer_definitions/") and n.endswith(".toml")}
    assert sorted(shipped) == LAYERS
    for name, data in shipped.items():
        assert data == (ROOT / "layers" / name).read_bytes(), name
    code = ("import geo_service; from geo_service import settings; "
            "print(geo_service.__file__); print(settings.layers_dir())")
    r = _run([venv / "bin" / "python", "-c", code], cwd=empty, env=_clean_env())
    assert r.returncode == 0, r.stderr
    module, layers = (Path(line).resolve() for line in r.stdout.split())
    assert module.is_relative_to(venv.resolve()), f"geo_service imported from {module}"
    assert layers.is_relative_to(module.parent), layers
    assert sorted(p.name for p in layers.glob("*.toml")) == LAYERS


def test_wheel_ships_the_common_password_list(installed):
    venv, empty, _, wheel = installed
    with zipfile.ZipFile(wheel) as z:
        assert "geo_service/common_passwords.txt" in z.namelist()
    code = ("from geo_service.registry.auth import check_password\n"
            "try:\n    check_password('password123')\n"
            "except ValueError as e:\n    print(e)")
    r = _run([venv / "bin" / "python", "-c", code], cwd=empty, env=_clean_env())
    assert r.returncode == 0 and "too common" in r.stdout, r.stdout + r.stderr


def test_installed_demo_runs_from_an_empty_folder(installed):
    venv, empty, data, _ = installed
    r = _run([venv / "bin" / "geo-service", "demo", "--out", "out"], cwd=empty,
             env=_clean_env(GEO_SERVICE_DATA_DIR=str(data)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert (empty / "out" / "map.html").is_file()
    assert (empty / "out" / "areas.csv").is_file()


def test_pyproject_lists_every_package():
    """The package list is explicit (the layer definitions are a mapped package, which
    packages.find cannot discover): it must name every package under geo_service/."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    tool = config["tool"]["setuptools"]
    mapped = {"geo_service.layer_definitions": "layers", "geo_service.static": "static"}
    assert tool["package-dir"] == mapped
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "geo_service").rglob("__init__.py")}
    assert set(tool["packages"]) == found | set(mapped), (
        "add the new package to [tool.setuptools] packages in pyproject.toml")


def test_wheel_ships_and_serves_the_pages(installed):
    """Every file of static/ and the vendored libraries is in the wheel, and the installed
    service serves the pages, their scripts and the UI configuration."""
    venv, empty, data, wheel = installed
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for folder, inside in ((ROOT / "static", "geo_service/static"),
                           (ROOT / "geo_service" / "vendor", "geo_service/vendor")):
        for path in folder.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert f"{inside}/{path.relative_to(folder).as_posix()}" in names, path
    code = ("from fastapi.testclient import TestClient\n"
            "from geo_service.api import create_app\n"
            "from geo_service.api.routes.pages import PAGES\n"
            "c = TestClient(create_app())\n"
            "for p in [*PAGES, '/static/js/common.js', '/vendor/leaflet/leaflet.js',\n"
            "          '/vendor/markercluster/leaflet.markercluster.js', '/ui/config']:\n"
            "    r = c.get(p)\n"
            "    print(p, r.status_code, len(r.content))\n")
    r = _run([venv / "bin" / "python", "-c", code], cwd=empty,
             env=_clean_env(GEO_SERVICE_DATA_DIR=str(data)))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")[:-1]
    from geo_service.api.routes.pages import PAGES

    assert len(lines) == len(PAGES) + 4, r.stdout
    assert all(line.split()[1] == "200" for line in lines), r.stdout


def test_wheel_ships_the_message_catalogue(installed):
    """The Japanese catalogue is in the wheel, and the installed command speaks Japanese
    to a Japanese locale and English to another."""
    venv, empty, data, wheel = installed
    with zipfile.ZipFile(wheel) as z:
        assert "geo_service/locale/ja/LC_MESSAGES/geo_service.po" in z.namelist()
    args = [venv / "bin" / "geo-service", "site", "--need", "food_store", "--grid", "250",
            "--candidates", "x.csv"]
    r = _run(args, cwd=empty, env=_clean_env(GEO_SERVICE_DATA_DIR=str(data),
                                             LANG="ja_JP.UTF-8", LC_ALL="", LC_MESSAGES=""))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "入力エラー" in r.stderr and "どちらか一方だけを指定してください" in r.stderr
    r = _run(args, cwd=empty, env=_clean_env(GEO_SERVICE_DATA_DIR=str(data), LANG="C.UTF-8",
                                             LC_ALL="", LC_MESSAGES=""))
    assert "input error" in r.stderr and "not both" in r.stderr
