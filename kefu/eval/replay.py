"""Replay historical conversations through the whole engine and score the bot against the human agents.

    result = replay(config, "chats.jsonl", ReplayOptions(holdout=0.2))
    result["summary"]["similarity_mean"], result["summary"]["as_close_as_human_rate"]

Conversations are split (seeded) into history and held-out. The history is ingested as knowledge the
way a company would (its chat logs, plus ``knowledge`` paths such as the FAQ and policies); every
held-out customer turn is then sent, after its earlier turns, to a fresh conversation of the chat
service, and the bot's reply is scored against what the human agent actually answered:

- similarity: cosine of the two replies' embeddings (the shared multilingual embedder);
- chrF (sacrebleu) and ROUGE-L (characters for Chinese, words otherwise);
- groundedness: 1 for FAQ/extractive answers (quoted from a source), the grounding check's share of
  supported sentences for generated ones;
- outcome: answered, abstained or handed off; latency per turn;
- "as close as a human": where turns carry intent labels, the median similarity of up to five *other*
  agents' replies to the same intent (from the history) to this agent's reply is the human baseline;
  the bot is as close as a human when its similarity is at least that.
"""
from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kefu.config import Config
from kefu.engine import Engine
from kefu.errors import InputError
from kefu.eval import metrics
from kefu.eval.importers import load_conversations
from kefu.ingest.clean import is_noise
from kefu.ingest.loaders.base import Conversation
from kefu.nlp.text import detect_language

TENANT = "replay"
BASELINE_SAMPLES = 5
TOLERANCE = {"similarity_mean": 0.02, "chrf_mean": 0.02, "rouge_l_mean": 0.02, "answered_rate": 0.05,
             "as_close_as_human_rate": 0.05}
SUMMARY_KEYS = ("turns", "answered", "abstained", "handed_off")


@dataclass
class ReplayOptions:
    holdout: float = 0.2
    seed: int = 0
    fmt: str = "auto"
    limit: int | None = None  # a seeded sample of this many conversations
    max_turns: int | None = None  # held-out turns replayed
    knowledge: list[Path] = field(default_factory=list)
    workdir: Path | None = None
    train_intent: bool = False  # train an intent model on the history's labels first
    judge: bool = True  # with a generator configured, judge bot vs agent pairwise


@dataclass
class _Pair:
    conv: Conversation
    index: int
    question: str
    human: str
    context: list[str]
    intent: str | None


def replay(config: Config, path: str | Path, options: ReplayOptions | None = None, *, embedder=None,
           progress: Callable[[int, int], None] | None = None, command: str = "") -> dict[str, Any]:
    """Run the replay and return its result (the JSON ``kefu eval replay`` writes)."""
    opts = options or ReplayOptions()
    if not 0 < opts.holdout < 1:
        raise InputError(f"--holdout must be between 0 and 1 (exclusive), not {opts.holdout}")
    convs = load_conversations(path, opts.fmt)
    rng = random.Random(opts.seed)
    if opts.limit is not None and opts.limit < len(convs):  # a seeded sample, not the first rows (often sorted)
        convs = rng.sample(convs, opts.limit)
    usable, skipped = _usable(convs)
    if len(usable) < 2:
        raise InputError(f"{path}: {len(usable)} conversation(s) with both customer and agent turns; replay "
                         "needs at least 2 (one to learn from, one to replay)")
    order = usable[:]
    rng.shuffle(order)
    n_hold = min(len(order) - 1, max(1, round(len(order) * opts.holdout)))
    held, history = order[:n_hold], order[n_hold:]
    with tempfile.TemporaryDirectory(prefix="kefu-replay-") as tmp:
        home = Path(opts.workdir or tmp)
        home.mkdir(parents=True, exist_ok=True)
        engine = Engine(Config(home, config.as_dict()))
        if embedder is not None:
            engine.__dict__["embedder"] = embedder
        try:
            _learn(engine, history, opts.knowledge)
            trained = _train_intent(engine, history) if opts.train_intent else None
            pairs = [p for conv in held for p in _pairs(conv, skipped)]
            if opts.max_turns is not None:
                pairs = pairs[:opts.max_turns]
            if not pairs:
                raise InputError("no held-out customer turn is followed by an agent reply; nothing to replay")
            turns = _run(engine, pairs, progress)
            _score(engine, turns, history, opts.seed)
            verdicts = _judge(engine, turns) if opts.judge else None
        finally:
            engine.close()
    data = {"path": str(path), "format": opts.fmt, "conversations": len(convs), "train_conversations": len(history),
            "heldout_conversations": len(held), "turns": len(turns), "seed": opts.seed, "holdout": opts.holdout,
            "knowledge": [str(p) for p in opts.knowledge], "skipped": skipped, "intent_model": trained}
    by_lang = _group(turns, "lang")
    by_intent = dict(sorted(_group(turns, "intent").items(), key=lambda kv: -kv[1]["turns"])[:30])
    worst = sorted(turns, key=lambda t: t["similarity"])[:10]
    summary = summarise(turns)
    summary["judge"] = verdicts
    return {"kind": "replay", "created": datetime.now(UTC).isoformat(timespec="seconds"), "command": command,
            "data": data, "summary": summary, "by_language": by_lang, "by_intent": by_intent,
            "worst": worst, "turns": turns, "baseline": None}


