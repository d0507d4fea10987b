"""Traditional Chinese read as Simplified, one character for one (pure)."""

from __future__ import annotations

from rag_core.hanzi import SIMPLIFIED, TRADITIONAL, simplified, traditional_share
from rag_core.text import answer_language


def test_traditional_characters_are_written_simplified_and_offsets_stay():
    text = "洛杉磯曾經有多少支球隊？淨利潤達到五十億元 (FY2019)"
    plain = simplified(text)
    assert plain == "洛杉矶曾经有多少支球队？净利润达到五十亿元 (FY2019)"
    assert len(plain) == len(text)
    assert simplified("营业收入 revenue") == "营业收入 revenue"  # Simplified and English kept
    assert len(TRADITIONAL) == len(SIMPLIFIED) > 2500
    assert not set(TRADITIONAL) & {"的", "是", "中", "国"}  # no Simplified character moves


def test_the_script_of_a_question():
    assert traditional_share("洛杉磯曾經有多少支球隊") == 1.0
    assert traditional_share("洛杉矶曾经有多少支球队") == 0.0
    assert traditional_share("中文") == 0.0  # no character differs between the scripts
    assert [answer_language(q) for q in ("營業收入是多少？", "营业收入是多少？", "What?")] == [
        "zh-Hant",
        "zh",
        "en",
    ]
