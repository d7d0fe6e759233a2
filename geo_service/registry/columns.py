"""The columns of resource lists, as files carry them both ways.

Each resource field has Japanese and English header aliases (事業者名, 住所, 電話, 対応エリア,
サービス内容, 料金, 定休日 …, and the columns of デジタル庁 公共施設一覧 / 介護サービス事業所一覧
and the 介護サービス情報公表システム CSV): imports accept any of them (:func:`map_headers`),
exports write the first, so that an export imports again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from geo_service.registry.resources import SENSITIVE_FIELDS

# Resource field → accepted headers (after NFKC, case-insensitive). The first is the one
# exports write. A header is claimed by the first field (in this order) that lists it.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("ID", "資源ID", "管理番号", "事業所番号"),
    "name": ("名称", "name", "資源名", "事業所名", "施設名", "サービス名", "事業者名"),
    "kana": ("名称_カナ", "カナ", "名称カナ", "事業所名カナ", "フリガナ", "ふりがな", "kana"),
    "category": ("カテゴリ", "カテゴリー", "分類", "種別", "サービス種別", "サービスの種類",
                 "category"),
    "description": ("サービス内容", "内容", "活動概要", "活動内容", "説明", "実施サービス",
                    "description"),
    "operator": ("運営主体", "運営者", "法人名", "法人の名称", "団体名", "事業者名", "operator"),
    "operator_type": ("運営主体の種別", "運営主体種別", "団体種別", "operator_type"),
    "address": ("住所", "所在地", "所在地_連結表記", "事業所住所", "address"),
    "lat": ("緯度", "lat", "latitude"),
    "lon": ("経度", "lon", "lng", "longitude"),
    "tel": ("電話番号", "電話", "TEL", "連絡先電話番号", "事業所電話番号", "tel"),
    "fax": ("FAX番号", "FAX", "ファックス", "fax"),
    "email": ("メールアドレス", "メール", "連絡先メールアドレス", "email", "e-mail"),
    "url": ("URL", "ホームページ", "HP", "連絡先FormURL", "url"),
    "service_area": ("対応エリア", "対象エリア", "利用できるエリア", "サービス提供地域",
                     "サービス提供エリア", "service_area"),
    "service_area_geojson": ("対応エリア_GeoJSON", "service_area_geojson"),
    "fee": ("料金", "参加費", "利用料", "利用料金", "fee"),
    "weekdays": ("利用可能曜日", "開催曜日", "営業曜日", "曜日", "weekdays"),
    "closed_days": ("定休日", "休業日", "closed_days"),
    "start": ("開始時間", "開始時刻", "start"),
    "end": ("終了時間", "終了時刻", "end"),
    "hours": ("営業時間", "開催時間", "利用可能時間", "hours"),
    "frequency": ("頻度", "開催頻度", "frequency"),
    "schedule_note": ("日程備考", "利用可能日時特記事項", "利用可能時間特記事項",
                      "利用可能曜日特記事項", "開催日時", "schedule_note"),
    "stops": ("停留所", "移動販売停留所", "stops"),
    "target_users": ("対象者", "対象", "target_users"),
    "how_to_apply": ("申し込み方法", "申込方法", "申込み方法", "how_to_apply"),
    "payment_methods": ("支払い方法", "支払方法", "payment_methods"),
    "notes": ("備考", "notes"),
    "visibility": ("公開区分", "公開", "visibility"),
    "staff_fields": ("非公開項目", "staff_fields"),
    "last_verified": ("最終確認日", "確認日", "last_verified"),
    "coordinator": ("担当", "担当者", "担当コーディネーター", "coordinator"),
    "area": ("担当圏域", "圏域", "area"),
    "source": ("出典", "source"),
    "staff_notes": ("職員メモ", "staff_notes"),
}

# デジタル庁 公共施設一覧's barrier-free columns: kept in ``notes`` as
# 「バリアフリー: 車椅子可 有、授乳室 有」 (read as columns ``barrier_free:<header>``).
BARRIER_FREE_COLUMNS: tuple[str, ...] = (
    "バリアフリー情報", "車椅子可", "車椅子貸出", "ツエ貸出", "バリアフリートイレ",
    "スロープ、エレベータ、エスカレータ", "点字ブロック等の移動支援", "点字や読上による支援",
    "盲導犬・介助犬、聴導犬同伴", "字幕", "筆談対応", "優先駐車場", "オストメイト対応トイレ",
    "授乳室", "おむつ替えコーナー", "ベビーカー貸出", "ベビーカー利用")

#: The Japanese label of each field a resource may keep staff-only (非公開項目).
STAFF_FIELD_LABELS: dict[str, str] = {
    "address": "住所", "location": "位置", "operator": "運営主体", "contact.tel": "電話",
    "contact.fax": "FAX", "contact.email": "メール", "contact.url": "URL",
    "schedule": "日程", "fee": "料金", "target_users": "対象者", "how_to_apply": "申し込み方法",
    "payment_methods": "支払い方法", "notes": "備考",
}
assert set(STAFF_FIELD_LABELS) == set(SENSITIVE_FIELDS)


def match_key(text: str) -> str:
    """What makes two spellings of a header or a cell word the same: NFKC, no white space,
    lower case."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def map_headers(columns: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Map file headers to fields: ({field: header}, [unmapped headers])."""
    by_key: dict[str, str] = {}
    for c in columns:
        by_key.setdefault(match_key(c), c)
    mapping: dict[str, str] = {}
    claimed: set[str] = set()
    aliases_of = {**HEADER_ALIASES, **{f"barrier_free:{c}": (c,) for c in BARRIER_FREE_COLUMNS}}
    for fld, aliases in aliases_of.items():
        for alias in aliases:
            header = by_key.get(match_key(alias))
            if header is not None and header not in claimed:
                mapping[fld] = header
                claimed.add(header)
                break
    return mapping, [c for c in columns if c not in claimed]
