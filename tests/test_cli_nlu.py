"""`kefu train intent`, `kefu eval intent`, `kefu nlu` end to end (real models, tiny data)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kefu.cli import main as kefu_main
from kefu.cli_nlu import register

ROWS = [
    ("I want a refund", "refund"),
    ("please refund my order", "refund"),
    ("我要退款", "refund"),
    ("退款什么时候到账", "refund"),
    ("how do I get my money back", "refund"),
    ("where is my package", "shipping"),
    ("track my delivery", "shipping"),
    ("快递到哪了", "shipping"),
    ("什么时候发货", "shipping"),
    ("has my order shipped", "shipping"),
    ("I forgot my password", "password"),
    ("reset my password", "password"),
    ("忘记密码了", "password"),
    ("登录不了账号", "password"),
    ("can't sign in", "password"),
    ("tell me a joke", "chitchat"),
    ("讲个笑话", "chitchat"),
    ("what's the weather", "chitchat"),
]


@pytest.fixture(scope="module")
def main() -> click.Group:
    if "nlu" not in kefu_main.commands:
        register(kefu_main)
    return kefu_main


@pytest.fixture(scope="module")
def home(tmp_path_factory, main) -> Path:
    home = tmp_path_factory.mktemp("home")
    data = home / "train.csv"
    data.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in ROWS), encoding="utf-8")
    result = CliRunner().invoke(
        main,
        [
            "--home",
            str(home),
            "train",
            "intent",
            str(data),
            "--oos-label",
            "chitchat",
            "--json",
            "--tenant",
            "acme",
        ],
    )
    assert result.exit_code == 0, result.output
    card = json.loads(result.output.strip().splitlines()[-1])
    assert card["labels"] == ["oos", "password", "refund", "shipping"] and card["version"] == "v0001"
    assert (home / "models" / "acme" / "intent" / "v0001" / "card.json").is_file()
    return home


def run(main, home, *args, input=None):
    return CliRunner().invoke(main, ["--home", str(home), "--tenant", "acme", *args], input=input)


def test_eval_intent_json(main, home):
    test = home / "test.csv"
    test.write_text(
        "text,label\nrefund me please,refund\n包裹到哪里了,shipping\npassword reset,password\n"
        "sing a song,chitchat\n",
        encoding="utf-8",
    )
    result = run(main, home, "eval", "intent", str(test), "--oos-label", "chitchat", "--json")
    assert result.exit_code == 0, result.output
    m = json.loads(result.output)
    assert set(m) >= {"accuracy", "macro_f1", "oos_recall", "oos_precision", "per_intent", "confused"}
    assert m["n"] == 4 and 0 <= m["accuracy"] <= 1
    table = run(main, home, "eval", "intent", str(test), "--oos-label", "chitchat")
    assert table.exit_code == 0 and "macro-F1" in table.output and "per intent" in table.output


def test_nlu_text_and_batch(main, home, tmp_path):
    result = run(main, home, "nlu", "我的订单NT2026030112345怎么还没发货？", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["intent"] in ("shipping", "oos") and body["entities"][0]["type"] == "ORDER_NUMBER"
    batch = tmp_path / "msgs.txt"
    batch.write_text("reset my password\n😡😡😡\n\nrefund 退款 $35\n", encoding="utf-8")
    result = run(main, home, "nlu", "--batch", str(batch), "--json", "--no-ner")
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.output.strip().splitlines()]
    assert len(lines) == 4
    for obj in lines:
        assert {"intent", "confidence", "sentiment", "emotion", "entities"} <= set(obj)
        assert {"label", "score"} == set(obj["sentiment"])
    assert lines[1]["emotion"] == "anger"
    pretty = run(main, home, "nlu", "refund please")
    assert pretty.exit_code == 0 and "intent" in pretty.output and "sentiment" in pretty.output


def test_nlu_catalogue_products(main, home, tmp_path):
    cat = tmp_path / "products.csv"
    cat.write_text("sku,name,name_zh\nNT-X1P,Nova X1 Pro Headphones,诺瓦X1 Pro耳机\n", encoding="utf-8")
    result = run(main, home, "nlu", "does the X1 Pro have ANC?", "--catalogue", str(cat), "--json")
    assert result.exit_code == 0, result.output
    assert [e["value"] for e in json.loads(result.output)["entities"] if e["type"] == "PRODUCT"] == [
        "Nova X1 Pro Headphones"
    ]


@pytest.mark.parametrize(
    "content, args, message",
    [
        ("text,label\na,x\nb,x\nc,x\n", [], "at least 2 intents"),
        ("text,label\na,x\nb,y\n", ["--label-col", "topic"], "'topic' is not in the file"),
        (None, [], "not UTF-8"),
        ("text,label\n,x\n  ,y\n", [], "no usable rows"),
    ],
)
def test_train_bad_input_is_a_clear_error(main, tmp_path, content, args, message):
    path = tmp_path / "bad.csv"
    if content is None:
        path.write_bytes("text,label\n退款,退款\n发货,物流\n".encode("gbk"))
    else:
        path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(main, ["--home", str(tmp_path), "train", "intent", str(path), *args])
    assert result.exit_code == 2
    text = " ".join(result.output.split())  # rich wraps long lines
    assert message in text and "bad.csv" in result.output.replace("\n", "")


def test_nlu_needs_text_and_non_utf8_batch(main, home, tmp_path):
    assert run(main, home, "nlu").exit_code == 2
    bad = tmp_path / "bad.txt"
    bad.write_bytes("你好".encode("gbk"))
    result = run(main, home, "nlu", "--batch", str(bad), "--json")
    assert result.exit_code == 2 and "not UTF-8" in " ".join(result.output.split())


def test_train_tune_layers_flags(main, tmp_path):
    pytest.importorskip("torch", reason="the bilstm extra (torch==2.13.0 CPU) is not installed")
    path = tmp_path / "train.csv"
    path.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in ROWS), encoding="utf-8")
    base = ["--home", str(tmp_path), "train", "intent", str(path), "--json"]
    small = CliRunner().invoke(main, base)  # no tuning unless asked
    assert small.exit_code == 0, small.output
    assert json.loads(small.output.strip().splitlines()[-1])["tuned_layers"] is False
    tuned = CliRunner().invoke(main, [*base, "--tune-layers", "2"])
    assert tuned.exit_code == 0, tuned.output
    card = json.loads(tuned.output.strip().splitlines()[-1])
    assert card["tuned_layers"]["epochs"] == 3 and card["tuned_layers"]["layers"] == 2
    assert card["fusion"]["kind"] == "geometric"
    one = CliRunner().invoke(main, [*base, "--tune-layer"])  # the older flag: one layer
    assert one.exit_code == 0, one.output
    assert json.loads(one.output.strip().splitlines()[-1])["tuned_layers"]["layers"] == 1
    wrong = CliRunner().invoke(main, [*base, "--model", "bilstm", "--tune-layers", "2"])
    assert wrong.exit_code == 2 and "--tune-layers applies to --model ensemble" in wrong.output
    for bad in (["--tune-layers", "13"], ["--tune-layers", "-1"], ["--tune-layers", "two"],
                ["--tune-layers", "4", "--tune-layer"], ["--tune-epochs", "2"]):
        refused = CliRunner().invoke(main, [*base, *bad])
        assert refused.exit_code == 2 and "tune-layer" in refused.output, bad


def test_train_second_embedder_flag(main, tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in ROWS), encoding="utf-8")
    base = ["--home", str(tmp_path), "train", "intent", str(path), "--json"]
    default = CliRunner().invoke(main, base)
    assert default.exit_code == 0, default.output
    assert json.loads(default.output.strip().splitlines()[-1])["second_embedder"]["name"] == "use"
    without = CliRunner().invoke(main, [*base, "--second-embedder", "none"])
    assert without.exit_code == 0, without.output
    assert json.loads(without.output.strip().splitlines()[-1])["second_embedder"] is None
    bogus = CliRunner().invoke(main, [*base, "--second-embedder", "nosuch'; DROP TABLE x;--"])
    assert bogus.exit_code != 0 and "unknown second embedder" in " ".join(bogus.output.split())
    wrong = CliRunner().invoke(main, [*base, "--model", "bilstm", "--second-embedder", "use"])
    assert wrong.exit_code == 2 and "--second-embedder applies to --model ensemble" in wrong.output
    versions = sorted(p.name for p in (tmp_path / "models").rglob("v0*"))
    assert versions == ["v0001", "v0002"]  # the refused runs saved nothing


def test_train_oos_recall_flag(main, tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in ROWS), encoding="utf-8")
    base = ["--home", str(tmp_path), "train", "intent", str(path), "--json", "--second-embedder", "none"]
    done = CliRunner().invoke(main, [*base, "--oos-label", "chitchat", "--oos-recall", "1"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output.strip().splitlines()[-1])["oos"]["rule"] == "validation OOS recall >= 1.0"
    no_oos = CliRunner().invoke(main, [*base, "--oos-recall", "0.8"])  # chitchat is then an ordinary intent
    assert no_oos.exit_code != 0 and "out-of-scope examples in the training data" in " ".join(no_oos.output.split())
    for bad in ("0", "1.5", "most"):
        refused = CliRunner().invoke(main, [*base, "--oos-label", "chitchat", "--oos-recall", bad])
        assert refused.exit_code == 2 and "--oos-recall" in refused.output, bad
    assert len(list((tmp_path / "models").rglob("card.json"))) == 1  # the refusals saved nothing


def test_train_oos_score_flag(main, tmp_path):
    from tests.nlp.test_oos_score import VAL_IN, VAL_OOS

    path, val = tmp_path / "train.csv", tmp_path / "val.csv"
    path.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in ROWS), encoding="utf-8")
    val_rows = [(t + end, lab) for lab in ("refund", "shipping", "password") for t in VAL_IN[lab]
                for end in ("", " please")]
    val_rows += [(t, "chitchat") for t in VAL_OOS]
    val.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in val_rows), encoding="utf-8")
    base = ["--home", str(tmp_path), "train", "intent", str(path), "--oos-label", "chitchat",
            "--second-embedder", "none"]
    learned = CliRunner().invoke(main, [*base, "--val", str(val)])  # auto: 22 out-of-scope validation rows
    assert learned.exit_code == 0, learned.output
    assert "(on the learned score)" in " ".join(learned.output.split())
    done = CliRunner().invoke(main, [*base, "--val", str(val), "--oos-score", "probability", "--json"])
    assert json.loads(done.output.strip().splitlines()[-1])["oos"]["score"] == "max probability"
    few = CliRunner().invoke(main, [*base, "--oos-score", "learned"])  # 15 % of 3 chitchat rows held out
    assert few.exit_code != 0 and "needs at least 20 out-of-scope" in " ".join(few.output.split())
    for bad in ("best", "'; DROP TABLE x;--"):
        refused = CliRunner().invoke(main, [*base, "--oos-score", bad])
        assert refused.exit_code == 2 and "--oos-score" in refused.output, bad
    wrong = CliRunner().invoke(main, [*base[:-2], "--model", "bilstm", "--oos-score", "learned"])
    assert wrong.exit_code == 2 and "--oos-score applies to --model ensemble" in wrong.output
    assert len(list((tmp_path / "models").rglob("card.json"))) == 2  # the refusals saved nothing
