"""Multi-turn conversations: customer turns, bot answers, handoff to the queue, agent replies.

    service = ChatService(engine, chats)
    conv = service.start("acme", lang="zh")
    turn = service.post("acme", conv.id, "你们的退货政策是什么？")
    turn.replies[0].text, turn.replies[0].meta["citations"]

Every customer turn runs NLU once (intent, sentiment, entities), updates the conversation's memory
(sentiment trend, entities, the last question for follow-ups) and either answers from the knowledge
base or puts the conversation in the human queue with a summary for the agent. Everything persists
in the chat store, so a restarted server, or another replica, carries on where this one stopped.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kefu.dialog.answer import Answer
from kefu.dialog.handoff import EXPLICIT, Decision, HandoffPolicy
from kefu.dialog.tenant_nlu import TenantNLUs
from kefu.errors import ConflictError, InputError, NotFoundError
from kefu.nlp.sentiment import Sentiment, sentiment_trend
from kefu.nlp.text import normalize, tokenize
from kefu.store.chats import ChatStore, Conversation, Message

REMEMBERED = ("ORDER_NUMBER", "PRODUCT", "EMAIL", "PHONE", "DATE", "MONEY")
FOLLOW_UP = re.compile(r"^\s*(and|what about|how about|also|same for|and for|what if)\b|"
                       r"^\s*(那|那么|还有|另外|再问|如果是)|呢\s*[?？]?\s*$", re.IGNORECASE)
QUESTION_WORD = re.compile(r"如何|怎么|怎样|什么|多少|几|吗|哪|为什么|能否|可以|是否|"
                           r"\b(how|what|when|where|which|who|why|can|do|does|is|are)\b", re.IGNORECASE)
TEXTS = {
    "queued": {"en": "I'm connecting you with a human agent ({reason}). You are number {position} in the "
                     "queue; an agent will reply here.",
               "zh": "正在为您转接人工客服（{reason}）。您当前排在第 {position} 位，客服会在这里回复您。"},
    "waiting": {"en": "You are number {position} in the queue; an agent will be with you shortly.",
                "zh": "您当前排在第 {position} 位，请稍候，客服马上就到。"},
    "joined": {"en": "{agent} has joined the conversation.", "zh": "客服 {agent} 已接入对话。"},
    "resolved": {"en": "This conversation has been marked as resolved. How satisfied were you (1–5)?",
                 "zh": "本次对话已结束。请为本次服务打分（1–5 分）。"},
}
REASONS = {
    "explicit": {"en": "you asked for a person", "zh": "您要求人工服务"},
    "sensitive": {"en": "this needs a person", "zh": "该问题需要人工处理"},
    "anger": {"en": "I'd like a person to help you", "zh": "为您安排专人处理"},
    "low_confidence": {"en": "I couldn't answer confidently", "zh": "我无法确定答案"},
    "customer": {"en": "you asked for a person", "zh": "您要求人工服务"},
}
MAX_REMEMBERED_TURNS = 12
IDEMPOTENCY_KEYS_KEPT = 50  # per conversation: retries come seconds after the first attempt
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
LOCKS = 256
FIRST_ATTEMPT_SECONDS = 30.0  # a retry waits this long (from the first attempt) for it to finish its turn
FIRST_ATTEMPT_POLL = 0.2
UNFINISHED_KEPT = 1000


@dataclass
class Turn:
    """One customer message and what followed it (bot answer and/or system notices)."""

    conversation: Conversation
    customer: Message
    replies: list[Message] = field(default_factory=list)
    handoff: Decision | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"conversation": public_conversation(self.conversation),
                "message": self.customer.to_dict(),
                "replies": [m.to_dict() for m in self.replies],
                "handoff": self.handoff.to_dict() if self.handoff else None}


def public_conversation(conv: Conversation, position: int | None = None) -> dict[str, Any]:
    """What a customer may see of their conversation (no agent summary, no internal state)."""
    out = {"id": conv.id, "status": conv.status, "lang": conv.lang, "channel": conv.channel,
           "agent": conv.agent, "csat": conv.csat, "created_at": conv.created_at,
           "updated_at": conv.updated_at}
    if position is not None:
        out["queue_position"] = position
    return out


class ChatService:
    """Conversations for every tenant over one engine (knowledge) and one chat store."""

    def __init__(self, engine, chats: ChatStore, *, nlu_factory=None) -> None:
        self.engine = engine
        self.chats = chats
        self._nlus = TenantNLUs(engine, nlu_factory)
        # A fixed pool: one lock per conversation id would grow with every id ever posted to.
        self._locks = [threading.Lock() for _ in range(LOCKS)]
        self._guard = threading.Lock()
        self._watchers: list = []
        # (tenant, conversation, idempotency key) of turns that failed here after storing the message
        self._unfinished: dict[tuple[str, str, str], None] = {}

    # -- helpers ----------------------------------------------------------------------------
    def nlu(self, tenant: str):
        """The tenant's NLU (its trained intent model, if any), loaded once and reloaded in the background after
        a new training or a change to its knowledge (``kefu.dialog.tenant_nlu``)."""
        return self._nlus.get(tenant)

    def close(self) -> None:
        """Stop the worker threads of the tenants' NLUs (a later message starts them again)."""
        self._nlus.close()

    def policy(self, tenant: str) -> HandoffPolicy:
        return HandoffPolicy.from_dict(self.chats.get_policy(tenant, "handoff"))

    def set_policy(self, tenant: str, data: dict[str, Any]) -> HandoffPolicy:
        policy = HandoffPolicy.from_dict(data)
        self.chats.set_policy(tenant, "handoff", policy.to_dict())
        return policy

    def watch(self, callback) -> None:
        """Call ``callback(conversation_id)`` after every change to a conversation (any thread)."""
        self._watchers.append(callback)

    def _changed(self, conv_id: str) -> None:
        for callback in self._watchers:
            callback(conv_id)

    def _lock(self, conv_id: str) -> threading.Lock:
        return self._locks[zlib.crc32(conv_id.encode()) % LOCKS]

    # -- customer side ----------------------------------------------------------------------
    def start(self, tenant: str, *, lang: str = "", channel: str = "web") -> Conversation:
        if lang not in ("", "zh", "en"):
            raise InputError(f"lang {lang!r} is not supported; use zh or en")
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", channel or ""):
            raise InputError("channel must be 1-32 lowercase letters, digits, '-' or '_'")
        conv = Conversation(tenant=tenant, id="c_" + secrets.token_hex(12), lang=lang, channel=channel)
        return self.chats.create_conversation(conv)

    def get(self, tenant: str, conv_id: str) -> Conversation:
        return self.chats.get_conversation(tenant, _check_id(conv_id))

    def history(self, tenant: str, conv_id: str, after: int = 0) -> list[Message]:
        self.get(tenant, conv_id)
        return self.chats.list_messages(tenant, conv_id, after=after)

    def post(self, tenant: str, conv_id: str, text: str, idempotency_key: str | None = None,
             heard: str | None = None) -> Turn:
        """A customer message: store it, then answer, hand off, or wait for the agent.

        With ``idempotency_key`` (the HTTP ``Idempotency-Key`` header) the message is stored once per
        conversation, also when retries reach several replicas at the same time (the chat store's
        ``add_message_once``): a retry returns the first attempt's turn, waiting for it while another
        replica is still answering, or answers the stored message itself when the first attempt failed.
        ``heard``: what a speech recogniser wrote when ``text`` is its transcript put right (kept in the
        message's meta for the agent and the history).
        """
        text = self._clean(text)
        key = _check_idempotency_key(idempotency_key)
        with self._lock(_check_id(conv_id)):
            conv = self.get(tenant, conv_id)
            if key and key in conv.state.get("idempotency", {}):
                return self._replay(conv, key, text)
            nlu = self.nlu(tenant).analyze(text)
            msg = self._customer_message(conv, text, nlu)
            if heard and heard != text:
                msg.meta["heard"] = self._clean(heard)
            conv, customer = self._store_customer(conv, msg, key)
            if customer is None:  # another attempt stored the message and has answered it meanwhile
                return self._replay(conv, key, text)
            try:
                turn = self._take_turn(tenant, conv, customer, nlu)
                if key:
                    _remember_key(conv, key, text, turn)
                self.chats.update_conversation(conv)
            except BaseException:
                if key:  # a retry answers the stored message at once instead of waiting for this attempt
                    self._mark_unfinished(tenant, conv.id, key)
                raise
            self._changed(conv.id)
            return turn

    def _store_customer(self, conv: Conversation, msg: Message, key: str | None) -> tuple[Conversation, Message | None]:
        """Store the customer's message (once per idempotency ``key``). ``(conversation, stored message)``,
        or ``(conversation, None)`` when an earlier attempt stored it and recorded its turn."""
        if key is None:
            return conv, self.chats.add_message(msg)
        stored, created = self.chats.add_message_once(msg, key)
        if not created:
            conv = self._await_first_attempt(conv, key, stored, msg.text)
            if key in conv.state.get("idempotency", {}):
                return conv, None
        return conv, stored

    def _mark_unfinished(self, tenant: str, conv_id: str, key: str) -> None:
        with self._guard:
            self._unfinished[(tenant, conv_id, key)] = None
            while len(self._unfinished) > UNFINISHED_KEPT:
                self._unfinished.pop(next(iter(self._unfinished)))

    def _customer_message(self, conv: Conversation, text: str, nlu) -> Message:
        """The customer's message with its NLU signals (not stored yet)."""
        signals = nlu.to_dict()
        lang = signals["language"] if signals["language"] in ("zh", "en") else (conv.lang or "en")
        return Message(conv.tenant, conv.id, "customer", text, {
            "intent": signals["intent"], "confidence": signals["confidence"],
            "sentiment": signals["sentiment"], "emotion": signals["emotion"],
            "entities": signals["entities"], "language": lang})

    def _await_first_attempt(self, conv: Conversation, key: str, stored: Message, text: str) -> Conversation:
        """The conversation once the attempt that stored ``stored`` under ``key`` has recorded its turn,
        or as it is when that attempt failed here or is older than ``FIRST_ATTEMPT_SECONDS``."""
        if stored.text != text:
            raise _key_reused(key)
        try:
            age = (datetime.now(UTC) - datetime.fromisoformat(stored.created_at)).total_seconds()
        except (TypeError, ValueError):  # a timestamp kefu did not write (an imported row): do not wait
            age = FIRST_ATTEMPT_SECONDS
        deadline = time.monotonic() + FIRST_ATTEMPT_SECONDS - age
        while ((conv.tenant, conv.id, key) not in self._unfinished and time.monotonic() < deadline
               and key not in conv.state.get("idempotency", {})):
            time.sleep(FIRST_ATTEMPT_POLL)
            conv = self.get(conv.tenant, conv.id)
        with self._guard:
            self._unfinished.pop((conv.tenant, conv.id, key), None)
        return conv

    def _take_turn(self, tenant: str, conv: Conversation, customer: Message, nlu) -> Turn:
        signals = nlu.to_dict()
        text, lang = customer.text, customer.meta["language"]
        conv.lang = conv.lang or lang
        trend = self._remember(conv, nlu.sentiment, signals["entities"])
        turn = Turn(conv, customer)
        if conv.status == "resolved":
            conv.status, conv.agent = "bot", None
        if conv.status in ("queued", "agent"):
            if conv.status == "queued":
                turn.replies.append(self._system(conv, "waiting", lang, position=self.position(conv)))
            return turn
        policy = self.policy(tenant)
        decision = policy.decide(
            text, intent=signals["intent"], emotion=signals["emotion"], trend_escalate=trend.escalate,
            trend_reason=trend.reason, low_confidence_streak=conv.state.get("low_confidence_streak", 0),
            turns=trend.turns)
        if decision is None:
            answer, context = self._answer(conv, text, signals["emotion"])
            turn.replies.append(self._bot_message(conv, answer, context, signals))
            streak = conv.state.get("low_confidence_streak", 0) + 1 if answer.mode == "abstain" else 0
            conv.state["low_confidence_streak"] = streak
            decision = policy.decide(
                "", intent=None, emotion="neutral", trend_escalate=False, trend_reason="",
                low_confidence_streak=streak) if answer.mode == "abstain" else None
        if decision is not None:
            turn.handoff = decision
            turn.replies.append(self._enqueue(conv, decision, lang, trend.to_dict()))
        return turn

    def _replay(self, conv: Conversation, key: str, text: str) -> Turn:
        """The turn first stored under ``key`` (a client retrying after a lost response)."""
        seen = conv.state["idempotency"][key]
        if seen["text"] != _text_hash(text):
            raise _key_reused(key)
        ids = {seen["customer"], *seen["replies"]}
        stored = {m.id: m for m in self.chats.list_messages(conv.tenant, conv.id, after=seen["customer"] - 1)
                  if m.id in ids}
        handoff = Decision(**seen["handoff"]) if seen.get("handoff") else None
        return Turn(conv, stored[seen["customer"]], [stored[i] for i in seen["replies"] if i in stored], handoff)

    def request_handoff(self, tenant: str, conv_id: str) -> Turn | None:
        """The customer pressed "talk to a person"."""
        with self._lock(_check_id(conv_id)):
            conv = self.get(tenant, conv_id)
            if conv.status in ("queued", "agent"):
                return None
            lang = conv.lang or "en"
            decision = Decision("customer", "the customer pressed the human-agent button", 1.5)
            trend = sentiment_trend(_sentiments(conv.state)).to_dict()
            msg = self._enqueue(conv, decision, lang, trend)
            self.chats.update_conversation(conv)
            self._changed(conv.id)
            return Turn(conv, msg, [], decision)

    def feedback(self, tenant: str, message_id: int, rating: int, conv_id: str | None = None) -> Message:
        """Thumbs on an answer; with ``conv_id`` the message must belong to that conversation."""
        if rating not in (-1, 1):
            raise InputError("rating must be 1 (helpful) or -1 (not helpful)")
        msg = self.chats.get_message(tenant, message_id)
        if conv_id is not None and msg.conversation_id != conv_id:
            raise NotFoundError(f"message {message_id} not found")
        if msg.role not in ("bot", "agent"):
            raise InputError("feedback can only be given on a bot or agent answer")
        self.chats.set_feedback(tenant, message_id, rating)
        msg.feedback = rating
        return msg

    def csat(self, tenant: str, conv_id: str, score: int) -> Conversation:
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InputError("csat must be an integer from 1 to 5")
        with self._lock(_check_id(conv_id)):
            conv = self.get(tenant, conv_id)
            conv.csat = score
            self.chats.update_conversation(conv)
            return conv

    # -- agent side -------------------------------------------------------------------------
    def queue(self, tenant: str) -> list[dict[str, Any]]:
        """Waiting and taken conversations, most urgent first (priority, then time waiting)."""
        now = datetime.now(UTC)
        out = []
        for conv in self.chats.list_conversations(tenant, ("queued", "agent"), limit=500):
            waited = (now - datetime.fromisoformat(conv.queued_at)).total_seconds() if conv.queued_at else 0
            out.append({**public_conversation(conv), "priority": round(conv.priority + waited / 600, 3),
                        "waiting_s": round(waited, 1), "summary": conv.summary})
        out.sort(key=lambda c: (c["status"] != "queued", -c["priority"]))
        return out

    def position(self, conv: Conversation) -> int:
        waiting = [c for c in self.queue(conv.tenant) if c["status"] == "queued"]
        ids = [c["id"] for c in waiting]
        return ids.index(conv.id) + 1 if conv.id in ids else len(ids) + 1

    def take(self, tenant: str, conv_id: str, agent: str, *, role: str = "agent") -> Conversation:
        """Take over from the bot (or, for a supervisor, from another agent)."""
        with self._lock(_check_id(conv_id)):
            conv = self.get(tenant, conv_id)
            if conv.status == "agent" and conv.agent not in (None, agent) and role != "supervisor":
                raise InputError(f"conversation is already taken by {conv.agent}; a supervisor can reassign it")
            if conv.status == "agent" and conv.agent == agent:
                return conv
            conv.status, conv.agent = "agent", agent
            account = self.chats.get_agent(tenant, agent)
            name = account.display_name if account and account.display_name else agent
            self._system(conv, "joined", conv.lang or "en", agent=name)
            self.chats.update_conversation(conv)
            self._changed(conv.id)
            return conv

    def agent_reply(self, tenant: str, conv_id: str, agent: str, text: str) -> Message:
        text = self._clean(text)
        with self._lock(_check_id(conv_id)):
            conv = self.get(tenant, conv_id)
            if conv.status != "agent" or conv.agent != agent:
                raise InputError("take the conversation before replying")
            msg = self.chats.add_message(Message(tenant, conv.id, "agent", text, {"agent": agent}))
            self.chats.update_conversation(conv)
            self._changed(conv.id)
            return msg

    def link_customer(self, tenant: str, conv_id: str, customer: str) -> Conversation:
        """Record the integrator's own customer id on a conversation (under its lock: a message being
        answered at the same moment keeps both changes)."""
        with self._lock(_check_id(conv_id)):
            conv = self.get(tenant, conv_id)
            conv.state["customer"] = customer
            self.chats.update_conversation(conv)
            self._changed(conv.id)
            return conv

    def resolve(self, tenant: str, conv_id: str, agent: str | None = None) -> Conversation:
        with self._lock(_check_id(conv_id)):
            conv = self.get(tenant, conv_id)
            conv.status, conv.queued_at = "resolved", None
            self._system(conv, "resolved", conv.lang or "en", csat=True)
            self.chats.update_conversation(conv)
            self._changed(conv.id)
            return conv

    def suggestions(self, tenant: str, conv_id: str) -> dict[str, Any]:
        """Answers from the knowledge base for the customer's last message, for the agent to send."""
        msgs = [m for m in self.history(tenant, conv_id) if m.role == "customer" and not EXPLICIT.search(m.text)]
        if not msgs:
            return {"question": "", "suggestions": []}
        question = msgs[-1].text
        answer = self.engine.answerer.ask(tenant, question)
        items = []
        if answer.mode != "abstain":
            items.append({"text": answer.answer, "confidence": answer.confidence,
                          "citation": answer.citations[0].__dict__ if answer.citations else None})
        faq_ids = [c.chunk_id for c in answer.citations if c.kind in ("faq", "qa")]
        chunks = {c.id: c for c in self.engine.store.get_chunks(tenant, faq_ids)}
        for c in answer.citations:
            chunk = chunks.get(c.chunk_id)
            if chunk is not None and all(chunk.answer != i["text"] for i in items):
                items.append({"text": chunk.answer, "confidence": None, "citation": c.__dict__})
        return {"question": question, "suggestions": items[:4]}

    def save_answer(self, tenant: str, conv_id: str, message_id: int, question: str | None = None) -> dict:
        """Store an agent's reply as an FAQ entry (question defaults to the customer's last question)."""
        msg = self.chats.get_message(tenant, message_id)
        if msg.conversation_id != conv_id or msg.role != "agent":
            raise InputError(f"message {message_id} is not an agent reply in this conversation")
        if not question:
            earlier = [m for m in self.history(tenant, conv_id)
                       if m.role == "customer" and m.id < msg.id and not EXPLICIT.search(m.text)]
            if not earlier:
                raise InputError("no customer question precedes this reply; give the question")
            question = earlier[-1].text
        question = self._clean(question)
        doc_id = self.engine.ingestor.add_faq(tenant, "agent-answers", f"agent-answers/{conv_id}/{message_id}",
                                                question, msg.text)
        return {"source": "agent-answers", "question": question, "answer": msg.text, "document_id": doc_id}

    # -- internals --------------------------------------------------------------------------
    def _clean(self, text: Any) -> str:
        if not isinstance(text, str):
            raise InputError("text must be a string")
        text = normalize(text)
        if not text:
            raise InputError("the message is empty")
        limit = self.engine.config.max_question_chars
        if len(text) > limit:
            raise InputError(f"the message is {len(text)} characters long; the limit is {limit} "
                             "(setting max_question_chars)")
        return text

    def _remember(self, conv: Conversation, sentiment: Sentiment, entities: list[dict]):
        state = conv.state
        hist = state.setdefault("sentiments", [])
        hist.append([sentiment.label, round(sentiment.score, 4), sentiment.emotion,
                     round(sentiment.emotion_confidence, 4)])
        del hist[:-MAX_REMEMBERED_TURNS]
        known = state.setdefault("entities", {})
        for ent in entities:
            if ent["type"] in REMEMBERED:
                known[ent["type"]] = ent["text"]
        state["turns"] = state.get("turns", 0) + 1
        return sentiment_trend(_sentiments(state))

    def _answer(self, conv: Conversation, text: str, emotion: str = "neutral") -> tuple[Answer, dict[str, Any]]:
        """Answer ``text``; a follow-up ("and the Pro?", "那退货呢？") is read with the last question."""
        composer = self.engine.composer(conv.tenant)
        answer, read_as = answer_in_context(self.engine, conv.tenant, text, conv.state.get("last_question"))
        context: dict[str, Any] = {"entities": dict(conv.state.get("entities", {}))}
        if read_as != text:
            context["read_as"] = read_as
        if composer.enabled:
            history = [(m.role, m.text) for m in self.chats.list_messages(conv.tenant, conv.id)[-6:-1]
                       if m.role in ("customer", "bot", "agent")]
            answer = composer.compose(conv.tenant, context.get("read_as", text), answer, emotion=emotion,
                                      history=history)
            tokens = answer.explanation.get("generator", {}).get("tokens")
            if tokens:
                used = conv.state.setdefault("tokens", {"prompt": 0, "completion": 0})
                used["prompt"] += tokens["prompt"]
                used["completion"] += tokens["completion"]
        if answer.mode != "abstain":
            conv.state["last_question"] = context.get("read_as", text)[-300:]
        tried = conv.state.setdefault("tried", [])
        tried.append({"question": text[:200], "mode": answer.mode, "confidence": answer.confidence})
        del tried[:-5]
        return answer, context

    def _bot_message(self, conv: Conversation, answer: Answer, context: dict, signals: dict) -> Message:
        meta = {"mode": answer.mode, "confidence": answer.confidence, "language": answer.language,
                "citations": [c.__dict__ for c in answer.citations],
                "handoff_offered": answer.handoff_offered,
                "explanation": {**answer.explanation, "intent": signals["intent"],
                                "intent_confidence": signals["confidence"],
                                "sentiment": signals["sentiment"], "emotion": signals["emotion"],
                                "context": context}}
        return self.chats.add_message(Message(conv.tenant, conv.id, "bot", answer.answer, meta))

    def _enqueue(self, conv: Conversation, decision: Decision, lang: str, trend: dict) -> Message:
        conv.status = "queued"
        conv.queued_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        last = _sentiments(conv.state)
        conv.priority = decision.priority + (0.5 if last and last[-1].label == "negative" else 0.0)
        intents = [m.meta.get("intent") for m in self.chats.list_messages(conv.tenant, conv.id)
                   if m.role == "customer" and m.meta.get("intent")]
        conv.summary = {"reason": decision.reason, "detail": decision.detail,
                        "intent": intents[-1] if intents else None, "sentiment_trend": trend,
                        "entities": conv.state.get("entities", {}), "bot_tried": conv.state.get("tried", []),
                        "turns": conv.state.get("turns", 0)}
        self.chats.update_conversation(conv)
        reason = REASONS.get(decision.reason, REASONS["explicit"])[lang if lang in ("zh", "en") else "en"]
        return self._system(conv, "queued", lang, position=self.position(conv), reason=reason,
                            handoff=decision.reason)

    def _system(self, conv: Conversation, kind: str, lang: str, **values) -> Message:
        lang = lang if lang in ("zh", "en") else "en"
        text = TEXTS[kind][lang].format(**values)
        meta = {"kind": kind, **{k: v for k, v in values.items() if k in ("position", "agent", "handoff", "csat")}}
        return self.chats.add_message(Message(conv.tenant, conv.id, "system", text, meta))


