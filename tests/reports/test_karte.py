"""The 地域カルテ and the 生活便利帳 on the synthetic demo.

- a karte's numbers equal the API's for the same area (``/difficulty/{layer}``,
  ``/profiles/{layer}``), and the gap numbers equal ``find_gaps`` (``geo-service gaps``);
- the PDF renders (``pdftoppm``) with the area's name in page 1's text (``pdftotext``):
  Debian's chromium and poppler-utils; skipped without them unless
  ``GEO_SERVICE_REQUIRE_BROWSER`` is set;
- an attack-like registry name reaches the pages as text;
- a batch writes one file per area, and nothing when it fails midway.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess

import pytest
import shapely
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service.registry.resources import ResourceFields
from geo_service.reports.karte import format_fee, format_schedule, layer_kartes

ATTACK = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(TestClient, WalkingService, region folder, database url) on the demo, with a
    public salon named like an attack in the first 小学校区 (and a staff-only one)."""
    from geo_service.api import create_app
    from geo_service.service.walking import WalkingService
    from tests.utils.demo import demo_service

    demo = demo_service(tmp_path_factory.mktemp("karte"))
    region, store = demo.region, demo.store
    walking = WalkingService(region, store)
    first = region.areas[0].areas.to_crs(4326).geometry.iloc[0].representative_point()
    store.add(ResourceFields(name=ATTACK, category="salon", lon=first.x, lat=first.y,
                             schedule={"weekdays": ["wed"], "start": "10:00", "end": "11:30",
                                       "frequency": "毎週"},
                             fee={"kind": "free"}, contact={"tel": "000-000-9999"}))
    store.add(ResourceFields(name="職員用メモ：個別支援サロン", category="salon", lon=first.x,
                             lat=first.y, visibility="staff"))
    walking.refresh()
    client = TestClient(create_app(demo.settings, store=store, walking=walking))
    return client, walking, demo.region_dir, demo.url


def test_schedule_and_fee_in_words():
    assert format_schedule({"weekdays": ["wed"], "start": "10:00", "end": "11:30"}) == \
        "毎週水曜 10:00〜11:30"
    assert format_schedule({"weekdays": ["tue"], "frequency": "第1・第3", "start": "13:30"}) == \
        "第1・第3火曜 13:30〜"
    assert format_schedule({"weekdays": ["mon"], "frequency": "第2月曜", "text": "祝日休み"}) == \
        "第2月曜・祝日休み"
    assert format_schedule({"stops": [{"weekday": "thu", "time": "10:30", "name": "B"},
                                      {"weekday": "tue", "time": "09:00", "name": "A"}]}) == \
        "火曜 09:00 A、木曜 10:30 B"
    assert format_schedule({}) == "" and format_schedule(None) == ""
    assert format_fee({"kind": "free"}) == "無料"
    assert format_fee({"kind": "paid", "amount_yen": 1500, "text": None}) == "1,500円"
    assert format_fee({"kind": "unknown"}) == "—"
    # the text as written, alone when it states the amount (never 「500円 1食500円」)
    assert format_fee({"kind": "paid", "amount_yen": 500, "text": "1食500円"}) == "1食500円"
    assert format_fee({"kind": "paid", "amount_yen": 1000, "text": "月1,000円"}) == "月1,000円"
    assert format_fee({"kind": "paid", "amount_yen": 300, "text": "材料費別"}) == "300円 材料費別"


def same_number(mine, theirs) -> bool:
    """Equal to 1e-12 relative; an answer's null (no value, e.g. no people 65+) equals None
    or NaN (pytest 9's approx refuses None)."""
    if theirs is None:
        return mine is None or (isinstance(mine, float) and math.isnan(mine))
    return bool(mine == pytest.approx(theirs, rel=1e-12, nan_ok=True))


