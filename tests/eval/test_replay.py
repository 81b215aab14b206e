"""Replaying historical conversations: importers, splitting, scoring, baselines, bad input."""
from __future__ import annotations

import json
import zipfile

import pytest
from click.testing import CliRunner

from kefu.cli import main
from kefu.config import Config
from kefu.errors import IngestError, InputError
from kefu.eval import metrics
from kefu.eval.importers import load_conversations
from kefu.eval.replay import ReplayOptions, compare, replay
from tests import helpers
from tests.test_cli import cli_env

EN = [("customer", "How do I return an item?"), ("agent", "You can return any item within 30 days of delivery.")]
ZH = [("customer", "你好"), ("agent", "您好，请问有什么可以帮您？"), ("customer", "如何退货？"),
      ("agent", "签收后7天内可以在我的订单中申请无理由退货。"), ("customer", "谢谢"), ("agent", "不客气")]


def logs(path, n=6):
    convs = []
    for i in range(n):
        turns = EN if i % 2 else ZH
        convs.append({"id": f"c{i}", "turns": [{"role": r, "text": t} for r, t in turns]})
    return helpers.jsonl(path, convs)


@pytest.fixture
def config(tmp_path):
    return Config.load(home=tmp_path / "home", env={})


def test_replay_scores_every_held_out_turn(config, tmp_path, embedder):
    result = replay(config, logs(tmp_path / "chats.jsonl"), ReplayOptions(holdout=0.5), embedder=embedder)
    data, s = result["data"], result["summary"]
    assert data["train_conversations"] == 3 and data["heldout_conversations"] == 3
    assert s["turns"] == 3 and s["answered"] + s["abstained"] + s["handed_off"] == 3
    assert all(t["question"] in ("How do I return an item?", "你好 如何退货？") for t in result["turns"])
    for t in result["turns"]:
        assert 0 <= t["chrf"] <= 1 and 0 <= t["rouge_l"] <= 1 and -1 <= t["similarity"] <= 1
        assert t["outcome"] in ("answered", "abstained", "handed_off") and t["ms"] > 0
    answered = [t for t in result["turns"] if t["outcome"] == "answered"]
    assert answered and all(t["similarity"] > 0.9 and t["citations"] for t in answered)
    assert set(result["by_language"]) <= {"zh", "en"}
    json.dumps(result, ensure_ascii=False)  # serialisable


def test_same_seed_same_split(config, tmp_path, embedder):
    path = logs(tmp_path / "chats.jsonl", 8)
    a = replay(config, path, ReplayOptions(holdout=0.25, seed=3), embedder=embedder)
    b = replay(config, path, ReplayOptions(holdout=0.25, seed=3), embedder=embedder)
    assert [t["conversation"] for t in a["turns"]] == [t["conversation"] for t in b["turns"]]


def test_bitext_importer_and_human_baseline(config, tmp_path, embedder):
    rows = [["instruction", "response", "intent", "category"]]
    for i in range(6):
        rows.append([f"I want to cancel order {i}", f"To cancel order {i}, open My Orders and press Cancel.",
                     "cancel_order", "ORDER"])
        rows.append([f"where is my refund {i}", f"Refunds reach your card within 5-7 days ({i}).",
                     "track_refund", "REFUND"])
    path = helpers.write(tmp_path / "bitext_sample.csv", helpers.csv_text(rows))
    convs = load_conversations(path)
    assert len(convs) == 12 and convs[0].meta["intents"][0] == "cancel_order"
    result = replay(config, path, ReplayOptions(holdout=0.34), embedder=embedder)
    assert result["summary"]["human_baseline_turns"] == result["summary"]["turns"]
    assert 0 <= result["summary"]["as_close_as_human_rate"] <= 1
    assert set(result["by_intent"]) <= {"cancel_order", "track_refund"}


def test_crosswoz_importer(tmp_path):
    data = {"1": {"messages": [
        {"role": "usr", "content": "推荐一家餐馆", "dialog_act": [["Request", "餐馆", "名称", ""]]},
        {"role": "sys", "content": "推荐您去全聚德。", "dialog_act": [["Inform", "餐馆", "名称", "全聚德"]]}]}}
    path = tmp_path / "crosswoz_val.json.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("val.json", json.dumps(data, ensure_ascii=False))
    conv = load_conversations(path)[0]
    assert conv.turns == [("customer", "推荐一家餐馆"), ("agent", "推荐您去全聚德。")]
    assert conv.meta["intents"] == ["Request-餐馆-名称", "Inform-餐馆-名称"]


@pytest.mark.parametrize("holdout", [0, 1, 1.5, -0.2])
def test_bad_holdout(config, tmp_path, holdout):
    with pytest.raises(InputError, match="holdout must be between 0 and 1"):
        replay(config, logs(tmp_path / "chats.jsonl"), ReplayOptions(holdout=holdout))


def test_logs_without_agent_turns(config, tmp_path):
    path = helpers.jsonl(tmp_path / "c.jsonl", [{"id": f"c{i}", "turns": [{"role": "customer", "text": "hello?"},
                                                                          {"role": "customer", "text": "anyone?"}]}
                                                for i in range(3)])
    with pytest.raises(InputError, match="0 conversation"):
        replay(config, path)


