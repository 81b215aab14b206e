"""Cleaning: noise filtering of chat turns and mining question→answer pairs from chat logs."""
from __future__ import annotations

import re

from kefu.ingest.loaders.base import QA, Conversation
from kefu.nlp.text import has_han, normalize

_PUNCT = re.compile(r"[\s\W_]+", re.U)
# Whole-turn noise, matched after removing punctuation and spaces, lower-cased.
_NOISE_PHRASES = (
    # zh greetings, acknowledgements, thanks, closings, holding lines
    "你好", "您好", "在吗", "在不在", "有人吗", "亲", "谢谢你", "谢谢您", "谢谢啦", "谢谢", "多谢", "感谢",
    "好的", "好滴", "好", "嗯", "哦", "噢", "明白了", "知道了", "收到", "辛苦了", "辛苦", "再见", "拜拜",
    "请稍等一下", "请稍等", "稍等一下", "稍等", "还有其他问题吗", "请问还有其他可以帮您的吗",
    "还有什么可以帮您的吗", "还有什么可以帮您", "请问有什么可以帮到您", "请问有什么可以帮您",
    "有什么可以帮到您", "有什么可以帮您", "还有其他问题随时联系我们", "有问题随时联系我们", "随时联系我们",
    "不客气", "不用谢", "应该的", "有问题随时找我们",
    "祝您生活愉快", "祝您购物愉快", "呢", "啦", "呀", "哈", "的", "吧",
    # en
    "hi", "hello", "hey", "there", "thanks", "thank", "you", "so", "much", "alot", "thx", "ty", "great",
    "ok", "okay", "bye", "goodbye", "please", "wait", "one", "moment", "minute", "anything", "else",
    "isthere", "ican", "help", "with", "how", "can", "i", "today", "yourewelcome", "youarewelcome",
    "welcome", "noproblem", "np", "haveaniceday", "haveagoodday", "haveagreatday", "gotit", "perfect",
    "appreciateit", "appreciate", "it", "mypleasure", "happytohelp", "takecare", "cheers", "sure",
)
_NOISE = re.compile("^(?:" + "|".join(sorted(map(re.escape, _NOISE_PHRASES), key=len, reverse=True))
                    + ")+$")


def is_noise(text: str) -> bool:
    """Greetings, thanks, acknowledgements and closings that carry no knowledge."""
    key = _PUNCT.sub("", normalize(text).lower())
    return not key or bool(_NOISE.match(key))


_INFO_REQUEST = re.compile(r"订单号|单号|手机号|order (?:number|id|no)|your order|which order", re.I)


def is_info_request(text: str) -> bool:
    """A short agent turn that asks the customer for details rather than answering."""
    text = normalize(text)
    short = len(text) < (40 if has_han(text) else 80)
    return short and (bool(_INFO_REQUEST.search(text)) or text.endswith(("?", "？")))


def mine_pairs(conv: Conversation, *, min_answer_chars: int = 6) -> tuple[list[QA], int]:
    """Question→answer pairs: consecutive customer turns, then the agent's consecutive replies.

    Returns the pairs and how many turns were dropped as noise or system messages.
    """
    pairs: list[QA] = []
    question: list[str] = []
    answer: list[str] = []
    dropped = 0
    previous_q = ""

    def flush() -> None:
        nonlocal question, answer, previous_q
        if question and answer:
            text = " ".join(answer)
            if len(text) >= min_answer_chars:
                q = " ".join(question)
                meta = {"conversation": conv.id}
                if previous_q:
                    meta["previous_question"] = previous_q
                pairs.append(QA(q, text, [], meta))
                previous_q = q
        if answer:
            question = []
        answer = []

    for role, text in conv.turns:
        if role == "system" or is_noise(text):
            dropped += 1
            continue
        if role == "customer":
            if answer:
                flush()
            question.append(text)
        elif question:
            if is_info_request(text) and not answer:
                dropped += 1  # "what's your order number?" is not knowledge; keep the question open
                continue
            answer.append(text)
        else:
            dropped += 1  # an agent turn with no open question (opening line, follow-up chatter)
    flush()
    return pairs, dropped
