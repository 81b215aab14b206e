"""What every kind of intent model shares: the prediction type and the protocol the dialogue engine needs,
the out-of-scope label, the saved artifact's format and model card, and how a message is clipped before it is
classified."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kefu.errors import InputError, NotFoundError
from kefu.nlp.text import normalize

OOS = "oos"
FORMAT = "kefu-intent/1"
FORMAT_VIEW = "kefu-intent/2"  # models with a second embedder's head: kefu before it refuses them, by name
FORMAT_TUNED = "kefu-intent/3"  # models with tuned encoder layers (numbered arrays): the same, for kefu before them
FORMAT_SCORED = "kefu-intent/4"  # models with a learned out-of-scope score (its threshold is on that score)
MAX_CHARS = 1000  # longer messages are classified on their first MAX_CHARS characters


@dataclass
class IntentPrediction:
    """One message's intent: ``label`` is ``"oos"`` when out of scope; ``top`` has the 3 best intents."""

    label: str
    confidence: float
    oos: bool
    top: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "oos": self.oos,
            "top": [[lab, round(p, 4)] for lab, p in self.top],
        }


@runtime_checkable
class IntentClassifier(Protocol):
    """What the dialogue engine needs from an intent model."""

    labels: list[str]
    card: dict[str, Any]

    def predict(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> list[IntentPrediction]: ...


def _clip(texts: Sequence[str]) -> list[str]:
    return [normalize(t[: MAX_CHARS * 2])[:MAX_CHARS] if t else "" for t in texts]


def _prediction(labels: list[str], row: np.ndarray, threshold: float, score: float | None = None) -> IntentPrediction:
    """``score``: a learned out-of-scope score the threshold applies to instead of the top probability."""
    order = np.argsort(-row)[:3]
    top = [(labels[i], float(row[i])) for i in order]
    label, conf = top[0]
    oos = label == OOS or (conf if score is None else score) < threshold
    return IntentPrediction(OOS if oos else label, conf, oos, top)


def _read_card(folder: Path) -> dict[str, Any]:
    path = folder / "card.json"
    if not path.is_file():
        raise NotFoundError(f"{folder}: not an intent model (no card.json)")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable model card: {exc}") from None
    formats = (FORMAT, FORMAT_VIEW, FORMAT_TUNED, FORMAT_SCORED)
    if card.get("format") not in formats:
        raise InputError(f"{path}: unsupported model format {card.get('format')!r} "
                         f"(expected one of {', '.join(map(repr, formats))})")
    return card


def _write_card(folder: Path, card: dict[str, Any]) -> Path:
    """Write ``card`` beside the model's arrays; returns ``folder``."""
    (folder / "card.json").write_text(json.dumps(card, ensure_ascii=False, indent=2), encoding="utf-8")
    return folder