def test_one_conversation_is_not_enough(config, tmp_path):
    with pytest.raises(InputError, match="needs at least 2"):
        replay(config, logs(tmp_path / "chats.jsonl", 1))


def test_unknown_role_and_malformed_line_are_named(config, tmp_path):
    bad = helpers.write(tmp_path / "bad.jsonl", '{"id": "a", "turns": [{"role": "customer", "text": "hi"}]}\n{oops\n')
    with pytest.raises(IngestError, match=r"bad.jsonl:2"):
        replay(config, bad)


def test_not_a_chat_log(config, tmp_path):
    with pytest.raises(IngestError, match="not a chat log"):
        load_conversations(helpers.faq_csv(tmp_path / "faq.csv"), "chatlog")
    with pytest.raises(IngestError, match="no such file"):
        load_conversations(tmp_path / "missing.jsonl")
    with pytest.raises(IngestError, match="unknown format"):
        load_conversations(tmp_path, "yaml")


def test_gbk_chat_log_replays(config, tmp_path, embedder):
    convs = [{"id": f"c{i}", "turns": [{"role": r, "text": t} for r, t in ZH]} for i in range(4)]
    text = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in convs)
    path = helpers.write(tmp_path / "gbk.jsonl", text, encoding="gbk")
    assert replay(config, path, ReplayOptions(holdout=0.5), embedder=embedder)["summary"]["turns"] == 2


def test_compare_flags_regressions_only_beyond_tolerance():
    old = {"summary": {"similarity_mean": 0.80, "answered_rate": 0.70, "chrf_mean": None}}
    new = {"summary": {"similarity_mean": 0.79, "answered_rate": 0.60, "chrf_mean": 0.3}}
    out = compare(new, old, "old.json")
    assert out["deltas"] == {"similarity_mean": -0.01, "answered_rate": -0.1}
    assert len(out["regressions"]) == 1 and out["regressions"][0].startswith("answered_rate fell 0.1")


@pytest.mark.parametrize("hyp,ref,lo,hi", [("签收后7天内退货", "签收后7天内可以退货", 0.8, 1.0),
                                           ("You can return it", "You can return any item", 0.6, 0.9),
                                           ("abc", "xyz", 0.0, 0.0), ("", "xyz", 0.0, 0.0)])
def test_rouge_l(hyp, ref, lo, hi):
    assert lo <= metrics.rouge_l(hyp, ref) <= hi


def test_cli_writes_json_and_exits_3_on_regression(tmp_path):
    path = logs(tmp_path / "chats.jsonl")
    home = tmp_path / "home"
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["--home", str(home), "eval", "replay", str(path), "--holdout", "0.5",
                                  "--json", str(out)], env=cli_env())
    assert r.exit_code == 0, r.output
    result = json.loads(out.read_text(encoding="utf-8"))
    better = {"summary": {**result["summary"], "answered_rate": 1.5}}
    base = helpers.write(tmp_path / "base.json", json.dumps(better))
    r = CliRunner().invoke(main, ["--home", str(home), "eval", "replay", str(path), "--holdout", "0.5",
                                  "--baseline", str(base)], env=cli_env())
    assert r.exit_code == 3 and "regression" in r.output
    junk = helpers.write(tmp_path / "junk.json", "[1, 2]")
    r = CliRunner().invoke(main, ["--home", str(home), "eval", "replay", str(path), "--baseline", str(junk)],
                           env=cli_env())
    assert r.exit_code == 2 and "not a kefu eval result" in r.output


def test_judge_needs_both_orders_to_agree():
    from kefu.eval.judge import judge
    from tests.llm.fakes import FakeGenerator, PrefersLonger, down

    assert judge(PrefersLonger(), "q", "a much longer bot reply", "short") == "win"
    assert judge(PrefersLonger(), "q", "short", "a much longer agent reply") == "loss"
    assert judge(FakeGenerator("A"), "q", "x", "y") == "tie"  # always "A": position bias, not a preference
    assert judge(FakeGenerator("maybe?"), "q", "x", "y") is None
    assert judge(down(), "q", "x", "y") is None


def test_replay_trains_intents_and_judges_with_a_generator(tmp_path, embedder):
    rows = [["instruction", "response", "intent", "category"]]
    for i in range(8):
        rows.append([f"I want to cancel order {i}", f"To cancel order {i}, open My Orders and press Cancel.",
                     "cancel_order", "ORDER"])
        rows.append([f"where is my refund {i}", f"Refunds reach your card within 5-7 days ({i}).",
                     "track_refund", "REFUND"])
    path = helpers.write(tmp_path / "bitext_sample.csv", helpers.csv_text(rows))
    config = Config.load(home=tmp_path / "home", env={}, overrides={"generator": "tests.llm.fakes:PrefersLonger"})
    result = replay(config, path, ReplayOptions(holdout=0.25, train_intent=True), embedder=embedder)
    s = result["summary"]
    assert result["data"]["intent_model"] == {"examples": 12, "intents": 2}
    assert s["intent_accuracy"] is not None and s["intent_accuracy"] >= 0.75
    judged = s["judge"]
    assert sum(judged.values()) == s["turns"] and judged["failed"] == 0
