"""normalize, detect_language, tokenize, split_sentences, char_len."""
from __future__ import annotations

import pytest

from kefu.nlp.text import char_len, detect_language, normalize, split_sentences, tokenize


@pytest.mark.parametrize("raw, expected", [
    ("ＡＢＣ１２３", "ABC123"),
    ("Ｘ１　Ｐｒｏ", "X1 Pro"),
    ("价格：￥１２９９", "价格：¥1299"),
    ("你好，世界！真的吗？（是的）：好；", "你好，世界！真的吗？（是的）：好；"),
    ("你好。请问、「这个」", "你好。请问、「这个」"),
    ("a\u200bb\ufeffc\x00d\x07e", "abcde"),
    ("  many    spaces\there  ", "many spaces here"),
    ("line1\r\nline2\rline3", "line1\nline2\nline3"),
    ("para1\n\n\n\n\npara2", "para1\n\npara2"),
    ("ﬁle ①", "file 1"),
    ("", ""),
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_normalize_is_idempotent():
    text = "Ｘ１ Ｐｒｏ 保修，多久？\r\n\n\n\n  ok\u3000done"
    assert normalize(normalize(text)) == normalize(text)


@pytest.mark.parametrize("text, lang", [
    ("如何退货？", "zh"),
    ("How do I return an item?", "en"),
    ("我的X1 Pro手机坏了，怎么保修", "zh"),
    ("X1 Pro 保修多久", "zh"),
    ("How do I return the 耳机?", "en"),
    ("Is the Nova X1 Pro warranty valid in 中国?", "en"),
    ("12345 !!!", "en"),
    ("", "en"),
    ("好", "zh"),
    ("訂單什麼時候發貨", "zh"),
])
def test_detect_language(text, lang):
    assert detect_language(text) == lang


@pytest.mark.parametrize("text, expected", [
    ("X1 Pro 保修多久", ["x1", "pro", "保修", "多久"]),
    ("How do I return my X1 Pro?", ["return", "x1", "pro"]),
    ("e-mail me at it's 3.5", ["e-mail", "3.5"]),
])
def test_tokenize_mixed_removes_stopwords(text, expected):
    assert tokenize(text) == expected


def test_tokenize_chinese_uses_words_not_characters():
    tokens = tokenize("退货退款多久能到账")
    assert "退货" in tokens and "退款" in tokens and "多久" in tokens
    assert len(tokens) < len("退货退款多久能到账")


def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("REFUND!!! ，。？ Policy...") == ["refund", "policy"]


def test_tokenize_keeps_stopwords_when_asked_or_when_nothing_else():
    assert tokenize("How do I return it?", stopwords=True) == ["how", "do", "i", "return", "it"]
    assert tokenize("what is it") == ["what", "is", "it"]
    assert tokenize("的吗") == tokenize("的吗", stopwords=True)
    assert tokenize("") == []
    assert tokenize("!!! ？？") == []


@pytest.mark.parametrize("text, expected", [
    ("你好。我想退货！可以吗？", ["你好。", "我想退货！", "可以吗？"]),
    ("Hello there. How are you? Fine!", ["Hello there.", "How are you?", "Fine!"]),
    ("Costs 3.5 dollars, e.g. today. Next one", ["Costs 3.5 dollars, e.g. today.", "Next one"]),
    ("第一行\n第二行", ["第一行", "第二行"]),
    ("First; Second", ["First;", "Second"]),
    ("不含标点", ["不含标点"]),
    ("", []),
    ("Mixed 中文。And English.", ["Mixed 中文。", "And English."]),
])
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("真的吗？！太好了。", ["真的吗？！", "太好了。"]),
    ("What?! No way.", ["What?!", "No way."]),
    ("太棒了！！！下次再来。", ["太棒了！！！", "下次再来。"]),
])
def test_split_sentences_keeps_runs_of_end_punctuation_together(text, expected):
    """"?!" / "！！！" end one sentence; a lone "!" is not a sentence of its own."""
    assert split_sentences(text) == expected


def test_split_sentences_keeps_every_character():
    text = "退货需要7天。运费由谁承担？Returns take 7 days. Who pays shipping? 我们承担！"
    assert "".join(split_sentences(text)).replace(" ", "") == text.replace(" ", "")


def test_char_len():
    assert char_len("a   b\t\tc") == 5
    assert char_len("中文") == 2