def answer_in_context(engine, tenant: str, text: str, previous: str | None) -> tuple[Answer, str]:
    """The extractive answer to ``text`` and the question it answers.

    A follow-up of ``previous`` is also asked as one question (rewritten by the tenant's model when one
    is configured, else the two joined); that reading wins when it is the more confident answer.
    """
    answer = engine.answerer.ask(tenant, text)
    if not previous or not is_follow_up(text):
        return answer, text
    combined = engine.composer(tenant).rewrite(previous, text) or f"{previous} {text}"
    joint = engine.answerer.ask(tenant, combined)
    if answer.mode == "abstain" or (joint.mode != "abstain" and joint.confidence > answer.confidence):
        return joint, combined
    return answer, text


def is_follow_up(text: str) -> bool:
    """Short or elliptical messages that only make sense with the previous question."""
    if FOLLOW_UP.search(text):
        return True
    # "X1 Pro?" alone: a bare noun phrase with no question word of its own.
    return len(tokenize(text, stopwords=True)) <= 2 and not QUESTION_WORD.search(text)


def _sentiments(state: dict) -> list[Sentiment]:
    return [Sentiment(label, score, emotion, conf) for label, score, emotion, conf in state.get("sentiments", [])]


def _remember_key(conv: Conversation, key: str, text: str, turn: Turn) -> None:
    """Record the turn answered under idempotency ``key`` in the conversation (the last few keys)."""
    seen = conv.state.setdefault("idempotency", {})
    seen[key] = {"text": _text_hash(text), "customer": turn.customer.id, "replies": [m.id for m in turn.replies],
                 "handoff": turn.handoff.to_dict() if turn.handoff else None}
    for old in list(seen)[:-IDEMPOTENCY_KEYS_KEPT]:
        del seen[old]


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _key_reused(key: str) -> ConflictError:
    return ConflictError(f"Idempotency-Key {key!r} was already used for a different message in this "
                         "conversation", hint="use a new key for each new message")


def _check_idempotency_key(key: str | None) -> str | None:
    if key is None or key == "":
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise InputError("Idempotency-Key must be 1-100 characters: letters, digits, '_', '-', '.' or ':'")
    return key


def _check_id(conv_id: str) -> str:
    if not isinstance(conv_id, str) or not re.fullmatch(r"c_[0-9a-f]{24}", conv_id):
        raise NotFoundError(f"conversation {str(conv_id)[:64]!r} not found")
    return conv_id


__all__ = ["ChatService", "Turn", "answer_in_context", "is_follow_up", "public_conversation"]
