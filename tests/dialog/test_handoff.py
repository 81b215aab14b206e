"""The handoff policy: explicit requests (zh/en), sensitive topics, anger, repeated low confidence."""
from __future__ import annotations

import pytest

from kefu.dialog.handoff import HandoffPolicy
from kefu.errors import InputError


def decide(text="hello", policy=None, **kw):
    args = {"intent": None, "emotion": "neutral", "trend_escalate": False, "trend_reason": "",
            "low_confidence_streak": 0, "turns": 1, **kw}
    return (policy or HandoffPolicy()).decide(text, **args)


@pytest.mark.parametrize("text", ["转人工", "我要人工客服", "帮我转人工服务", "Can I talk to a human?",
                                  "I want to speak with a real person", "connect me to an agent please",
                                  "agent", "live agent", "agent please", "Human!"])
def test_explicit_requests_hand_off(text):
    d = decide(text)
    assert d is not None and d.reason == "explicit"


@pytest.mark.parametrize("text", ["How long is the warranty?", "退货要几天？", "Is the agent app free?",
                                  "我想了解一下人工智能产品", "human resources department address"])
def test_ordinary_questions_stay_with_the_bot(text):
    assert decide(text) is None


@pytest.mark.parametrize("text,topic", [("我要投诉你们的快递", "complaint"), ("再不处理我就找律师起诉", "legal"),
                                        ("I will sue you", "legal"), ("please cancel my account", "cancellation"),
                                        ("帮我注销账号", "cancellation")])
def test_sensitive_topics_by_keyword(text, topic):
    d = decide(text)
    assert d.reason == "sensitive" and topic in d.detail


def test_sensitive_intent_from_the_model_and_policy_can_turn_it_off():
    assert decide("something", intent="complaint").reason == "sensitive"
    assert decide("我要投诉", policy=HandoffPolicy(sensitive_intents=[])) is None


def test_anger_needs_an_escalating_trend_and_outranks_low_confidence():
    assert decide(emotion="anger", trend_escalate=False) is None
    d = decide(emotion="anger", trend_escalate=True, trend_reason="angry twice", low_confidence_streak=5)
    assert d.reason == "anger" and d.priority > decide(low_confidence_streak=5).priority


def test_worsening_trend_alone_needs_enough_turns():
    assert decide(trend_escalate=True, turns=2) is None
    assert decide(trend_escalate=True, turns=3).reason == "anger"
    assert decide(trend_escalate=True, turns=9, policy=HandoffPolicy(anger=False)) is None


def test_low_confidence_streak():
    assert decide(low_confidence_streak=1) is None
    assert decide(low_confidence_streak=2).reason == "low_confidence"
    assert decide(low_confidence_streak=50, policy=HandoffPolicy(low_confidence_turns=0)) is None


def test_explicit_request_can_be_turned_off():
    assert decide("转人工", policy=HandoffPolicy(explicit_request=False)) is None


@pytest.mark.parametrize("data,needle", [
    ({"nope": 1}, "unknown handoff policy field"),
    ({"anger": "yes"}, "anger must be true or false"),
    ({"low_confidence_turns": -1}, "low_confidence_turns"),
    ({"low_confidence_turns": True}, "low_confidence_turns"),
    ({"min_trend_turns": 1.5}, "min_trend_turns"),
    ({"sensitive_intents": "complaint"}, "sensitive_intents"),
    ({"sensitive_intents": [""]}, "sensitive_intents"),
])
def test_bad_policies_are_rejected_with_the_field_named(data, needle):
    with pytest.raises(InputError, match=needle):
        HandoffPolicy.from_dict(data)


def test_policy_round_trips():
    p = HandoffPolicy(low_confidence_turns=4, sensitive_intents=["legal"])
    assert HandoffPolicy.from_dict(p.to_dict()) == p
    assert HandoffPolicy.from_dict(None) == HandoffPolicy()