@pytest.mark.parametrize("layer", ["elementary", "mesh250"])
def test_karte_numbers_equal_the_api(demo, layer):
    client, walking, _, _ = demo
    kartes = {k["area_id"]: k for k in layer_kartes(walking, layer)}
    diff = client.get(f"/difficulty/{layer}")
    assert diff.status_code == 200, diff.text
    features = diff.json()["features"]
    assert len(features) == len(kartes)
    for f in features:
        p = f["properties"]
        k = kartes[p["area_id"]]
        assert k["name"] == p["name"]
        assert k["population"]["pop_total"] == pytest.approx(p["pop_total"], rel=1e-12)
        assert k["population"]["pop_65plus"] == pytest.approx(p["pop_65plus"], rel=1e-12)
        for key in ("beyond_65plus", "beyond_share", "beyond_65plus_straight",
                    "beyond_share_straight", "median_m", "p90_m", "stores_in_area",
                    "stores_near_area"):
            assert same_number(k["food"][key], p[key]), key
    profiles = client.get(f"/profiles/{layer}").json()
    assert profiles["threshold_m"] == walking.threshold_m
    for area in profiles["areas"]:
        k = kartes[area["area_id"]]
        assert k["population"]["pop_65plus"] == pytest.approx(area["pop_65plus"], abs=0.05)
        assert set(k["categories"]) == set(area["categories"])
        for cat, c in area["categories"].items():
            mine = k["categories"][cat]
            assert mine["located"] == c["located"]
            assert [r["id"] for r in mine["covering"]] == [r["id"] for r in c["covering"]]
            assert mine["status"] == c["status"]
            for key in ("share_65plus_covered", "share_65plus_within_walk"):
                assert same_number(mine[key], c[key]), (cat, key)
        located = {r["id"] for r in k["resources"]["located"]}
        assert located == {r["id"] for c in area["categories"].values() for r in c["located"]}


def test_gap_numbers_equal_find_gaps(demo):
    from geo_service.planning.gaps import find_gaps

    _, walking, _, _ = demo
    kartes = {k["area_id"]: k for k in layer_kartes(walking, "小学校区")}
    for need, key in (("food_store", "food_gap"), ("salon", "gathering")):
        table = find_gaps(walking, "小学校区", need).table.set_index("area_id")
        for aid, k in kartes.items():
            assert k[key]["gap_65plus"] == pytest.approx(table.loc[aid, "gap_65plus"])
            assert k[key]["beyond_65plus"] == pytest.approx(table.loc[aid, "beyond_65plus"])
            assert k[key]["rank_count"] == table.loc[aid, "rank_count"]
    # the food gap's people beyond range are the difficulty indicators' (same threshold)
    for k in kartes.values():
        assert k["food_gap"]["beyond_65plus"] == pytest.approx(k["food"]["beyond_65plus"])
    ranks = sorted(k["rank"]["beyond_share"] for k in kartes.values())
    assert ranks == [1, 2, 3]


def _projection_table(walking, folder, factor):
    """(the first layer's area ids, a projection table multiplying each area's 65+ by
    ``factor``)."""
    ids = [str(a) for a in walking.region.areas[0].areas["area_id"]]
    table = folder / "proj.csv"
    table.write_text("area_id,factor_65plus\n" + "".join(f"{a},{factor}\n" for a in ids),
                     encoding="utf-8")
    return ids, table


def test_karte_with_a_projection(demo, tmp_path):
    _, walking, _, _ = demo
    from geo_service.planning.projection import load_projection

    _, table = _projection_table(walking, tmp_path, 1.5)
    proj = load_projection(table, walking.region, year=2035, layer="小学校区")
    for k in layer_kartes(walking, "小学校区", projection=proj):
        p = k["projection"]
        assert p["year"] == 2035
        assert p["pop_65plus"] == pytest.approx(1.5 * k["population"]["pop_65plus"])
        assert p["beyond_65plus"] == pytest.approx(1.5 * k["food"]["beyond_65plus"])


