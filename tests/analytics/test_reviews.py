"""Review analysis: sentiment, aspects with clause polarity, topics, trends, products, bad input."""
from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from kefu.analytics.reviews import analyze_reviews, aspects_of, month_of
from kefu.cli import main
from kefu.errors import IngestError, InputError
from kefu.nlp.sentiment import default_sentiment_model
from tests import helpers
from tests.test_cli import cli_env

ROWS = [
    ("手机", "2026-01-03", "物流很慢，等了一个星期，客服态度也很差"),
    ("手机", "2026-01-15", "屏幕很漂亮，电池续航也不错，价格实惠"),
    ("手机", "2026-02-02", "质量太差了，用了两天就坏了，要退货"),
    ("衣服", "2026-02-10", "衣服很好看，尺码合身，包装也很好"),
    ("衣服", "2026-02-20", "颜色和图片不一样，很失望"),
    ("headphones", "2026-03-01", "Great sound and fast delivery, very happy with the price"),
    ("headphones", "2026-03-05", "Terrible quality, it broke after a week and support was rude"),
    ("headphones", "not a date", "The packaging was damaged but the headphones work fine"),
] * 3


@pytest.fixture(scope="module")
def model(embedder):
    return default_sentiment_model().bind(embedder)


def write(path, rows=ROWS, encoding="utf-8"):
    return helpers.write(path, helpers.csv_text([["category", "date", "review"], *map(list, rows)]), encoding)


@pytest.mark.parametrize("text,polarity,expected", [
    ("物流很慢，但是质量很好", "positive", {"delivery": "negative", "quality": "positive"}),
    ("价格不贵，客服态度很好", "positive", {"price": "positive", "service": "positive"}),
    ("The delivery was not fast at all", "negative", {"delivery": "negative"}),
    ("Nice design, terrible battery", "neutral", {"appearance": "positive", "performance": "negative"}),
    ("没有什么特别的", "neutral", {}),
])
def test_aspects_take_polarity_from_their_own_clause(text, polarity, expected):
    assert aspects_of(text, polarity) == expected


@pytest.mark.parametrize("raw,month", [("2026-01-03", "2026-01"), ("2026/02/05 10:00:00", "2026-02"),
                                       ("2026年3月4日", "2026-03"), ("2026-04-01T08:00:00Z", "2026-04"),
                                       ("yesterday", None), ("", None)])
def test_month_of(raw, month):
    assert month_of(raw) == month


def test_full_analysis_writes_rows_summary_and_counts(tmp_path, model):
    path = write(tmp_path / "reviews.csv")
    out = tmp_path / "out"
    s = analyze_reviews(path, out_dir=out, time_col="date", product_col="category", topics=3, sentiment=model)
    assert s["reviews"] == len(ROWS) and sum(s["sentiment"]["labels"].values()) == len(ROWS)
    assert s["aspects"]["delivery"]["negative"] >= 3 and s["aspects"]["delivery"]["complaints"]
    assert s["aspects"]["quality"]["negative"] >= 3
    assert set(s["trend"]) == {"2026-01", "2026-02", "2026-03"}
    assert s["skipped"] == {"unparseable date (review kept, not in trends)": 3}
    assert set(s["products"]) == {"手机", "衣服", "headphones"} and len(s["topics"]) >= 2
    assert set(s["sentiment"]["languages"]) == {"zh", "en"}
    rows = list(csv.DictReader((out / "rows.csv").open(encoding="utf-8")))
    assert len(rows) == len(ROWS) and rows[0]["aspects"].startswith("delivery:negative")
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["reviews"] == len(ROWS)


def test_gbk_file_and_text_column_detection(tmp_path, model):
    path = write(tmp_path / "gbk.csv", ROWS[:5], encoding="gbk")
    assert analyze_reviews(path, topics=2, sentiment=model)["reviews"] == 5


def test_jsonl_and_limit(tmp_path, model):
    path = helpers.jsonl(tmp_path / "r.jsonl", [{"text": r[2]} for r in ROWS])
    assert analyze_reviews(path, topics=2, limit=4, sentiment=model)["reviews"] == 4


@pytest.mark.parametrize("content,kwargs,error,needle", [
    (b"", {}, IngestError, "empty"),
    (b"id,stars\n1,5\n", {}, IngestError, "no text column"),
    ("review\n好\n".encode(), {"text_col": "body"}, IngestError, "--text-col 'body'"),
    ("review\n好\n".encode(), {"time_col": "when"}, IngestError, "--time-col 'when'"),
    (b"review\n\n   \n", {}, InputError, "no review text"),
    (b"\x00\x01\x02binary" * 50, {}, IngestError, "binary"),
])
def test_bad_files(tmp_path, model, content, kwargs, error, needle):
    path = helpers.write(tmp_path / "bad.csv", content)
    with pytest.raises(error, match=needle):
        analyze_reviews(path, topics=2, sentiment=model, **kwargs)


def test_malformed_jsonl_line_is_named(tmp_path, model):
    path = helpers.write(tmp_path / "r.jsonl", '{"text": "好"}\n{oops\n')
    with pytest.raises(IngestError, match=r"r.jsonl:2"):
        analyze_reviews(path, topics=2, sentiment=model)


def test_cli_writes_the_report(tmp_path):
    path = write(tmp_path / "reviews.csv", ROWS[:8])
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["--home", str(tmp_path / "h"), "analyze", "reviews", str(path), "--topics", "2",
                                  "--product-col", "category", "--time-col", "date", "--out", str(out)],
                           env=cli_env())
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="chart-aspects"' in html and "<svg" in html and "http" not in html.split("<main>")[0]
    missing = CliRunner().invoke(main, ["--home", str(tmp_path / "h"), "analyze", "reviews", str(tmp_path / "no.csv")],
                                 env=cli_env())
    assert missing.exit_code == 2 and "no such file" in missing.output
