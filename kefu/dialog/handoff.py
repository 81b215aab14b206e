"""When the bot hands a conversation to a human, and how urgent it is.

The policy is data (a tenant can change it over the admin API); ``decide`` reads one customer turn
with its NLU signals, the conversation's sentiment trend and how many answers in a row were below
the confidence threshold.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kefu.errors import InputError

EXPLICIT = re.compile(
    r"转人工|人工客服|人工服务|真人|找人工|接人工|客服人员|要人工|人工[!！。]?$|"
    r"\b(talk|speak|chat|connect me)\b.{0,20}\b(human|person|agent|representative|someone real)\b|"
    r"\b(human|live|real) (agent|person|representative)\b|"
    r"^\s*(please\s*,?\s*)?(an? )?(agent|human|operator|person)(,? please)?\s*[.!?]*\s*$",
    re.IGNORECASE)
# Topics a bot should not handle alone, found by keyword when no trained intent says so.
SENSITIVE = {
    "complaint": re.compile(r"投诉|举报|差评|\bcomplain(t|ts|ing)?\b|\bfile a complaint\b", re.IGNORECASE),
    "legal": re.compile(r"律师|起诉|法院|诉讼|消协|消费者协会|12315|工商局|\blawyer|\bsue\b|\blawsuit|"
                        r"\blegal action|\bcourt\b|\battorney", re.IGNORECASE),
    "cancellation": re.compile(r"注销|销户|取消会员|退会|\bcancel (my|the) (account|membership|subscription)|"
                               r"\bclose my account|\bdelete my account", re.IGNORECASE),
}
# Base urgency per reason; waiting time adds to it in the queue.
PRIORITY = {"anger": 3.0, "sensitive": 2.0, "explicit": 1.5, "low_confidence": 1.0}


@dataclass
class HandoffPolicy:
    """Per-tenant handoff rules; every field can be set over the admin API."""

    explicit_request: bool = True
    low_confidence_turns: int = 2  # abstentions in a row before handing off; 0 turns it off
    anger: bool = True  # anger, or a worsening sentiment trend
    min_trend_turns: int = 3
    sensitive_intents: list[str] = field(default_factory=lambda: ["complaint", "legal", "cancellation"])

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> HandoffPolicy:
        """A policy from JSON, rejecting unknown fields and wrong types with a clear message."""
        data = dict(data or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InputError(f"unknown handoff policy field(s): {', '.join(unknown)}; "
                             f"known: {', '.join(known)}")
        for name in ("explicit_request", "anger"):
            if name in data and not isinstance(data[name], bool):
                raise InputError(f"handoff policy field {name} must be true or false")
        for name in ("low_confidence_turns", "min_trend_turns"):
            turns = data.get(name, 2)
            if isinstance(turns, bool) or not isinstance(turns, int) or not 0 <= turns <= 100:
                raise InputError(f"handoff policy field {name} must be an integer from 0 to 100")
        sensitive = data.get("sensitive_intents", cls().sensitive_intents)
        if not isinstance(sensitive, list) or not all(isinstance(s, str) and s for s in sensitive):
            raise InputError("handoff policy field sensitive_intents must be a list of intent names")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def decide(self, text: str, *, intent: str | None, emotion: str, trend_escalate: bool,
               trend_reason: str, low_confidence_streak: int, turns: int = 0) -> Decision | None:
        """A handoff decision for this customer turn, or ``None`` to let the bot answer.

        A worsening trend alone needs ``min_trend_turns`` customer turns: two points make a slope
        out of one terse question ("那退货呢？" reads negative) after a neutral one.
        """
        if self.explicit_request and EXPLICIT.search(text):
            return Decision("explicit", "the customer asked for a human", PRIORITY["explicit"])
        topic = intent if intent in self.sensitive_intents else next(
            (name for name, rx in SENSITIVE.items() if name in self.sensitive_intents and rx.search(text)),
            None)
        if topic:
            return Decision("sensitive", f"sensitive topic: {topic}", PRIORITY["sensitive"])
        if self.anger and (emotion == "anger" and trend_escalate):
            return Decision("anger", f"the customer is angry ({trend_reason})", PRIORITY["anger"])
        if self.anger and trend_escalate and turns >= self.min_trend_turns:
            return Decision("anger", f"sentiment is worsening ({trend_reason})", PRIORITY["anger"] - 0.5)
        if self.low_confidence_turns and low_confidence_streak >= self.low_confidence_turns:
            return Decision("low_confidence", f"{low_confidence_streak} questions in a row the bot could "
                            "not answer confidently", PRIORITY["low_confidence"])
        return None


@dataclass
class Decision:
    reason: str  # explicit | sensitive | anger | low_confidence | agent (set by the customer UI)
    detail: str
    priority: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
