"""Noise filtering of chat turns and mining question→answer pairs from chat logs."""
from __future__ import annotations

import pytest

from kefu.ingest.clean import is_noise, mine_pairs
from kefu.ingest.loaders.base import Conversation


@pytest.mark.parametrize("text", [
    "你好", "您好！", "在吗？", "在吗在吗", "亲", "谢谢", "谢谢您！！", "好的，谢谢", "嗯嗯",
    "OK", "ok thanks",
    "再见", "拜拜~", "请稍等", "稍等一下哦", "还有什么可以帮您的吗？", "您好，请问有什么可以帮您？",
    "祝您生活愉快！", "不客气", "Hi", "Hello!", "hi there", "Thanks!", "Thank you so much.", "thx", "Great",
    "Bye", "Goodbye!", "One moment please", "Please wait", "Is there anything else I can help you with?",
    "How can I help you today?", "You're welcome", "No problem", "Have a nice day!", "", "   ", "…", "👍",
    "ＯＫ", "Hi hello", "谢谢 再见",
])
def test_noise(text):
    assert is_noise(text)


@pytest.mark.parametrize("text", [
    "亲，您好～请问有什么可以帮到您呢？",
    "好的好的 辛苦了",
    "明白了，谢谢啦",
    "应该的，有问题随时找我们～",
    "Got it, thanks",
    "Perfect, appreciate it",
    "My pleasure. Have a great day!",
    "Happy to help - take care!",
])
def test_noise_everyday_variants(text):
    """Thanks and closings as agents and customers really write them (from the demo chat logs)."""
    assert is_noise(text)


@pytest.mark.parametrize("text", [
    "你好，我想退货", "在吗？我的快递到哪了", "谢谢，那运费谁出？", "How do I return an item?",
    "Hi, my order hasn't arrived", "Thanks, but what about the warranty?", "X1 Pro", "退款", "7天",
    "Great, and how long does shipping take?",
])
def test_not_noise(text):
    assert not is_noise(text)


def conv(*turns: tuple[str, str], cid: str = "c1") -> Conversation:
    return Conversation(cid, list(turns))


def test_mine_simple_pair():
    pairs, dropped = mine_pairs(conv(("customer", "怎么退货？"),
                                     ("agent", "签收后7天内在我的订单里申请退货。")))
    assert [(p.question, p.answer) for p in pairs] == [("怎么退货？", "签收后7天内在我的订单里申请退货。")]
    assert pairs[0].meta == {"conversation": "c1"}
    assert dropped == 0


def test_mine_drops_noise_system_and_orphan_agent_turns():
    pairs, dropped = mine_pairs(conv(
        ("system", "客服小李已接入"),
        ("agent", "您好，请问有什么可以帮您？"),
        ("agent", "I am your agent today and I can help."),  # agent speaks before any question
        ("customer", "你好"),
        ("customer", "在吗"),
        ("customer", "X1 Pro保修多久？"),
        ("agent", "请稍等"),
        ("agent", "X1 Pro保修24个月。"),
        ("customer", "好的谢谢"),
        ("agent", "不客气，祝您生活愉快！"),
    ))
    assert [(p.question, p.answer) for p in pairs] == [("X1 Pro保修多久？", "X1 Pro保修24个月。")]
    assert dropped == 8


def test_mine_joins_consecutive_turns_and_links_follow_ups():
    pairs, _ = mine_pairs(conv(
        ("customer", "My order hasn't arrived."),
        ("customer", "It was shipped a week ago."),
        ("agent", "Standard shipping takes 7-15 business days."),
        ("agent", "You can track it under My Orders."),
        ("customer", "And what if it is lost?"),
        ("agent", "Then we send a replacement or refund you in full."),
    ))
    assert [(p.question, p.answer) for p in pairs] == [
        ("My order hasn't arrived. It was shipped a week ago.",
         "Standard shipping takes 7-15 business days. You can track it under My Orders."),
        ("And what if it is lost?", "Then we send a replacement or refund you in full."),
    ]
    assert "previous_question" not in pairs[0].meta
    assert pairs[1].meta["previous_question"] == pairs[0].question


def test_mine_skips_too_short_answers_and_unanswered_questions():
    pairs, _ = mine_pairs(conv(
        ("customer", "Can I pay with PayPal?"),
        ("agent", "Yes."),
        ("customer", "Do you ship to Tibet?"),
    ))
    assert pairs == []


def test_mine_no_agent_turns():
    pairs, dropped = mine_pairs(conv(("customer", "Hello?"), ("customer", "Where is my parcel?")))
    assert pairs == [] and dropped == 1


def test_mine_empty_conversation():
    assert mine_pairs(conv()) == ([], 0)
