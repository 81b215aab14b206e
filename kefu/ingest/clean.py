"""Cleaning: noise filtering of chat turns and mining question→answer pairs from chat logs."""
from __future__ import annotations

import re

from kefu.ingest.loaders.base import QA, Conversation
from kefu.nlp.text import normalize

_PUNCT = re.compile(r"[\s\W_]+", re.U)
# Whole-turn noise, matched after removing punctuation and spaces, lower-cased.
_NOISE = re.compile(
    r"^(?:"
    r"你好|您好|hi|hello|hey|hithere|hellothere|在吗|在不在|有人吗|亲|"
    r"谢谢|谢谢你|谢谢您|多谢|感谢|thanks|thankyou|thx|ty|thanksalot|thankyousomuch|great|"
    r"好的|好|嗯|嗯嗯|哦|噢|ok|okay|okthanks|好的谢谢|好的谢谢你|明白了|知道了|收到|"
    r"再见|拜拜|bye|goodbye|byebye|"
    r"稍等|请稍等|请稍等一下|稍等一下|pleasewait|onemoment|oneminute|"
    r"还有其他问题吗|还有什么可以帮您|还有什么可以帮您的吗|请问还有其他可以帮您的吗|"
    r"anythingelse|isthereanythingelse(?:icanhelpwith|icanhelpyouwith)?|"
    r"您好请问有什么可以帮您|您好请问有什么可以帮您的|请问有什么可以帮您|"
    r"howcanihelp|howcanihelpyou|howcanihelpyoutoday|hihowcanihelp|hihowcanihelpyou|"
    r"hihowcanihelpyoutoday|hellohowcanihelpyou|hellohowcanihelpyoutoday|"
    r"不客气|不用谢|youarewelcome|yourewelcome|nop|noproblem|np|"
    r"祝您生活愉快|祝您购物愉快|haveaniceday|haveagoodday|haveagreatday"
    r")+$")


def is_noise(text: str) -> bool:
    """Greetings, thanks, acknowledgements and closings that carry no knowledge."""
    key = _PUNCT.sub("", normalize(text).lower())
    return not key or bool(_NOISE.match(key))


_INFO_REQUEST = re.compile(r"订单号|单号|手机号|order (?:number|id|no)|your order|which order", re.I)


def is_info_request(text: str) -> bool:
    """A short agent turn that asks the customer for details rather than answering."""
    text = normalize(text)
    short = len(text) < (40 if re.search(r"[\u4e00-\u9fff]", text) else 80)
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
