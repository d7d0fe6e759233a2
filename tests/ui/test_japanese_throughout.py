"""Every page of the demo service in Japanese shows no English word (issue 18, item 3),
and in English no untranslated Japanese page text.

The pages are walked as a person would: the residents' page and its handout, the staff
list, the editor with a change in its history, the import check of a file with faults,
the deleted list, the council page, and the planner with a gap ranking, a siting run and a
scenario computed. The browser asks for Japanese (``Accept-Language: ja``), every
request that is not to loopback is refused. The visible text (``innerText``), the page
title and the placeholders and labels people read are checked word by word; allowed are
units, the names of formats and sources (OSM, GTFS, CSV …) and the map's attribution.
"""

from __future__ import annotations

import re

import pytest

from geo_service.layers import load_vocabulary
from geo_service.registry.store import ResourceFilter
from tests.ui.conftest import ADMIN, wait_for_map

pytestmark = pytest.mark.browser

#: words that are not English to a Japanese reader: units, formats, sources, the map's
#: attribution and the product's name
ALLOWED = {"m", "km", "OSM", "GTFS", "GTFS-JP", "CSV", "XLSX", "Excel", "ID", "API", "URL",
           "FAX", "PDF", "GeoJSON", "Leaflet", "OpenStreetMap", "contributors", "e-Stat",
           "geo-service", "HiGHS", "k", "pt", "TEL", "QR", "UTF-8", "utf",
           "English"}  # the link to the English page, named in its own language
#: a word: letters (and inner hyphens) not part of an id such as S01 or c250
WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z](?:[A-Za-z\-]*[A-Za-z])?(?![A-Za-z0-9])")
#: a run of Japanese (kana, kanji)
JAPANESE = r"[\u3040-\u30ff\u4e00-\u9fff]+"
#: user names the walk meets (data: the accounts of the test and the demo's seeding)
USERS = ("admin", "coord", "demo")
#: what a page shows people: its text, title, placeholders, labels and tooltips
SHOWN = """() => {
    const parts = [document.title, document.body.innerText];
    for (const e of document.querySelectorAll('[placeholder], [aria-label], [title]')) {
        if (e.closest('[hidden], [aria-hidden="true"]')) continue;
        for (const a of ['placeholder', 'aria-label', 'title']) {
            if (e.hasAttribute(a)) parts.push(e.getAttribute(a));
        }
    }
    return parts.join('\\n');
}"""


#: a list with a fault in each row: a place far outside the region, an unknown category
IMPORT_FILE = "名称,種別,緯度,経度\n取込A,通いの場・サロン,35.0,139.0\n取込B,存在しない種別,,\n"


def english_words(text: str) -> list[str]:
    """The English words of ``text`` outside :data:`ALLOWED` (URLs, e-mail addresses and
    file names, which are data, left out)."""
    text = re.sub(r"\S+@\S+|https?://\S+|\S+\.(csv|xlsx|json|html|zip)\b|[?&]\w+=", " ", text)
    text = re.sub(rf"(?<![A-Za-z])({'|'.join(USERS)})(?![A-Za-z])", " ", text)
    return sorted({w for w in WORD.findall(text) if w not in ALLOWED})


def data_names(ui) -> list[str]:
    """What the pages show of the data, in whatever language it was written: names of
    areas, places (deleted too, as other tests of the session left them), stores and the
    region, the categories' own names, what the walk wrote and saved, longest first."""
    region = ui.server.region
    every = ui.server.store.all(ResourceFilter(include_staff=True, include_deleted=True))
    names = [str(n) for layer in region.areas for n in layer.areas["name"]]
    names += [layer.name for layer in region.areas] + [region.name or "", region.label]
    names += list(region.attributions)  # the wording a source's terms require, verbatim
    names += [t for r in every for t in (r.name, r.description, r.notes) if t]
    names += [str(n) for frame in region.resources.values() if "name" in frame
              for n in frame["name"]]
    names += [c.label for c in load_vocabulary().categories]
    names += ["閉店の確認", "将来"]  # the scenarios the walk saved
    names += [*IMPORT_FILE.splitlines()[0].split(","), "存在しない種別"]  # the file's own
    return sorted(set(names), key=len, reverse=True)


def without(text: str, names: list[str]) -> str:
    """``text`` with every one of ``names`` taken out."""
    for name in names:
        text = text.replace(name, " ")
    return text


def _save_a_scenario_of_the_command_line(ui) -> None:
    """A scenario of kinds only the command line makes (a projection, a bus route cut), as
    ``geo-service scenario create`` saves it, for the planner's list."""
    from geo_service.planning.answers import scenario_folder
    from geo_service.planning.scenarios import Scenario, save_scenario

    state = ui.server.app.state.geo
    folder = scenario_folder(state.walking, state.settings.data_dir)
    if not (folder / "将来.json").exists():
        save_scenario(Scenario("将来", [{"kind": "projection", "file": "suikei.csv",
                                         "year": 2035},
                                        {"kind": "cut_route", "feed": "bus.zip"}],
                               region=ui.server.region.key), folder)


