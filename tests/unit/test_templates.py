"""The built-in reply templates (services.templates): the seeds' wording as data, each with its source."""

from __future__ import annotations

import re

from services.core.taxonomy import CATEGORIES
from services.templates import builtin_templates

PINYIN = re.compile(r"\([a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+\)")


def test_every_template_has_the_shape_the_api_serves():
    ts = builtin_templates()
    assert ts and all(set(t) == {"name", "category", "source", "texts"} for t in ts)
    assert len({t["name"] for t in ts}) == len(ts)
    for t in ts:
        assert t["category"] in CATEGORIES, t["name"]
        assert set(t["texts"]) == {"zh-Hant", "en"}, t["name"]  # the seed's language, and English
        assert all(text.strip() for text in t["texts"].values())
        assert re.search(r"seed 00[12] ", t["source"]), t["source"]


def test_the_eight_wish_pre_shipment_templates_and_the_douyin_scripts_are_there():
    ts = builtin_templates()
    assert len([t for t in ts if t["source"].startswith("seed 001")]) == 8
    scripts = {t["name"]: t for t in ts if t["source"].startswith("seed 002")}
    assert "douyin_aftersales_1_logistics" in scripts
    assert scripts["douyin_aftersales_1_logistics"]["texts"]["zh-Hant"].startswith("親愛的,非常抱歉,最近物流繁忙")


def test_the_web_page_artefacts_of_the_seeds_are_gone():
    for t in builtin_templates():
        assert not PINYIN.search(t["texts"]["zh-Hant"]), t["name"]
        assert "?" not in t["texts"]["zh-Hant"] or t["name"] == "douyin_aftersales_1_logistics"


def test_callers_get_their_own_copy():
    a = builtin_templates()
    a[0]["texts"]["en"] = "changed"
    assert builtin_templates()[0]["texts"]["en"] != "changed"
