"""One category vocabulary: every ``layers/*.toml`` resource layer read by one loader."""

from __future__ import annotations

import os

import pytest

from geo_service import settings
from geo_service._errors import InputError, UnknownCategoryError
from geo_service.layers import load_difference_style, load_resource_layer, load_vocabulary

LAYER = """
[layer]
id = "test"
label = "テスト"

[[categories]]
id = "a"
label = "甲"
aliases = ["こう"]
kind = "{kind}"

[[categories]]
id = "{second}"
label = "乙"
"""


def test_every_resource_layer_reads_with_the_one_loader():
    names = [p.stem for p in settings.layers_dir().glob("*.toml") if p.stem != "difficulty"]
    assert {"food_stores", "gathering_places", "resource_categories"} <= set(names)
    for name in names:
        layer = load_resource_layer(name)
        assert layer.id == name and layer.categories
        for cat in layer.categories:
            assert layer.category_key(cat.label) == cat.id


def test_the_registry_vocabulary_names_its_food_places_and_their_layer():
    vocab = load_vocabulary()
    food = vocab.food_places
    assert [c.id for c in food] == ["food_store"]
    assert food[0].layer == "food_stores"
    # services and mobile sales are food sources too, but nobody walks to them
    assert {c.id for c in vocab.categories if c.food} == {
        "food_store", "meal_delivery", "home_delivery", "mobile_sales"}
    assert vocab.by_id["mobile_sales"].kind == "mobile"
    assert vocab.operator_type_key("社協") == "social_welfare_council"
    with pytest.raises(UnknownCategoryError, match="known categories are"):
        vocab.category_key("宇宙旅行")


def test_layer_files_are_checked(tmp_path):
    path = tmp_path / "test.toml"
    path.write_text(LAYER.format(kind="place", second="b"), encoding="utf-8")
    layer = load_resource_layer(path)
    assert layer.category_key(" こう ") == "a" and layer.by_id["b"].kind == "place"
    path.write_text(LAYER.format(kind="place", second="a"), encoding="utf-8")
    with pytest.raises(InputError, match="defined twice"):
        load_resource_layer(path)
    path.write_text(LAYER.format(kind="teleport", second="b"), encoding="utf-8")
    with pytest.raises(InputError, match="place, service or mobile"):
        load_resource_layer(path)


def test_an_edited_layer_file_is_read_again(tmp_path):
    path = tmp_path / "test.toml"
    path.write_text(LAYER.format(kind="place", second="b"), encoding="utf-8")
    assert load_resource_layer(path).by_id["b"].label == "乙"
    path.write_text(LAYER.format(kind="place", second="c"), encoding="utf-8")
    os.utime(path, ns=(1, 10**18))  # a modification time that surely differs
    assert "c" in load_resource_layer(path).by_id


def test_the_difference_map_classes_come_from_the_map_style(tmp_path):
    style = load_difference_style()
    assert len(style["colors"]) == len(style["breaks"]) + 1 == len(style["labels"])
    assert style["breaks"] == sorted(style["breaks"]) and style["no_data_label"]
    path = tmp_path / "style.toml"
    path.write_text('[difference]\nbreaks = [0.0]\ncolors = ["#00ff00", "#ff0000"]\n'
                    'labels = ["よい", "わるい"]\nno_data_color = "#cccccc"\n'
                    'no_data_label = "なし"\n', encoding="utf-8")
    assert load_difference_style(path)["colors"] == ["#00ff00", "#ff0000"]
    path.write_text('[difference]\nbreaks = [1.0, 0.0]\ncolors = ["#0f0", "#ff0", "#f00"]\n'
                    'labels = ["a", "b", "c"]\n', encoding="utf-8")
    with pytest.raises(InputError, match="must increase"):
        load_difference_style(path)
    path.write_text('[difference]\nbreaks = [0.0]\ncolors = ["#0f0"]\nlabels = ["a"]\n',
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"one more colour.*\[difference\]"):
        load_difference_style(path)
    path.write_text('[map]\nbreaks = []\ncolors = ["#0f0"]\nlabels = ["a"]\n',
                    encoding="utf-8")
    with pytest.raises(InputError, match="no \\[difference\\] table"):
        load_difference_style(path)