def _usable(convs: list[Conversation]) -> tuple[list[Conversation], dict[str, int]]:
    skipped: dict[str, int] = {}
    usable = []
    for conv in convs:
        roles = {r for r, _ in conv.turns}
        reason = None if {"customer", "agent"} <= roles else (
            "conversation without agent turns" if "customer" in roles else "conversation without customer turns")
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
        else:
            usable.append(conv)
    return usable, skipped


def _learn(engine: Engine, history: list[Conversation], knowledge: list[Path]) -> None:
    logs = engine.config.home / "history.jsonl"
    with logs.open("w", encoding="utf-8") as f:
        for conv in history:
            f.write(json.dumps({"id": conv.id, "turns": [{"role": r, "text": t} for r, t in conv.turns]},
                               ensure_ascii=False) + "\n")
    report = engine.ingestor.ingest([logs], tenant=TENANT, source="history")
    if report.failed:
        raise InputError(f"the history could not be ingested: {report.failed[0].error}")
    if knowledge:
        report = engine.ingestor.ingest(list(knowledge), tenant=TENANT, source="knowledge")
        if report.failed:
            raise InputError(f"knowledge could not be ingested: {report.failed[0].error}")


def _train_intent(engine: Engine, history: list[Conversation]) -> dict[str, Any] | None:
    """An intent model from the history's labelled customer turns, saved where the chat service loads it."""
    from kefu.nlp.intent import EnsembleIntentModel, TrainingData, check_trainable, intent_dir, save_versioned

    pairs = [p for conv in history for p in _pairs(conv, {}) if p.intent]
    if not pairs:
        return None
    data = TrainingData([p.question for p in pairs], [p.intent for p in pairs], source="replay history")
    check_trainable(data)
    model = EnsembleIntentModel.fit(data, engine.embedder)
    save_versioned(model, intent_dir(engine.config.home, TENANT))
    return {"examples": len(data), "intents": len(set(data.labels))}


def _judge(engine: Engine, turns: list[dict]) -> dict[str, int] | None:
    """Win/tie/loss of the bot against the agent by the first configured generator (both orders)."""
    from kefu.eval.judge import judge

    composer = engine.composer(TENANT)
    if not composer.enabled:
        return None
    counts = {"win": 0, "tie": 0, "loss": 0, "failed": 0}
    for t in turns:
        verdict = judge(composer.generators[0], t["question"], t["bot"], t["human"])
        t["judge"] = verdict
        counts[verdict or "failed"] += 1
    return counts


def _pairs(conv: Conversation, skipped: dict[str, int]) -> list[_Pair]:
    """Each run of customer turns with the run of agent turns that answered it."""
    intents = conv.meta.get("intents") or [None] * len(conv.turns)
    out, asked, answer, asked_at, context = [], [], [], 0, []

    def flush() -> None:
        nonlocal asked, answer
        if asked and answer:
            question = " ".join(asked)
            if is_noise(question):
                skipped["greeting or thanks only"] = skipped.get("greeting or thanks only", 0) + 1
            else:
                label = intents[asked_at] if asked_at < len(intents) else None
                out.append(_Pair(conv, len(out), question, " ".join(answer), context[-3:], label))
                context.append(question)
        elif answer:
            skipped["agent turn with no customer question"] = skipped.get("agent turn with no customer question",
                                                                          0) + 1
        if answer:
            asked = []
        answer = []

    for i, (role, text) in enumerate(conv.turns):
        if role == "customer":
            if answer:
                flush()
            if not asked:
                asked_at = i
            asked.append(text)
        elif role == "agent" and not is_noise(text):
            answer.append(text)
    flush()
    return out


def _run(engine: Engine, pairs: list[_Pair], progress) -> list[dict[str, Any]]:
    service = engine.service
    chats = engine.chats
    convs: dict[str, str] = {}
    turns = []
    for n, pair in enumerate(pairs, 1):
        cid = convs.get(pair.conv.id)
        if cid is None:
            cid = convs[pair.conv.id] = service.start(TENANT).id
        start = time.perf_counter()
        turn = service.post(TENANT, cid, pair.question)
        ms = (time.perf_counter() - start) * 1000
        bot = next((m for m in turn.replies if m.role == "bot"), None)
        if turn.handoff is not None:
            outcome, mode = "handed_off", "handoff"
        elif bot is None or bot.meta.get("mode") == "abstain":
            outcome, mode = "abstained", "abstain"
        else:
            outcome, mode = "answered", bot.meta.get("mode")
        text = bot.text if bot is not None and outcome == "answered" else " ".join(m.text for m in turn.replies)
        conv = chats.get_conversation(TENANT, cid)
        if conv.status != "bot":  # keep replaying the next turns as the bot would have met them
            conv.status, conv.agent, conv.queued_at = "bot", None, None
            chats.update_conversation(conv)
        predicted = turn.customer.meta.get("intent")
        meta = bot.meta if bot is not None else {}
        grounded = None
        if outcome == "answered":
            grounded = meta.get("explanation", {}).get("grounding", {}).get("supported_ratio", 1.0)
        turns.append({"conversation": pair.conv.id, "turn": pair.index, "lang": _lang(pair.question),
                      "intent": pair.intent, "predicted_intent": predicted, "context": pair.context,
                      "question": pair.question, "human": pair.human, "bot": text, "outcome": outcome,
                      "mode": mode, "confidence": meta.get("confidence"), "groundedness": grounded,
                      "ms": round(ms, 1), "citations": [{"title": c["title"], "uri": c["uri"]}
                                                        for c in meta.get("citations", [])[:3]]})
        if progress:
            progress(n, len(pairs))
    return turns


