"""Where a region's data comes from: one :class:`Source` per input file, with the publisher,
edition, licence and the attribution text its terms require.

:func:`describe` recognises the standard open files from their names and contents:

- e-Stat (政府統計の総合窓口): 小地域 boundaries ``r2ka*`` / ``h27ka*`` and census tables
  ``tblT*`` → 「出典：政府統計の総合窓口(e-Stat)」;
- 国土数値情報 (国土交通省): ``A27`` 小学校区, ``A32`` 中学校区, ``N03`` 行政区域, the
  500 m / 1 km mesh 将来推計人口 (``m500``, ``1km_mesh_2018_40`` …) →
  「出典：国土交通省国土数値情報（小学校区データ）」 …;
- OpenStreetMap extracts (``.osm.pbf``, ``.osm``, an Overpass JSON answer) →
  「© OpenStreetMap contributors」 (ODbL);
- GTFS / GTFS-JP feeds → their publisher from ``feed_info.txt`` (else ``agency.txt``);
- a デジタル庁 自治体標準オープンデータセット table (公共施設一覧 …) → the municipality
  named in its 地方公共団体名 column.

Anything else is recorded with its file name and no publisher; the user completes it
(:func:`override`). Only file names are kept, never a server's full path.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from geo_service._errors import InputError
from geo_service.i18n import msg
from geo_service.settings import japan_date

ESTAT_ATTRIBUTION = "出典：政府統計の総合窓口(e-Stat)"
ESTAT_PUBLISHER = "政府統計の総合窓口(e-Stat)（総務省統計局）"
ESTAT_LICENCE = "政府標準利用規約（第2.0版）（CC BY 4.0 互換）"
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
OSM_LICENCE = "ODbL 1.0"
KSJ_PUBLISHER = "国土交通省 国土数値情報"
_KSJ_VARIES = "利用規約は提供元の自治体により異なる（国土数値情報の利用約款を確認）"
_KSJ_OPEN = "CC BY 4.0 互換（国土数値情報利用約款）"
#: 国土数値情報 data sets by the code that starts their file names
KSJ_DATASETS = {
    "A27": ("小学校区データ", _KSJ_VARIES),
    "A32": ("中学校区データ", _KSJ_VARIES),
    "N03": ("行政区域データ", _KSJ_OPEN),
    "m500": ("500mメッシュ別将来推計人口データ", _KSJ_OPEN),
    "m1000": ("1kmメッシュ別将来推計人口データ", _KSJ_OPEN),
    "mesh500": ("500mメッシュ別将来推計人口データ", _KSJ_OPEN),
    "mesh1000": ("1kmメッシュ別将来推計人口データ", _KSJ_OPEN),
}
SYNTHETIC_ATTRIBUTION = "道路網は生成した格子です（実在の道路ではありません）"
#: the fields a user may set with :func:`override`
FIELDS = ("publisher", "title", "edition", "licence", "attribution", "url")


@dataclass(frozen=True)
class Source:
    """One input of a region.

    ``role`` says what it gave (streets, population, an area layer, stores, facilities,
    bus); ``file`` its file name (or the place asked for online); ``attribution`` the text
    that must accompany anything made from it; ``synthetic`` marks generated data, which
    is never presented as real.
    """

    role: str
    file: str
    publisher: str = ""
    title: str = ""
    edition: str = ""
    licence: str = ""
    attribution: str = ""
    url: str = ""
    synthetic: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The source as region.json stores it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Source:
        """A source read back from region.json (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)} - {"synthetic"}
        values: dict[str, Any] = {k: str(v) for k, v in data.items() if k in names}
        return cls(**values, synthetic=bool(data.get("synthetic")))


