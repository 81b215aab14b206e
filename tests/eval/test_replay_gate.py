"""CI gate: replay the demo chat logs and fail when the bot got worse than the committed baseline.

Refresh the baseline on purpose (after an improvement, or a deliberate trade-off) with:

    kefu --home /tmp/replay eval replay examples/demo-kb/chatlogs/chats.jsonl \\
        --knowledge examples/demo-kb/faq --knowledge examples/demo-kb/policies --json /tmp/r.json
    python -c "import json; r = json.load(open('/tmp/r.json')); json.dump({k: r[k] for k in \\
        ('kind', 'created', 'command', 'data', 'summary', 'by_language')}, \\
        open('tests/eval/data/replay-demo-baseline.json', 'w'), ensure_ascii=False, indent=1)"
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kefu.config import Config
from kefu.eval.replay import ReplayOptions, compare, replay
from tests.helpers import DEMO_KB

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not DEMO_KB.is_dir(), reason=f"demo knowledge base not found at {DEMO_KB}")]
BASELINE = Path(__file__).parent / "data" / "replay-demo-baseline.json"


def test_demo_replay_is_not_worse_than_the_baseline(tmp_path, embedder):
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    opts = ReplayOptions(holdout=baseline["data"]["holdout"], seed=baseline["data"]["seed"],
                         knowledge=[DEMO_KB / "faq", DEMO_KB / "policies"])
    result = replay(Config.load(home=tmp_path / "home", env={}), DEMO_KB / "chatlogs" / "chats.jsonl", opts,
                    embedder=embedder)
    assert result["data"]["turns"] == baseline["data"]["turns"]
    verdict = compare(result, baseline, str(BASELINE))
    assert not verdict["regressions"], verdict