def _lang(text: str) -> str:
    lang = detect_language(text)
    return lang if lang in ("zh", "en") else "other"


def _score(engine: Engine, turns: list[dict], history: list[Conversation], seed: int) -> None:
    emb = engine.embedder
    bots = emb.embed_passages([t["bot"] for t in turns])
    humans = emb.embed_passages([t["human"] for t in turns])
    for t, b, h in zip(turns, bots, humans):
        t["similarity"] = round(float(b @ h), 4)
        t["chrf"] = round(metrics.chrf(t["bot"], t["human"]), 4)
        t["rouge_l"] = round(metrics.rouge_l(t["bot"], t["human"]), 4)
        t["human_baseline"] = t["as_close_as_human"] = None
    by_label: dict[str, list[str]] = {}
    for conv in history:
        for pair in _pairs(conv, {}):
            if pair.intent:
                by_label.setdefault(pair.intent, []).append(pair.human)
    rng = random.Random(seed)
    samples = []
    for i, t in enumerate(turns):
        pool = [r for r in by_label.get(t["intent"] or "", []) if r != t["human"]]
        if pool:
            samples.append((i, rng.sample(pool, min(BASELINE_SAMPLES, len(pool)))))
    if samples:
        flat = [r for _, rs in samples for r in rs]
        vecs = emb.embed_passages(flat)
        k = 0
        for i, rs in samples:
            sims = vecs[k:k + len(rs)] @ humans[i]
            k += len(rs)
            base = float(np.median(sims))
            turns[i]["human_baseline"] = round(base, 4)
            turns[i]["as_close_as_human"] = turns[i]["similarity"] >= base


def summarise(turns: list[dict]) -> dict[str, Any]:
    """Counts, rates and means over ``turns`` (the keys every breakdown shares)."""
    n = len(turns)
    out: dict[str, Any] = {"turns": n}
    for outcome in ("answered", "abstained", "handed_off"):
        out[outcome] = sum(t["outcome"] == outcome for t in turns)
        out[f"{outcome}_rate"] = round(out[outcome] / n, 4) if n else None
    for key in ("similarity", "chrf", "rouge_l", "groundedness"):
        out[f"{key}_mean"] = metrics.mean([t.get(key) for t in turns])
    answered = [t for t in turns if t["outcome"] == "answered"]
    out["similarity_answered_mean"] = metrics.mean([t["similarity"] for t in answered])
    labelled = [t for t in turns if t.get("as_close_as_human") is not None]
    out["human_baseline_turns"] = len(labelled)
    out["human_baseline_mean"] = metrics.mean([t["human_baseline"] for t in labelled])
    out["as_close_as_human_rate"] = round(sum(t["as_close_as_human"] for t in labelled) / len(labelled), 4) \
        if labelled else None
    scored = [t for t in turns if t.get("intent") and t.get("predicted_intent")]
    out["intent_accuracy"] = round(sum(t["intent"] == t["predicted_intent"] for t in scored) / len(scored), 4) \
        if scored else None
    latencies = [t["ms"] for t in turns]
    out["latency_p50_ms"] = metrics.percentile(latencies, 50)
    out["latency_p95_ms"] = metrics.percentile(latencies, 95)
    out["judge"] = None
    return out


def _group(turns: list[dict], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict]] = {}
    for t in turns:
        if t.get(key):
            groups.setdefault(str(t[key]), []).append(t)
    return {name: summarise(ts) for name, ts in sorted(groups.items())}


def compare(result: dict[str, Any], baseline: dict[str, Any], path: str,
            tolerance: dict[str, float] | None = None) -> dict[str, Any]:
    """Deltas against an earlier result and the regressions beyond ``tolerance`` (absolute drops)."""
    tolerance = tolerance or TOLERANCE
    old, new = baseline.get("summary", {}), result["summary"]
    deltas, regressions = {}, []
    for key, tol in tolerance.items():
        if old.get(key) is None or new.get(key) is None:
            continue
        delta = round(new[key] - old[key], 4)
        deltas[key] = delta
        if delta < -tol:
            regressions.append(f"{key} fell {-delta:.4f} ({old[key]} -> {new[key]}), tolerance {tol}")
    return {"path": path, "tolerance": tolerance, "deltas": deltas, "regressions": regressions}
