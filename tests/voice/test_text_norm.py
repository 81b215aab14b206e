"""Numbers, order ids, phones, prices, dates and times read naturally in Chinese and English."""
from __future__ import annotations

import pytest

from kefu.voice.metrics import cer, wer
from kefu.voice.text_norm import en_int, en_ordinal, speakable, split_by_script, zh_int


@pytest.mark.parametrize("n, zh", [(0, "零"), (7, "七"), (10, "十"), (15, "十五"), (105, "一百零五"), (110, "一百一十"),
                                   (1000, "一千"), (2000, "两千"), (1999, "一千九百九十九"), (20000, "两万"),
                                   (100010, "十万零一十"), (12345678, "一千二百三十四万五千六百七十八")])
def test_chinese_quantities(n, zh):
    assert zh_int(n) == zh


@pytest.mark.parametrize("n, en", [(0, "zero"), (21, "twenty-one"), (105, "one hundred five"),
                                   (1250, "one thousand two hundred fifty"), (3_000_000, "three million")])
def test_english_quantities(n, en):
    assert en_int(n) == en


def test_english_ordinals():
    assert [en_ordinal(n) for n in (1, 2, 3, 5, 12, 20, 21, 31)] == [
        "first", "second", "third", "fifth", "twelfth", "twentieth", "twenty-first", "thirty-first"]


@pytest.mark.parametrize("text, spoken", [
    ("订单NT2026030112345已发货", "订单N T 二零二六零三零幺幺二三四五 已发货"),
    ("运费¥12.50", "运费十二点五元"),
    ("满99元包邮", "满九十九元包邮"),
    ("售价$19.99", "售价十九点九九美元"),
    ("2026-03-01发货", "二零二六年三月一日发货"),
    ("10月1日放假", "十月一日放假"),
    ("每天9:00到21:30在线", "每天九点到二十一点三十分在线"),
    ("省了20%", "省了百分之二十"),
    ("客服电话400-820-1234", "客服电话四零零 八二零 幺二三四"),
    ("X1 Pro保修两年", "X1 Pro保修两年"),
])
def test_chinese_reading(text, spoken):
    assert speakable(text, "zh") == spoken


@pytest.mark.parametrize("text, spoken", [
    ("Order NT2026030112345 shipped", "Order N T two zero two six zero three zero one one two three four five shipped"),
    ("It costs $19.99", "It costs nineteen dollars and ninety-nine cents"),
    ("It costs $1", "It costs one dollar"),
    ("Pay 199 yuan", "Pay one hundred ninety-nine yuan"),
    ("Arrives 2026-03-05", "Arrives March fifth, twenty twenty-six"),
    ("Arrives March 5, 2026", "Arrives March fifth, twenty twenty-six"),
    ("Open at 14:30", "Open at two thirty P M"),
    ("Open at 9:05 am", "Open at nine oh five A M"),
    ("Call 400-820-1234", "Call four zero zero, eight two zero, one two three four"),
    ("The X1 Pro, 2nd floor, 100% cotton", "The X one Pro, second floor, one hundred percent cotton"),
    ("1,250 items", "one thousand two hundred fifty items"),
])
def test_english_reading(text, spoken):
    assert speakable(text, "en") == spoken


def test_mixed_text_is_split_by_script():
    parts = split_by_script(speakable("您的X1 Pro订单NT2026030112345已发货。", "zh"))
    assert [lang for lang, _ in parts] == ["zh", "en", "zh", "en", "zh"]
    assert parts[1] == ("en", "X1 Pro")
    assert parts[3] == ("en", "N T")
    assert split_by_script("Hello, 你好!") == [("en", "Hello,"), ("zh", "你好!")]
    assert split_by_script("  ...  ") == []


def test_error_rates_read_numbers_alike():
    heard = "your refund of $19.99 arrives on March 5, 2026"
    assert wer("Your refund of $19.99 arrives on 2026-03-05.", heard) == (0, 16)
    assert wer("How do I return an item?", "How do I return the item") == (1, 6)
    assert cer("运费12元", "运费十二元。") == (0, 5)
