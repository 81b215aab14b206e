"""Labelled training data for the intent models: reading it from CSV/TSV/JSONL/JSON files (or labelled chat
logs), checking it can train a model, and the stratified train/validation split."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kefu.errors import InputError, NotFoundError
from kefu.nlp.intent_base import OOS
from kefu.nlp.text import normalize

TEXT_COLS = (
    "text",
    "utterance",
    "query",
    "question",
    "sentence",
    "message",
    "content",
    "文本",
    "问题",
    "内容",
)
LABEL_COLS = ("label", "intent", "category", "class", "意图", "标签", "类别")


@dataclass
class TrainingData:
    """Clean (text, label) rows plus what was dropped on the way, for the report and the card."""

    texts: list[str]
    labels: list[str]
    source: str = ""
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def counts(self) -> Counter:
        return Counter(self.labels)


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        hint = "convert it to UTF-8"
        try:
            from charset_normalizer import from_bytes

            best = from_bytes(data[:200_000]).best()
            if best is not None and best.encoding not in ("utf_8", "ascii"):
                enc = best.encoding
                hint = f"it looks like {enc}; convert it to UTF-8 (e.g. iconv -f {enc} -t utf-8)"
        except ImportError:  # pragma: no cover - charset-normalizer is a core dependency
            pass
        raise InputError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})", hint=hint) from None


def _pick_col(
    columns: list[str], wanted: str | None, candidates: tuple[str, ...], where: str, what: str
) -> str:
    lowered = {c.strip().lower(): c for c in columns}
    if wanted is not None:
        if wanted.strip().lower() not in lowered:
            raise InputError(
                f"{where}: the {what} column {wanted!r} is not in the file; columns are: "
                f"{', '.join(columns) or '(none)'}"
            )
        return lowered[wanted.strip().lower()]
    for c in candidates:
        if c in lowered:
            return lowered[c]
    raise InputError(
        f"{where}: no {what} column found (looked for {', '.join(candidates[:6])}); "
        f"columns are: {', '.join(columns) or '(none)'}",
        hint=f"name it with --{what}-col",
    )


def _records(path: Path, text: str) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """(line, record) pairs and the column names of a CSV/TSV/JSONL/JSON file."""
    import csv
    import io

    where = str(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        items: list[tuple[int, Any]] = []
        if suffix == ".json" and text.lstrip()[:1] in ("[", "{"):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}:{exc.lineno}: invalid JSON: {exc.msg}") from None
            items = list(enumerate(parsed if isinstance(parsed, list) else [parsed], 1))
        else:
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        items.append((n, json.loads(line)))
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{where}:{n}: invalid JSON: {exc.msg}") from None
        for n, obj in items:
            if not isinstance(obj, dict):
                raise InputError(f"{where}:{n}: expected a JSON object, got {type(obj).__name__}")
        flat: list[tuple[int, dict[str, Any]]] = []
        for n, obj in items:  # labelled chat logs: customer turns that carry an intent
            turns = obj.get("turns", obj.get("messages"))
            if isinstance(turns, list):
                flat += [(n, t) for t in turns if isinstance(t, dict) and _is_customer(t.get("role", "user"))]
            else:
                flat.append((n, obj))
        columns = list(dict.fromkeys(k for _, obj in flat for k in obj))
        return flat, columns
    first = text.split("\n", 1)[0]
    delimiter = "\t" if suffix == ".tsv" or first.count("\t") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = [c for c in (reader.fieldnames or []) if c is not None]
    rows = []
    for rec in reader:
        if "role" in {c.lower() for c in columns}:
            role = next(v for k, v in rec.items() if k and k.lower() == "role")
            if not _is_customer(role):
                continue
        rows.append((reader.line_num, rec))
    return rows, columns


def _is_customer(role: Any) -> bool:
    return str(role or "").strip().lower() in (
        "customer",
        "user",
        "client",
        "visitor",
        "buyer",
        "客户",
        "用户",
        "顾客",
        "买家",
    )


def read_labelled(
    path: str | Path, text_col: str | None = None, label_col: str | None = None, oos_label: str | None = None
) -> TrainingData:
    """Read labelled messages from CSV/TSV/JSONL/JSON (or labelled chat logs: customer turns).

    Empty texts and exact duplicates are dropped (counted in ``dropped``); a text given two
    different labels keeps the most frequent one. Rows labelled ``oos_label`` become ``"oos"``.
    Raises :class:`InputError` naming the file and column for anything unusable.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise NotFoundError(f"{where}: no such file")
    records, columns = _records(path, _decode(path.read_bytes(), where))
    if not records:
        raise InputError(f"{where}: the file has no rows")
    t_col = _pick_col(columns, text_col, TEXT_COLS, where, "text")
    l_col = _pick_col(columns, label_col, LABEL_COLS, where, "label")
    dropped: Counter = Counter()
    first_line: dict[str, int] = {}
    by_text: dict[str, Counter] = {}
    order: list[str] = []
    for line, rec in records:
        raw_text, raw_label = rec.get(t_col), rec.get(l_col)
        if raw_text is None and text_col is None:  # JSON records may name the field differently
            raw_text = next((rec[c] for c in TEXT_COLS if rec.get(c) is not None), None)
        if raw_label is None and label_col is None:
            raw_label = next((rec[c] for c in LABEL_COLS if rec.get(c) is not None), None)
        text = normalize(str(raw_text)) if raw_text is not None else ""
        label = str(raw_label).strip() if raw_label is not None else ""
        if not text:
            dropped["empty_text"] += 1
            first_line.setdefault("empty_text", line)
            continue
        if not label:
            dropped["empty_label"] += 1
            first_line.setdefault("empty_label", line)
            continue
        if oos_label is not None and label == oos_label:
            label = OOS
        if text in by_text:
            dropped["duplicate"] += 1
            first_line.setdefault("duplicate", line)
        else:
            by_text[text] = Counter()
            order.append(text)
        by_text[text][label] += 1
    warnings = [
        f"{where}:{first_line[k]}: dropped {n} row(s) with {k.replace('_', ' ')}"
        + (" (first at this line)" if n > 1 else "")
        for k, n in dropped.items()
    ]
    conflicts = [t for t in order if len(by_text[t]) > 1]
    if conflicts:
        dropped["conflicting_label"] = len(conflicts)
        sample = conflicts[0]
        warnings.append(
            f"{where}: {len(conflicts)} text(s) appear with different labels, kept the most "
            f"frequent one, e.g. {sample[:60]!r}: {dict(by_text[sample])}"
        )
    texts = order
    labels = [by_text[t].most_common(1)[0][0] for t in texts]
    if not texts:
        raise InputError(f"{where}: no usable rows: every row has an empty {t_col!r} or {l_col!r}")
    return TrainingData(texts, labels, where, dict(dropped), warnings)


