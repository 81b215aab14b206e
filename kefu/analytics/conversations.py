"""The conversation dashboard: volume, containment, handoffs, CSAT, sentiment, intents, agent response
times, and knowledge gaps with a suggested FAQ entry drafted from what agents answered.

    stats = conversation_stats(engine, "acme", days=30)

Reads only through the ``ChatStore`` protocol, so it works the same on every chat store.
"""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from kefu.dialog.handoff import EXPLICIT
from kefu.ingest.clean import is_noise
from kefu.store.chats import Conversation, Message

MAX_CONVERSATIONS = 5000
LOW_CONFIDENCE = 0.6
GAP_SIMILARITY = 0.88  # questions closer than this (e5 cosine) fall into one knowledge gap
MAX_GAPS = 12


def conversation_stats(engine, tenant: str, *, days: int | None = 30) -> dict[str, Any]:
    """Everything the dashboard shows for ``tenant`` over the last ``days`` (``None``: all kept)."""
    chats = engine.chats
    since = (datetime.now(UTC) - timedelta(days=days)).isoformat() if days else ""
    convs = [c for c in chats.list_conversations(tenant, None, limit=MAX_CONVERSATIONS) if c.created_at >= since]
    histories = {c.id: chats.list_messages(tenant, c.id, limit=2000) for c in convs}
    per_day: Counter = Counter(c.created_at[:10] for c in convs)
    handed = [c for c in convs if c.summary.get("reason") or any(m.role == "agent" for m in histories[c.id])]
    answered_by_bot = [c for c in convs if c not in handed and any(m.role == "bot" and m.meta.get("mode") != "abstain"
                                                                  for m in histories[c.id])]
    csat = [c.csat for c in convs if c.csat]
    customer_msgs = [m for c in convs for m in histories[c.id] if m.role == "customer"]
    bot_msgs = [m for c in convs for m in histories[c.id] if m.role == "bot"]
    return {
        "tenant": tenant, "days": days, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "volume": {"conversations": len(convs), "messages": sum(len(h) for h in histories.values()),
                   "customer_messages": len(customer_msgs), "per_day": dict(sorted(per_day.items())),
                   "by_language": dict(Counter(c.lang or "unknown" for c in convs)),
                   "open": sum(c.status in ("queued", "agent") for c in convs)},
        "containment": _rate(len(answered_by_bot), len(convs)),
        "handoff": {"rate": _rate(len(handed), len(convs)), "count": len(handed),
                    "reasons": dict(Counter(c.summary.get("reason", "agent joined") for c in handed))},
        "csat": {"responses": len(csat), "mean": round(float(np.mean(csat)), 2) if csat else None,
                 "distribution": {str(k): csat.count(k) for k in range(1, 6)}},
        "feedback": {"up": sum(m.feedback == 1 for m in bot_msgs), "down": sum(m.feedback == -1 for m in bot_msgs)},
        "answers": dict(Counter(m.meta.get("mode", "unknown") for m in bot_msgs)),
        "sentiment": _sentiment(customer_msgs),
        "intents": dict(Counter(m.meta["intent"] for m in customer_msgs if m.meta.get("intent")).most_common(15)),
        "agent_first_response_s": _first_response(handed, histories),
        "knowledge_gaps": knowledge_gaps(engine, convs, histories),
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _sentiment(msgs: list[Message]) -> dict[str, Any]:
    scored = [(m.created_at[:10], m.meta["sentiment"]["score"], m.meta["sentiment"]["label"]) for m in msgs
              if isinstance(m.meta.get("sentiment"), dict) and "score" in m.meta["sentiment"]]
    by_day: dict[str, list[float]] = {}
    for day, score, _ in scored:
        by_day.setdefault(day, []).append(score)
    return {"mean": round(float(np.mean([s for _, s, _ in scored])), 4) if scored else None,
            "labels": dict(Counter(label for _, _, label in scored)),
            "per_day": {d: round(float(np.mean(v)), 4) for d, v in sorted(by_day.items())},
            "emotions": dict(Counter(m.meta.get("emotion") for m in msgs if m.meta.get("emotion")))}


def _first_response(handed: list[Conversation], histories: dict[str, list[Message]]) -> dict[str, Any]:
    waits = []
    for conv in handed:
        msgs = histories[conv.id]
        queued = next((m for m in msgs if m.role == "system" and m.meta.get("kind") == "queued"), None)
        reply = next((m for m in msgs if m.role == "agent" and queued and m.id > queued.id), None)
        if queued and reply:
            waits.append((datetime.fromisoformat(reply.created_at) - datetime.fromisoformat(queued.created_at))
                         .total_seconds())
    return {"answered": len(waits), "median": round(float(np.median(waits)), 1) if waits else None,
            "p90": round(float(np.percentile(waits, 90)), 1) if waits else None}


def knowledge_gaps(engine, convs: list[Conversation], histories: dict[str, list[Message]]) -> list[dict[str, Any]]:
    """Clusters of questions the bot could not answer (or barely), each with a drafted FAQ entry.

    The draft answer is the agents' reply closest to the centre of the replies they gave to that
    cluster's questions; without any agent reply the gap is listed with ``answer: None``.
    """
    asked: list[tuple[str, str | None]] = []  # (question, what an agent answered next, if anything)
    for conv in convs:
        msgs = histories[conv.id]
        for i, m in enumerate(msgs):
            if m.role != "customer" or is_noise(m.text) or EXPLICIT.search(m.text):
                continue
            bot = next((x for x in msgs[i + 1:] if x.role in ("bot", "customer")), None)
            weak = bot is None or bot.role == "customer" or bot.meta.get("mode") == "abstain" or \
                (bot.meta.get("confidence") or 0) < LOW_CONFIDENCE
            if not weak:
                continue
            agent = next((x.text for x in msgs[i + 1:] if x.role == "agent"), None)
            asked.append((m.text, agent))
    if not asked:
        return []
    vecs = engine.embedder.embed_queries([q for q, _ in asked])
    clusters = _greedy_clusters(vecs, GAP_SIMILARITY)
    gaps = []
    for members in sorted(clusters, key=len, reverse=True)[:MAX_GAPS]:
        centre = vecs[members].mean(axis=0)
        rep = members[int(np.argmax(vecs[members] @ centre))]
        answers = [asked[i][1] for i in members if asked[i][1]]
        draft = None
        if answers:
            a_vecs = engine.embedder.embed_passages(answers)
            draft = answers[int(np.argmax(a_vecs @ a_vecs.mean(axis=0)))]
        gaps.append({"question": asked[rep][0], "count": len(members), "answer": draft,
                     "examples": [asked[i][0] for i in members[:5]], "agent_answers": len(answers)})
    return gaps


def _greedy_clusters(vecs: np.ndarray, threshold: float) -> list[list[int]]:
    """Each question joins the first cluster whose first member it is close to (order-stable, O(n·k))."""
    clusters: list[list[int]] = []
    heads: list[np.ndarray] = []
    for i, v in enumerate(vecs):
        sims = [float(v @ h) for h in heads]
        best = int(np.argmax(sims)) if sims else -1
        if best >= 0 and sims[best] >= threshold:
            clusters[best].append(i)
        else:
            clusters.append([i])
            heads.append(v)
    return clusters
