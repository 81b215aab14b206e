"""Exact and near-duplicate detection."""
from __future__ import annotations

import pytest

from kefu.ingest.dedup import Deduplicator, content_hash


@pytest.mark.parametrize("a, b", [
    ("How do I return an item?", "how do I return an item"),
    ("How do I return an item?", "  How   do I return an item ? "),
    ("如何退货？", "如何退货"),
    ("ＡＢＣ　退货", "abc 退货"),
    ("Refund: 5 days.", "refund 5 days"),
])
def test_content_hash_folds_case_space_punctuation_width(a, b):
    assert content_hash(a) == content_hash(b)


@pytest.mark.parametrize("a, b", [
    ("How do I return an item?", "How do I return two items?"),
    ("如何退货", "如何换货"),
    ("7 days", "30 days"),
])
def test_content_hash_differs_on_content(a, b):
    assert content_hash(a) != content_hash(b)


def test_content_hash_is_stable_hex():
    h = content_hash("退货")
    assert h == content_hash("退货") and len(h) == 40 and int(h, 16) >= 0


def test_exact_duplicates():
    d = Deduplicator()
    assert not d.seen("You can return any item within 30 days of delivery.")
    assert d.seen("you can return any item within 30 days of delivery")
    assert (d.exact, d.near) == (1, 0)


def test_near_duplicates():
    d = Deduplicator(0.85)
    base = ("You can return any item within 30 days of delivery. Start the return from My Orders "
            "and print the prepaid label; refunds arrive within 5 to 10 business days.")
    assert not d.seen(base)
    assert d.seen(base.replace("5 to 10", "5-10"))
    assert d.near == 1


def test_near_duplicates_chinese():
    d = Deduplicator(0.85)
    base = ("签收后7天内可以在我的订单中申请无理由退货，"
            "商品需配件齐全、包装完好、不影响二次销售，退款原路退回。")
    assert not d.seen(base)
    assert d.seen(base.replace("原路退回", "原路返回"))


def test_different_texts_are_kept():
    d = Deduplicator(0.85)
    texts = [
        "You can return any item within 30 days of delivery.",
        "Standard shipping takes 7-15 business days.",
        "The X1 Pro has a 24-month warranty.",
        "签收后7天内可以申请无理由退货。",
        "顺丰快递一般1-2天送达。",
        "Ships within 30 days of payment.",
    ]
    assert [d.seen(t) for t in texts] == [False] * len(texts)
    assert (d.exact, d.near) == (0, 0)


def test_short_and_empty_texts():
    d = Deduplicator()
    assert not d.seen("ok")
    assert d.seen("OK")
    assert not d.seen("")
    assert d.seen("")
    assert not d.seen("no")


def test_threshold_one_only_catches_exact():
    d = Deduplicator(threshold=1.0)
    base = "The X1 Pro has a 24-month warranty that covers manufacturing defects and battery faults."
    assert not d.seen(base)
    assert not d.seen(base.replace("battery", "screen"))
    assert d.seen(base.upper())