def check_trainable(data: TrainingData) -> None:
    """Raise :class:`InputError` unless the data can train a classifier (two intents at least)."""
    counts = data.counts()
    intents = [lab for lab in counts if lab != OOS]
    if len(intents) < 2:
        only = ", ".join(repr(lab) for lab in counts) or "none"
        raise InputError(
            f"{data.source or 'training data'}: needs at least 2 intents to train, found {only}",
            hint="an intent model tells intents apart: add examples of other intents",
        )
    rare = [lab for lab, n in counts.items() if n < 2]
    if rare:
        data.warnings.append(
            f"{len(rare)} intent(s) have a single example ({', '.join(rare[:5])}): "
            f"add more for reliable predictions"
        )


def stratified_split(labels: Sequence[str], fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """(train, validation) indices; every label with 2+ examples has at least one in each part."""
    by_label: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_label.setdefault(lab, []).append(i)
    rng = random.Random(seed)
    train, val = [], []
    for lab in sorted(by_label):
        idx = by_label[lab][:]
        rng.shuffle(idx)
        k = int(round(len(idx) * fraction)) if len(idx) >= 2 else 0
        k = min(max(k, 1 if len(idx) >= 2 else 0), len(idx) - 1)
        val += idx[:k]
        train += idx[k:]
    return sorted(train), sorted(val)


def check_oos_recall(oos_recall: float | None, data: TrainingData, val: TrainingData | None) -> None:
    """A clear error before training when ``oos_recall`` cannot be calibrated."""
    if oos_recall is None:
        return
    if not 0.0 < oos_recall <= 1.0:
        raise InputError(f"oos_recall must be above 0 and at most 1, not {oos_recall}")
    rows = val if val is not None else data
    needed = 1 if val is not None else 2  # without a validation file one is held out for calibration
    if list(rows.labels).count(OOS) < needed:
        where = "the validation file" if val is not None else "the training data (one is held out)"
        raise InputError(f"an out-of-scope recall needs {'an' if needed == 1 else 'at least 2'} out-of-scope "
                         f"example{'s' if needed > 1 else ''} in {where}",
                         hint="label them and pass --oos-label, or train without --oos-recall")