def test_attack_like_name_is_text(demo, tmp_path):
    from geo_service.cli.karte import write_kartes

    _, walking, _, _ = demo
    first = str(walking.region.areas[0].areas["area_id"].iloc[0])
    [path] = [p for p in write_kartes(walking, "小学校区", tmp_path, area_ids=[first])
              if p.suffix == ".html"]
    html = path.read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img" not in html and "onerror=alert" not in html.replace(
        "&lt;img src=x onerror=alert(1)&gt;", "")
    assert "毎週水曜 10:00〜11:30" in html


def test_long_lists_are_cut_to_keep_one_page(demo):
    from geo_service.reports import karte_render as kr

    _, walking, _, _ = demo
    karte = layer_kartes(walking, "小学校区")[0]
    row = karte["resources"]["located"][0]
    many = [{**row, "id": f"x{i}", "name": f"資源{i:02d}"} for i in range(30)]
    page = kr.with_map(walking, {**karte, "resources": {"located": many, "serving": []}})
    html = kr.render_kartes([page])
    assert "資源13" in html and "資源14" not in html and "ほか 16 件" in html
    assert [r["number"] for r in page["resources"]["located"]] == list(range(1, 15))
    assert len(karte["resources"]["located"]) < 30  # the karte itself is not changed


def test_booklet_public_and_staff(demo, tmp_path):
    from geo_service.reports import karte_render as kr
    from geo_service.reports.karte import booklet

    _, walking, _, _ = demo
    layer = walking.region.areas[0]
    first = str(layer.areas["area_id"].iloc[0])
    public = kr.render_booklet(kr.booklet_with_map(walking, booklet(walking, layer.name, first)))
    assert "&lt;img src=x onerror=alert(1)&gt;" in public and "<img" not in public
    assert "000-000-9999" in public and "無料" in public and "<svg" in public
    # a staff-only resource shows to staff only
    staff = kr.render_booklet(kr.booklet_with_map(
        walking, booklet(walking, layer.name, first, staff=True)))
    assert "職員用メモ" not in public and "職員用メモ" in staff
    with pytest.raises(LookupError):
        booklet(walking, layer.name, "no-such-area")


def test_batch_writes_one_file_per_area(demo, tmp_path):
    from geo_service.cli.karte import write_kartes

    _, walking, _, _ = demo
    mesh = walking.area_layer("250mメッシュ")
    paths = write_kartes(walking, mesh.name, tmp_path / "out")
    html = sorted(p.name for p in (tmp_path / "out").glob("*.html"))
    assert len(html) == len(mesh.areas) == len(set(html))
    assert sorted(p.name for p in paths) == sorted([*html, "kartes.json"])
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_batch_writes_nothing_when_it_fails_midway(demo, tmp_path, monkeypatch):
    from geo_service.cli.karte import write_kartes
    from geo_service.reports import karte_render

    _, walking, _, _ = demo
    out = tmp_path / "out"
    out.mkdir()
    (out / "karte_old.html").write_text("earlier run", encoding="utf-8")
    real = karte_render.render_kartes
    calls = []

    def failing(kartes, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full (simulated)")
        return real(kartes, **kw)

    monkeypatch.setattr(karte_render, "render_kartes", failing)
    with pytest.raises(RuntimeError, match="simulated"):
        write_kartes(walking, "小学校区", out)
    assert len(calls) == 2  # the first karte was rendered (and written to staging)
    assert sorted(p.name for p in out.iterdir()) == ["karte_old.html"]
    assert (out / "karte_old.html").read_text(encoding="utf-8") == "earlier run"


@pytest.mark.parametrize("given", ["山手", "山手小学校", "山手小学校区"])
def test_cli_takes_the_area_by_its_name(demo, tmp_path, given, monkeypatch):
    """Coordinators name areas as people do; the karte is the area's, as by its id."""
    from geo_service.cli.main import app

    _, walking, region_dir, url = demo
    layer = walking.region.areas[0]
    wanted = str(layer.ids[list(layer.names).index("山手小学校")])
    base = ["--region", str(region_dir), "--database-url", url]
    r = CliRunner().invoke(app, ["karte", "--area", given, "--out", str(tmp_path / "k"), *base])
    assert r.exit_code == 0, r.output
    # the file is named by the area's name, not its id (karte_B199999000037.html)
    assert [p.name for p in (tmp_path / "k").glob("*.html")] == ["karte_山手小学校.html"]
    assert wanted not in "".join(p.name for p in (tmp_path / "k").iterdir())
    target = tmp_path / "b.html"
    r = CliRunner().invoke(app, ["booklet", "--area", given, "--out", str(target), *base])
    assert r.exit_code == 0, r.output
    assert "山手" in target.read_text(encoding="utf-8")
    # without --out, the booklet is named by the area's name too
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, ["booklet", "--area", given, *base])
    assert r.exit_code == 0, r.output
    assert "山手" in (tmp_path / "booklet_山手小学校.html").read_text(encoding="utf-8")


