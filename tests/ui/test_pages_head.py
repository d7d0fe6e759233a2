"""Every page's ``<head>`` as sent (written once in ``static/_head.html``, filled in by
``geo_service/api/routes/pages.py``): the character set first, then the title, the
stylesheets and the deferred scripts in the order the cascade and the scripts need, each
naming a file the service has."""

from __future__ import annotations

import re

import pytest

from geo_service.api.routes.pages import PAGES, STATIC_DIR, VENDOR_DIR, render_page

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
    styles = [m.group(1) for m in map(re.compile(r'<link rel="stylesheet" href="([^"]+)">').
                                      fullmatch, lines) if m]
    scripts = [m.group(1) for m in map(re.compile(r'<script src="([^"]+)" defer></script>').
                                       fullmatch, lines) if m]
    assert len(lines) == 3 + len(styles) + len(scripts)  # nothing else, every script deferred
    assert styles[0] == "/vendor/leaflet/leaflet.css"
    assert styles[-2:] == ["/static/css/app.css", f"/static/css/{page}.css"]
    assert scripts[0] == "/vendor/leaflet/leaflet.js" and scripts[-1] == f"/static/js/{page}.js"
    common = scripts.index("/static/js/common.js")
    assert all(s.startswith("/vendor/") for s in scripts[:common])  # Leaflet and its plugins
    assert all(s.startswith("/static/js/") for s in scripts[common:])  # then GS and the page's
    for url in styles + scripts:
        assert _file(url).is_file(), url


@pytest.mark.parametrize("name", sorted(PAGES.values()))
def test_no_page_writes_its_own_head(name):
    source = (STATIC_DIR / name).read_text(encoding="utf-8")
    assert re.findall(r"<(?:head|meta|link|script)[\s>]", source) == []
    assert source.count('{% from "_head.html" import head %}') == 1
