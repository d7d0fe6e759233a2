"""Output files are named so a person finds theirs: by the area's name as people write it
(``karte_山手小学校.html``), never by an internal id (``karte_B199999000037.html``), and
safe on Windows, macOS and in zip files."""

from __future__ import annotations

from geo_service.outputs import readable_name, readable_names


def test_a_name_keeps_its_japanese_and_loses_what_windows_refuses():
    assert readable_name("山手小学校") == "山手小学校"
    assert readable_name("坂の町/本町:1?") == "坂の町_本町_1"
    assert readable_name('a<b>c"d\\e|f*g') == "a_b_c_d_e_f_g"
    assert readable_name("..\\..\\etc") == "etc"
    assert readable_name("川西 小学校\t区") == "川西_小学校_区"
    assert readable_name("名\x00前") == "名_前"
    assert readable_name("CON") == "CON_" and readable_name("com1.txt") == "com1.txt_"
    assert readable_name(" . ") == ""
    assert len(readable_name("山" * 200)) == 60
    # a decomposed kana (macOS) is written composed, as typed
    assert readable_name("カ\u3099ス") == "ガス"


def test_names_are_unique_case_insensitively_with_the_id_where_two_share_a_name():
    assert readable_names("karte_", [("山手小学校", "B1"), ("本町", "A2"), ("本町", "A3"),
                                     ("", "B9/x"), ("Ab", "1"), ("aB", "1")]) == [
        "karte_山手小学校", "karte_本町_A2", "karte_本町_A3", "karte_B9_x",
        "karte_Ab_1", "karte_aB_1_2"]
