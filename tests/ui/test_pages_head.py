"""Every page's ``<head>`` as sent (written once in ``static/_head.html``, filled in by
``geo_service/api/routes/pages.py``): the character set first, then the title, the
stylesheets in the order of the cascade, Leaflet's deferred scripts, the page's ES module
last with every module it imports preloaded, each naming a file the service has."""

from __future__ import annotations

import re

import pytest

from geo_service.api.routes.pages import (
    IMPORT,
    PAGES,
    STATIC_DIR,
    VENDOR_DIR,
    page_modules,
    render_page,
)

SERVED = {"/static/": STATIC_DIR, "/vendor/": VENDOR_DIR}


def _head(name: str) -> list[str]:
    html = render_page(name)
    assert html.startswith("<!doctype html>\n<html lang=\"ja\">\n")
    assert "{{" not in html and "{%" not in html and html.count("<head>") == 1
    return re.search(r"<head>\n(.*?)</head>", html, re.S).group(1).splitlines()


def _file(url: str):
    prefix = next(p for p in SERVED if url.startswith(p))
    return SERVED[prefix] / url.removeprefix(prefix)


@pytest.mark.parametrize("name", sorted(PAGES.values()))
def test_the_head_of_every_page(name):
    page = name.removesuffix(".html")
    lines = _head(name)
    assert lines[:2] == ['<meta charset="utf-8">',
                         '<meta name="viewport" content="width=device-width, initial-scale=1">']
    assert re.fullmatch(r"<title>[^<]+</title>", lines[2])
    styles = _all(r'<link rel="stylesheet" href="([^"]+)">', lines)
    scripts = _all(r'<script src="([^"]+)" defer></script>', lines)
    preloads = _all(r'<link rel="modulepreload" href="([^"]+)">', lines)
    assert len(lines) == 3 + len(styles) + len(scripts) + len(preloads) + 1  # nothing else
    assert lines[-1] == f'<script type="module" src="/static/js/{page}.js"></script>'
    assert styles[0] == "/vendor/leaflet/leaflet.css"
    assert styles[-2:] == ["/static/css/app.css", f"/static/css/{page}.css"]
    assert scripts[0] == "/vendor/leaflet/leaflet.js"
    assert all(s.startswith("/vendor/") for s in scripts)  # Leaflet and its plugins: classic
    assert "/static/js/common.js" in preloads
    for url in styles + scripts + preloads:
        assert _file(url).is_file(), url


def _all(pattern: str, lines: list[str]) -> list[str]:
    return [m.group(1) for m in map(re.compile(pattern).fullmatch, lines) if m]


def test_a_page_preloads_every_module_it_imports():
    """What a module imports, and what that imports, is preloaded; the staff page's editor
    and import come by ``import()`` when a view first needs them, not with the login form."""
    assert page_modules("resident") == ["basemap.js", "common.js"]
    assert page_modules("staff") == ["basemap.js", "common.js", "staff-session.js"]
    assert page_modules("staff-editor") == [
        "basemap.js", "common.js", "staff-editor-area.js", "staff-editor-form.js",
        "staff-editor-history.js", "staff-editor-map.js", "staff-editor-stops.js",
        "staff-session.js"]


@pytest.mark.parametrize("path", sorted((STATIC_DIR / "js").glob("*.js")), ids=lambda p: p.name)
def test_modules_import_in_one_line_each(path):
    """So that ``page_modules`` sees every import; and no script hides in a self-invoking
    function sharing globals any more."""
    source = path.read_text(encoding="utf-8")
    imports = re.findall(r"^import\b.*$", source, re.M)
    assert imports == [m.group(0) for m in IMPORT.finditer(source)]
    assert re.findall(r"^(?:const \w+ = )?\(\(\) => \{$", source, re.M) == []  # no IIFE


@pytest.mark.parametrize("name", sorted(PAGES.values()))
def test_no_page_writes_its_own_head(name):
    source = (STATIC_DIR / name).read_text(encoding="utf-8")
    assert re.findall(r"<(?:head|meta|link|script)[\s>]", source) == []
    assert source.count('{% from "_head.html" import head %}') == 1