def describe(path: str | Path, role: str) -> Source:
    """The source of the file ``path`` used as ``role``, its publisher recognised when the
    file is one of the standard open files (see the module)."""
    path = Path(path)
    name = path.name
    lower = name.lower()
    if re.match(r"(r2|h27|h22)ka\d+", lower) or re.match(r"tblt\d{6}", lower):
        return Source(role, name, ESTAT_PUBLISHER, _estat_title(lower), _estat_edition(lower),
                      ESTAT_LICENCE, ESTAT_ATTRIBUTION, "https://www.e-stat.go.jp/")
    ksj = re.match(r"(A27|A32|N03|m500|m1000|mesh500|mesh1000)[-_](\d+)", name, re.I)
    if ksj:
        code = next(k for k in KSJ_DATASETS if k.lower() == ksj.group(1).lower())
        title, licence = KSJ_DATASETS[code]
        return Source(role, name, KSJ_PUBLISHER, f"国土数値情報 {title}（{code}）",
                      _ksj_edition(ksj.group(2)), licence,
                      f"出典：国土交通省国土数値情報（{title}）",
                      "https://nlftp.mlit.go.jp/ksj/")
    mesh = re.match(r"(500m|1km)_mesh_(?:suikei_)?(\d{4})", lower)
    if mesh:  # 国土数値情報 将来推計人口 as downloaded: 1km_mesh_2018_40.shp, 500m_mesh_suikei_…
        code = "m500" if mesh.group(1) == "500m" else "m1000"
        title, licence = KSJ_DATASETS[code]
        return Source(role, name, KSJ_PUBLISHER, f"国土数値情報 {title}",
                      f"{mesh.group(2)}年版", licence,
                      f"出典：国土交通省国土数値情報（{title}）", "https://nlftp.mlit.go.jp/ksj/")
    if lower.endswith((".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz")) \
            or (lower.endswith(".json") and _overpass_timestamp(path) is not None):
        stamp = _overpass_timestamp(path) if lower.endswith(".json") else None
        return Source(role, name, "OpenStreetMap contributors", "OpenStreetMap",
                      (stamp or "")[:10], OSM_LICENCE, OSM_ATTRIBUTION,
                      "https://www.openstreetmap.org/copyright")
    if lower.endswith(".zip") or (path.is_dir() and (path / "stops.txt").exists()):
        feed = _gtfs_publisher(path)
        if feed is not None:
            return Source(role, name, *feed)
    standard = _standard_dataset(path)
    if standard:
        municipality, dataset = standard
        return Source(role, name, municipality, f"{municipality} {dataset}", "",
                      "CC BY 4.0（自治体標準オープンデータセット）",
                      f"出典：{municipality}オープンデータ（{dataset}）")
    return Source(role, name)


def online_osm(place: str, role: str = "道路網") -> Source:
    """The source of streets downloaded from OpenStreetMap for ``place`` today."""
    return Source(role, f"OpenStreetMap（{place}）", "OpenStreetMap contributors",
                  "OpenStreetMap", japan_date().isoformat(), OSM_LICENCE, OSM_ATTRIBUTION,
                  "https://www.openstreetmap.org/copyright")


def synthetic(role: str, what: str, attribution: str = SYNTHETIC_ATTRIBUTION) -> Source:
    """The source of generated data (flagged: never presented as real)."""
    return Source(role, what, "geo-service（生成）", what, "", "", attribution, synthetic=True)


def override(sources: list[Source], spec: str) -> list[Source]:
    """Apply a user's ``FILE:FIELD=VALUE`` (e.g. ``stores.csv:publisher=飯塚市``) to the
    sources whose file name is FILE (or whose role is FILE)."""
    target, sep, rest = spec.partition(":")
    field_name, eq, value = rest.partition("=")
    field_name = field_name.strip().replace("license", "licence")
    if not (sep and eq and target.strip()) or field_name not in FIELDS:
        raise InputError(msg("expected FILE:FIELD=VALUE with FIELD one of {fields}",
                             fields=", ".join(FIELDS)), column="--source", value=spec)
    target = target.strip()
    hits = [i for i, s in enumerate(sources) if target in (s.file, Path(s.file).stem, s.role)]
    if not hits:
        raise InputError(msg("no input named {target!r}; the inputs are {inputs}",
                             target=target, inputs=", ".join(s.file for s in sources)),
                         column="--source", value=spec)
    out = list(sources)
    change: dict[str, Any] = {field_name: value.strip()}
    for i in hits:
        out[i] = replace(out[i], **change)
    return out


def attributions(sources: list[Source]) -> list[str]:
    """The distinct attribution texts of ``sources``, in order (what a map or a page made
    from them must show)."""
    return list(dict.fromkeys(s.attribution for s in sources if s.attribution))


def output_metadata(name: str, sources: list[Source], *, municipality_code: str = ""
                    ) -> dict[str, Any]:
    """What an output file made from a region's data says of it (a GeoJSON's
    ``metadata`` member, a summary): the region's name and 市区町村コード, the
    attributions its sources require, the sources (file names only) and whether any
    input is generated."""
    return {"region": name, "municipality_code": municipality_code,
            "attributions": attributions(sources),
            "sources": [s.to_dict() for s in sources],
            "synthetic": any(s.synthetic for s in sources)}


def file_label(text: str) -> str:
    """A name fit to show for a region named after an input: the file's name without its
    folders and suffixes (``/srv/data/overpass_walk_mojiko.json`` → ``overpass_walk_mojiko``);
    any other text as it is."""
    text = str(text).strip()
    if "/" not in text and "\\" not in text and not re.search(
            r"\.(json|osm|pbf|bz2|gz|graphml|npz|xml)$", text, re.I):
        return text
    name = text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"(\.(osm|pbf|json|bz2|gz|graphml|npz|xml))+$", "", name, flags=re.I) or name


def municipality_code(code: str) -> str:
    """A 全国地方公共団体コード as its five digits (a sixth, the check digit, is checked)."""
    text = str(code).strip()
    if not re.fullmatch(r"\d{5,6}", text):
        raise InputError(msg("a 市区町村コード has five digits (e.g. 40205)"), column="--code",
                         value=code)
    if len(text) == 6 and text[5] != check_digit(text[:5]):
        raise InputError(msg("wrong check digit (the code with its check digit is {code})",
                             code=text[:5] + check_digit(text[:5])), column="--code",
                         value=code)
    return text[:5]