def test_cli_unknown_area_and_layer(demo, tmp_path):
    from geo_service.cli.main import app

    _, _, region_dir, url = demo
    runner = CliRunner()
    base = ["--region", str(region_dir), "--database-url", url, "--out", str(tmp_path / "o")]
    r = runner.invoke(app, ["karte", "--area", "nope", *base])
    assert r.exit_code == 2 and "nope" in r.output
    assert "山手小学校 (" in r.output  # the valid areas are listed
    r = runner.invoke(app, ["karte", "--layer", "区", *base])
    assert r.exit_code == 2
    r = runner.invoke(app, ["karte", "--projection", "x.csv", *base])
    assert r.exit_code == 2 and "--year" in r.output
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_cli_with_a_projection(demo, tmp_path):
    import json

    from geo_service.cli.main import app

    _, walking, region_dir, url = demo
    ids, table = _projection_table(walking, tmp_path, 1.2)
    out = tmp_path / "o"
    r = CliRunner().invoke(app, ["karte", "--projection", str(table), "--year", "2040",
                                 "--projection-layer", "小学校区", "--area", ids[0],
                                 "--out", str(out), "--region", str(region_dir),
                                 "--database-url", url])
    assert r.exit_code == 0, r.output
    [karte] = json.loads((out / "kartes.json").read_text(encoding="utf-8"))
    assert karte["projection"]["year"] == 2040
    assert karte["projection"]["pop_65plus"] == pytest.approx(
        1.2 * karte["population"]["pop_65plus"])
    name = karte["name"]
    assert "将来推計 2040年" in (out / f"karte_{name}.html").read_text(encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == [f"karte_{name}.html", "kartes.json"]


def _pdf_tools() -> None:
    missing = [t for t in ("/usr/bin/chromium", shutil.which("pdftoppm") or "pdftoppm",
                           shutil.which("pdftotext") or "pdftotext")
               if not os.path.exists(t)]
    if missing:
        message = (f"missing {', '.join(missing)} (apt-get install chromium fonts-noto-cjk "
                   "poppler-utils)")
        if os.environ.get("GEO_SERVICE_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.browser
def test_pdf_renders_with_the_area_name(demo, tmp_path):
    _pdf_tools()
    from geo_service.cli.main import app

    _, walking, region_dir, url = demo
    layer = walking.region.areas[0]
    ids = [str(a) for a in layer.areas["area_id"]]
    names = [str(n) for n in layer.areas["name"]]
    out = tmp_path / "kartes"
    r = CliRunner().invoke(app, ["karte", "--layer", "elementary", "--out", str(out), "--pdf",
                                 "--region", str(region_dir), "--database-url", url])
    assert r.exit_code == 0, r.output
    assert len(list(out.glob("karte_*.pdf"))) == len(ids)
    for aid, name in zip(ids, names, strict=True):
        pdf = out / f"karte_{name}.pdf"
        subprocess.run(["pdftoppm", "-r", "30", "-png", "-f", "1", "-l", "1", str(pdf),
                        str(tmp_path / aid)], check=True, timeout=60)
        assert list(tmp_path.glob(f"{aid}*.png"))
        text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"],
                              check=True, capture_output=True, text=True, timeout=60).stdout
        assert name in text and "地域カルテ" in text
    # the combined PDF: one page per area, in the layer's order
    info = subprocess.run(["pdftotext", str(out / "kartes.pdf"), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    pages = info.split("\f")
    assert [n for n in names if n in pages[0]] == [names[0]]
    assert all(names[i] in pages[i] for i in range(len(names)))
    # without pikepdf (or when a karte takes two pages) each area is printed on its own
    from geo_service.cli.karte import write_kartes
    from geo_service.reports import karte_render

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(karte_render, "split_pages", lambda data: None)
        alone = tmp_path / "alone"
        write_kartes(walking, layer.name, alone, area_ids=[ids[1]], pdf=True)
    text = subprocess.run(["pdftotext", str(alone / f"karte_{names[1]}.pdf"), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    assert names[1] in text and names[0] not in text
    # the booklet too
    book = tmp_path / "book.pdf"
    r = CliRunner().invoke(app, ["booklet", "--area", ids[0], "--pdf", "--out", str(book),
                                 "--region", str(region_dir), "--database-url", url])
    assert r.exit_code == 0, r.output
    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(book), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    assert names[0] in text and "生活便利帳" in text and ATTACK in text


def test_the_wheel_ships_the_templates():
    """Every template matches a package-data pattern (the wheel test installs the wheel;
    this says which file would be missing)."""
    import fnmatch
    import tomllib

    from tests.conftest import ROOT

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"]["setuptools"]["package-data"]["geo_service"]
    templates = sorted((ROOT / "geo_service" / "templates").iterdir())
    assert templates
    for path in templates:
        rel = path.relative_to(ROOT / "geo_service").as_posix()
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), rel


def test_the_karte_map_draws_the_stores_it_counts(demo):
    """Every food store the karte counts that lies in the map's view is drawn (a green
    square), the ones in the area among them; before, the map drew none."""
    import re

    from geo_service.reports import karte_render as kr

    _, walking, _, _ = demo
    _, stores, _ = walking._food_stores()
    xy = shapely.get_coordinates(stores.geometry.to_numpy())
    for karte in layer_kartes(walking, "小学校区"):
        page = kr.with_map(walking, karte)
        svg = str(page["map_svg"])
        drawn = re.findall(r'<rect class="store" x="([\d.]+)" y="([\d.]+)"', svg)
        area = walking.area_layer("小学校区").areas.to_crs(walking.net.crs)
        geom = area.geometry[area["area_id"].astype(str) == karte["area_id"]].iloc[0]
        inside = int(shapely.contains_xy(geom, xy[:, 0], xy[:, 1]).sum())
        assert karte["food"]["stores_in_area"] == inside
        assert len(drawn) >= max(inside, 1)  # each demo area has a store in or near its map
    assert "食料品店" in kr.render_kartes([page])


def test_a_karte_on_an_empty_registry_says_nothing_is_registered(tmp_path):
    """With nothing in the registry the category table is not printed empty: the page
    says the registry holds nothing yet; the region's own stores are still drawn."""
    from geo_service.engine.region import Region
    from geo_service.jobs.demo import run_demo
    from geo_service.registry.store import open_store
    from geo_service.reports import karte_render as kr
    from geo_service.service.walking import WalkingService

    run_demo(tmp_path / "out")
    walking = WalkingService(Region.load(tmp_path / "out" / "region"),
                             open_store(f"sqlite:///{tmp_path / 'empty.sqlite3'}"))
    karte = layer_kartes(walking, "小学校区")[0]
    html = kr.render_kartes([kr.with_map(walking, karte)])
    assert "地域資源台帳には公開の資源がまだ登録されていません" in html
    assert "<th>分野</th>" not in html
    assert 'class="store"' in html  # the region's stores, which the karte counts
