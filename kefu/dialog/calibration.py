"""Calibrated confidence: logistic regression (Platt scaling) over retrieval features.

The coefficients live in ``calibration.json`` next to this module, fitted by
``benchmarks/calibrate.py`` on labelled questions (right source retrieved or not),
with the data, sample size and held-out calibration error recorded there.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FEATURES = ("cosine", "overlap", "margin", "uncovered")
PATH = Path(__file__).with_name("calibration.json")


@dataclass(frozen=True)
class Calibration:
    """Per chunk-kind group (``question`` for FAQ/Q&A, ``passage`` otherwise): weights and bias."""

    weights: dict[str, dict[str, float]]
    bias: dict[str, float]

    def confidence(self, group: str, features: dict[str, float]) -> float:
        z = self.bias[group] + sum(self.weights[group].get(f, 0.0) * features.get(f, 0.0)
                                   for f in FEATURES)
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def to_dict(self) -> dict:
        return {"weights": self.weights, "bias": self.bias}


@lru_cache(maxsize=1)
def default_calibration() -> Calibration:
    data = json.loads(PATH.read_text(encoding="utf-8"))
    return Calibration(weights=data["weights"], bias=data["bias"])