def check_digit(code5: str) -> str:
    """The check digit of a five-digit 全国地方公共団体コード (JIS X 0401/0402)."""
    total = sum(int(d) * w for d, w in zip(code5, (6, 5, 4, 3, 2), strict=True))
    return str((11 - total % 11) % 10)


# ---------------------------------------------------------------------------- details

def _estat_title(lower: str) -> str:
    if lower.startswith("tblt"):
        return f"国勢調査 小地域集計 {lower[3:10].upper()}"
    return "国勢調査 小地域（町丁・字等）境界データ"


def _estat_edition(lower: str) -> str:
    era = re.match(r"(r2|h27|h22)", lower)
    years = {"r2": "令和2年（2020年）国勢調査", "h27": "平成27年（2015年）国勢調査",
             "h22": "平成22年（2010年）国勢調査"}
    if era:
        return years[era.group(1)]
    if lower.startswith("tblt001082"):  # T001082: the 2020 census's small-area table
        return years["r2"]
    return ""


def _ksj_edition(digits: str) -> str:
    if len(digits) == 8:
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
    if len(digits) == 2:
        return f"20{digits}年度"
    if len(digits) == 4:
        return f"{digits}年度"
    return ""


def _overpass_timestamp(path: Path) -> str | None:
    """The OSM base timestamp of an Overpass JSON answer, or None when it is none."""
    try:
        with path.open("rb") as f:
            head = f.read(2048).decode("utf-8", errors="replace")
    except OSError:
        return None
    if '"elements"' not in head and '"osm3s"' not in head:
        return None
    match = re.search(r'"timestamp_osm_base"\s*:\s*"([^"]+)"', head)
    return match.group(1) if match else ""


def _gtfs_publisher(path: Path) -> tuple[str, str, str, str, str, str] | None:
    """publisher, title, edition, licence, attribution, url of a GTFS feed (its
    feed_info.txt, else its agency.txt), or None when it is not a feed."""
    def read(name: str) -> list[dict[str, str]]:
        try:
            if path.is_dir():
                raw = (path / name).read_bytes()
            else:
                with zipfile.ZipFile(path) as z:
                    member = next((n for n in z.namelist() if n.split("/")[-1] == name), None)
                    if member is None:
                        return []
                    raw = z.read(member)
        except (OSError, zipfile.BadZipFile):
            return []
        text = raw.decode("utf-8-sig", errors="replace")
        return list(csv.DictReader(io.StringIO(text)))

    agency, info = read("agency.txt"), read("feed_info.txt")
    if not agency and not info:
        return None
    first = info[0] if info else {}
    publisher = (first.get("feed_publisher_name") or "").strip() or \
        "、".join(dict.fromkeys(a.get("agency_name", "").strip() for a in agency if a))
    names = "、".join(dict.fromkeys(a.get("agency_name", "").strip() for a in agency
                                   if a.get("agency_name")))
    start, version = first.get("feed_start_date", ""), first.get("feed_version", "")
    edition = " ".join(p for p in (_gtfs_date(start) and f"{_gtfs_date(start)}〜",
                                   "" if version.strip() == start.strip() else version) if p)
    title = f"GTFS-JP {names or publisher}".strip()
    url = (first.get("feed_publisher_url") or "").strip()
    attribution = f"出典：{publisher}（{names}）GTFS-JP" if names and names != publisher \
        else f"出典：{publisher} GTFS-JP"
    return publisher, title, edition, "提供元の利用条件による", attribution, url


def _gtfs_date(text: str) -> str:
    text = (text or "").strip()
    return f"{text[:4]}-{text[4:6]}-{text[6:]}" if re.fullmatch(r"\d{8}", text) else ""


def _standard_dataset(path: Path) -> tuple[str, str] | None:
    """The 地方公共団体名 (its first data row) and the data set of a デジタル庁
    standard-layout table, or None when it is none."""
    if path.suffix.lower() not in (".csv", ".txt") or not path.is_file():
        return None
    try:
        with path.open("rb") as f:
            raw = f.read(8192)
    except OSError:
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # CP932 (the read may end inside a character)
        text = raw.decode("cp932", errors="ignore")
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2 or "地方公共団体名" not in rows[0]:
        return None
    column = rows[0].index("地方公共団体名")
    value = rows[1][column].strip() if len(rows[1]) > column else ""
    municipality = re.sub(r"^(北海道|東京都|京都府|大阪府|.{2,3}県)(?=.)", "", value)
    dataset = "公共施設一覧" if "POIコード" in rows[0] else path.stem
    return (municipality, dataset) if municipality else None


def read_sources(data: Any) -> list[Source]:
    """The sources of a region.json (a list of dicts; an older dict of notes is kept as
    sources without a publisher)."""
    if isinstance(data, dict):
        return [Source(str(k), str(v)) for k, v in data.items()]
    return [Source.from_dict(d) for d in data or [] if isinstance(d, dict)]