def _walk_pages(ui, *, lang: str) -> dict[str, str]:
    """Open every page and view, with results shown; return {view: its shown text}."""
    suffix = "" if lang == "ja" else "?lang=en"
    shown: dict[str, str] = {}

    def keep(page, where):
        ui.wait_for_quiet_network(page)
        shown[where] = page.evaluate(SHOWN)

    store = ui.server.store
    salon = next(r for r in store.all() if r.lon is not None and r.category == "salon")
    store.update(salon.id, {"description": "画面の確認のための変更", "notes": "備考の変更",
                            "visibility": "staff"}, user="admin")
    page = ui.open("/" + suffix, lang=lang)
    page.wait_for_selector("body[data-ready]")
    wait_for_map(page)
    keep(page, "residents")
    page = ui.open(f"/handout{suffix}", lang=lang)
    keep(page, "handout")
    page = ui.open(f"/handout?place={salon.id}" + ("&lang=en" if lang == "en" else ""),
                   lang=lang)
    keep(page, "handout of a place")
    page = ui.open("/staff" + suffix, lang=lang, login=ADMIN)
    page.wait_for_selector("#list-table tbody tr, .staff-list tbody tr, table tbody tr")
    keep(page, "staff list")
    page.goto(ui.server.url + f"/staff{suffix}#edit={salon.id}")
    page.wait_for_selector("#history li")
    field = page.locator("#history .staff-history-field[data-field='description']").first
    assert field.inner_text() == ("内容・活動概要" if lang == "ja" else "Description")
    keep(page, "staff editor and history")
    store.update(salon.id, {"visibility": "public"}, user="admin")  # as the other tests had it
    page.goto(ui.server.url + f"/staff{suffix}#deleted")
    keep(page, "staff deleted")
    page.goto(ui.server.url + f"/staff{suffix}#new")
    keep(page, "staff new")
    page.goto(ui.server.url + f"/staff{suffix}#import")
    page.locator("input[type=file]").set_input_files(files=[{
        "name": "list.csv", "mimeType": "text/csv", "buffer": (
            "名称,種別,緯度,経度\n取込A,通いの場・サロン,35.0,139.0\n"
            "取込B,存在しない種別,,\n").encode()}])
    page.locator("#import-check, button:has-text('確認する'), button:has-text('Check')"
                 ).first.click()
    page.locator("#import-report").wait_for()
    keep(page, "staff import check")
    page = ui.open("/council" + suffix, lang=lang)
    page.wait_for_selector("body[data-ready]")
    keep(page, "council")
    _save_a_scenario_of_the_command_line(ui)
    page = ui.open("/planner" + suffix, lang=lang, login=ADMIN)
    page.wait_for_selector("body[data-ready]")
    page.wait_for_selector("body[data-gaps]:not([data-gaps-loading])")
    keep(page, "planner gaps")
    page.locator("#site-run").click()
    page.wait_for_selector("#site-table tbody tr")
    keep(page, "planner siting")
    page.wait_for_selector("#store-list input[data-store]")
    page.locator("#store-list input[data-store]").first.check()
    page.fill("#scenario-name", "閉店の確認" if lang == "ja" else "closure check")
    page.locator("#scenario-create").click()
    page.wait_for_selector("#compare-table tbody tr")
    row = page.locator("#scenario-table tr[data-scenario='将来']")
    assert row.inner_text().count("将来人口 2035年（suikei.csv）・バス路線の廃止（bus.zip）" if
                                  lang == "ja" else "future population 2035 (suikei.csv)") == 1
    keep(page, "planner scenario")
    return shown


def _in_context(text: str, words: list[str]) -> list[str]:
    """Each word with the text around it (for the failure message)."""
    return [next((text[max(m.start() - 30, 0):m.end() + 30].replace("\n", " | ")
                  for m in re.finditer(rf"(?<![A-Za-z]){re.escape(w)}(?![A-Za-z])", text)), w)
            for w in words]


def test_japanese_pages_show_no_english(ui):
    shown = _walk_pages(ui, lang="ja")
    names = data_names(ui)
    found = {where: _in_context(text, english_words(without(text, names)))
             for where, text in shown.items()}
    assert {k: v for k, v in found.items() if v} == {}
    assert len(shown) == 12


def test_english_pages_show_no_untranslated_page_text(ui):
    """In English all the pages' own words and the server's messages are English:
    Japanese is left only in the data — names of areas, places, stores and the region,
    the categories' own names (an import's faults list them as a file must spell them),
    the file's own headers, the map's one-character icons — and in 日本語, the link to
    the Japanese page."""
    shown = _walk_pages(ui, lang="en")
    assert len(shown) == 12
    names = [*data_names(ui), "日本語", "担当圏域"]  # a column as a file must spell it
    found = {where: sorted({w for w in re.findall(JAPANESE, without(text, names))
                            if len(w) > 1})
             for where, text in shown.items()}
    assert {k: v for k, v in found.items() if v} == {}
