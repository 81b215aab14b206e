"""Every supported format, written by the test itself, through ``kefu.ingest.loaders.load``."""
from __future__ import annotations

from pathlib import Path

import pytest

from kefu.errors import IngestError
from kefu.ingest import loaders
from kefu.ingest.loaders.base import LoadOptions
from tests import helpers

ZH_FAQ = [("怎么退货？", "签收后7天内可以申请无理由退货。", "退货;售后"),
          ("运费谁出？", "质量问题运费由我们承担。", "运费")]


def load(path: Path, options: LoadOptions | None = None):
    return loaders.load(path, path.read_bytes(), options)


def qa_pairs(loaded) -> list[tuple[str, str]]:
    return [(q.question, q.answer) for q in loaded.qas]


def test_supported_extensions():
    for ext in (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".csv", ".tsv", ".xlsx",
                ".jsonl", ".json", ".CSV", ".Md"):
        assert loaders.supported(Path("x" + ext))
    for ext in (".doc", ".xls", ".png", ".zip", ""):
        assert not loaders.supported(Path("x" + ext))


def test_unsupported_extension_is_a_clear_error(tmp_path):
    path = helpers.write(tmp_path / "notes.rtf", "{\\rtf1 hello}")
    with pytest.raises(IngestError, match=r"notes\.rtf.*unsupported file type '\.rtf'.*\.csv"):
        load(path)


# -- tables --------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_faq_csv_encodings(tmp_path, encoding):
    path = helpers.faq_csv(tmp_path / "faq.csv", ZH_FAQ, header=("问题", "答案", "分类"), encoding=encoding)
    loaded = load(path)
    assert loaded.kind == "faq"
    assert qa_pairs(loaded) == [(q, a) for q, a, _ in ZH_FAQ]
    assert loaded.qas[0].tags == ["退货", "售后"]
    assert loaded.qas[0].meta["line"] == 2


def test_gb18030_only_characters(tmp_path):
    """Characters outside GBK (here U+4DAE 䶮 and U+20BB7 𠮷) survive a GB18030 file."""
    rows = [("䶮和𠮷怎么读？", "这是两个生僻字，详见字典，我们不提供读音服务。", "")]
    path = helpers.faq_csv(tmp_path / "faq.csv", rows, encoding="gb18030")
    assert qa_pairs(load(path)) == [(rows[0][0], rows[0][1])]


def test_tsv_and_semicolon_csv(tmp_path):
    rows = [("How do I return an item?", "Within 30 days; start in My Orders, then print the label.", "a;b")]
    tsv = load(helpers.faq_csv(tmp_path / "faq.tsv", rows, delimiter="\t"))
    assert qa_pairs(tsv) == [(rows[0][0], rows[0][1])]
    assert tsv.qas[0].tags == ["a", "b"]
    semi = load(helpers.faq_csv(tmp_path / "faq.csv", rows, delimiter=";"))
    assert qa_pairs(semi) == [(rows[0][0], rows[0][1])]


def test_csv_quoted_fields_with_commas_and_newlines(tmp_path):
    rows = [("Which cards, exactly?", "Visa, Mastercard and\nUnionPay.", "pay")]
    loaded = load(helpers.faq_csv(tmp_path / "faq.csv", rows))
    assert qa_pairs(loaded) == [("Which cards, exactly?", "Visa, Mastercard and\nUnionPay.")]


def test_csv_header_names_are_matched_case_and_space_insensitively(tmp_path):
    path = helpers.write(tmp_path / "faq.csv", " Question , ANSWER ,Category\nQ one?,A one.,x\n")
    loaded = load(path)
    assert qa_pairs(loaded) == [("Q one?", "A one.")]
    assert loaded.qas[0].tags == ["x"]


def test_csv_rows_with_empty_question_or_answer_are_warned_and_skipped(tmp_path):
    path = helpers.write(tmp_path / "faq.csv", "question,answer\nQ1?,A1.\n,orphan answer\nQ3?,\n\nQ4?,A4.\n")
    loaded = load(path)
    assert qa_pairs(loaded) == [("Q1?", "A1."), ("Q4?", "A4.")]
    assert len(loaded.warnings) == 2
    assert any("faq.csv:3" in w and "empty question" in w for w in loaded.warnings)
    assert any("faq.csv:4" in w and "empty answer" in w for w in loaded.warnings)


def test_column_mapping_options(tmp_path):
    path = helpers.write(tmp_path / "kb.csv", helpers.csv_text([
        ["编号", "用户提问", "标准回复", "类目", "question"],
        ["1", "发票怎么开？", "下单后在订单详情页申请电子发票。", "发票；售后", "ignored"],
    ]))
    loaded = load(path, LoadOptions(question_col="用户提问", answer_col="标准回复", tags_col="类目"))
    assert qa_pairs(loaded) == [("发票怎么开？", "下单后在订单详情页申请电子发票。")]
    assert loaded.qas[0].tags == ["发票", "售后"]
    assert loaded.qas[0].meta["编号"] == "1"


def test_column_mapping_needs_both_columns(tmp_path):
    path = helpers.write(tmp_path / "kb.csv", "ask,resp\nQ?,A.\n")
    with pytest.raises(IngestError, match=r"kb\.csv.*--question-col and --answer-col"):
        load(path, LoadOptions(question_col="ask"))
    loaded = load(path, LoadOptions(question_col="ASK", answer_col="resp"))
    assert qa_pairs(loaded) == [("Q?", "A.")]


def test_catalogue_csv_becomes_rows(tmp_path):
    path = helpers.write(tmp_path / "products.csv", helpers.csv_text([
        ["sku", "name", "price_cny", "colors"],
        ["NV-X1", "Nova X1 Pro", "3999", "Black;Silver"],
        ["NV-B2", "Nova Buds Pro", "699", ""],
    ]))
    loaded = load(path)
    assert loaded.kind == "table"
    assert loaded.rows == [
        {"sku": "NV-X1", "name": "Nova X1 Pro", "price_cny": "3999", "colors": "Black;Silver"},
        {"sku": "NV-B2", "name": "Nova Buds Pro", "price_cny": "699"}]


def test_xlsx_faq_and_sheet_option(tmp_path):
    path = helpers.make_xlsx(tmp_path / "faq.xlsx", {
        "Products": [["sku", "name"], ["NV-X1", "Nova X1 Pro"]],
        "FAQ": [["问题", "答案", "标签"], ["怎么退货？", "7天无理由退货。", "退货"], [None, None, None],
                ["保修多久？", 12, None]],
    })
    first = load(path)
    assert first.kind == "table" and first.rows == [{"sku": "NV-X1", "name": "Nova X1 Pro"}]
    faq = load(path, LoadOptions(sheet="FAQ"))
    assert faq.kind == "faq"
    assert qa_pairs(faq) == [("怎么退货？", "7天无理由退货。"), ("保修多久？", "12")]
    assert faq.qas[0].tags == ["退货"]
    assert faq.qas[1].meta["line"] == 4
    with pytest.raises(IngestError, match="no sheet 'Nope'.*Products, FAQ"):
        load(path, LoadOptions(sheet="Nope"))


def test_xlsx_column_mapping(tmp_path):
    path = helpers.make_xlsx(tmp_path / "kb.xlsx",
                             {"S": [["Ask", "Reply"], ["Can I pay later?", "Yes, Pay in 4."]]})
    loaded = load(path, LoadOptions(question_col="Ask", answer_col="Reply"))
    assert qa_pairs(loaded) == [("Can I pay later?", "Yes, Pay in 4.")]


def test_jsonl_faq(tmp_path):
    path = helpers.jsonl(tmp_path / "faq.jsonl", [
        {"question": "How long is the warranty?", "answer": "12 months.", "category": "warranty"},
        {"q": "ignored because the file uses question/answer", "a": "x"},
        {"question": "退货运费谁出？", "answer": "质量问题由我们承担。", "category": "退货"},
    ])
    loaded = load(path)
    assert loaded.kind == "faq"
    assert qa_pairs(loaded) == [("How long is the warranty?", "12 months."),
                                ("退货运费谁出？", "质量问题由我们承担。")]
    assert loaded.qas[1].meta["line"] == 3
    assert [q.tags for q in loaded.qas] == [["warranty"], ["退货"]]


def test_jsonl_faq_tags_as_a_list(tmp_path):
    """In JSON, tags are naturally an array: each element is one tag."""
    path = helpers.jsonl(tmp_path / "faq.jsonl", [
        {"question": "How long is the warranty?", "answer": "12 months.", "tags": ["warranty", "X1 Pro"]},
    ])
    assert load(path).qas[0].tags == ["warranty", "X1 Pro"]


def test_json_array_faq(tmp_path):
    path = helpers.write(tmp_path / "faq.json",
                         '[{"问题": "能开发票吗？", "答案": "可以，支持电子发票。"},'
                         ' {"问题": "包邮吗", "答案": "满99元包邮。"}]')
    assert qa_pairs(load(path)) == [("能开发票吗？", "可以，支持电子发票。"), ("包邮吗", "满99元包邮。")]


def test_chatlog_jsonl(tmp_path):
    path = helpers.jsonl(tmp_path / "chats.jsonl", [
        helpers.chat("c1", ("system", "客服小李已接入"), ("customer", "怎么退货？"),
                     ("agent", "签收后7天内申请退货。")),
        {"id": "c2", "channel": "web", "messages": [{"speaker": "User", "content": "Where is my order?"},
                                                    {"speaker": "Staff", "content": "It ships today."}]},
    ])
    loaded = load(path)
    assert loaded.kind == "chatlog"
    assert [c.id for c in loaded.conversations] == ["c1", "c2"]
    assert loaded.conversations[0].turns == [("system", "客服小李已接入"), ("customer", "怎么退货？"),
                                             ("agent", "签收后7天内申请退货。")]
    assert loaded.conversations[1].turns == [("customer", "Where is my order?"), ("agent", "It ships today.")]
    assert loaded.conversations[1].meta == {"id": "c2", "channel": "web"}
    assert loaded.warnings == []


def test_chatlog_csv(tmp_path):
    path = helpers.write(tmp_path / "chats.csv", helpers.csv_text([
        ["conversation_id", "role", "text", "time"],
        ["c1", "客户", "发票怎么开？", "10:00"],
        ["c2", "user", "Do you ship to Canada?", "10:01"],
        ["c1", "客服", "在订单详情页申请电子发票。", "10:02"],
        ["c2", "agent", "Yes, in 7-15 business days.", "10:03"],
    ]))
    loaded = load(path)
    assert loaded.kind == "chatlog"
    assert {c.id: c.turns for c in loaded.conversations} == {
        "c1": [("customer", "发票怎么开？"), ("agent", "在订单详情页申请电子发票。")],
        "c2": [("customer", "Do you ship to Canada?"), ("agent", "Yes, in 7-15 business days.")],
    }


def test_chatlog_unknown_roles_are_warnings(tmp_path):
    path = helpers.jsonl(tmp_path / "chats.jsonl", [
        helpers.chat("c1", ("customer", "怎么退货？"), ("robot-overlord", "zzz"),
                     ("agent", "7天内可以退货。")),
    ])
    loaded = load(path)
    assert loaded.conversations[0].turns == [("customer", "怎么退货？"), ("agent", "7天内可以退货。")]
    assert loaded.warnings == [f"{path}:1: skipped turn with unknown role 'robot-overlord'"]


# -- documents ---------------------------------------------------------------------------------
def test_markdown(tmp_path):
    text = "# 退货政策\n\n签收后7天内可以退货。\n\n## 退款\n\n- 支付宝 1-3 天\n- 银行卡 3-7 天\n"
    loaded = load(helpers.write(tmp_path / "returns.zh.md", text))
    assert loaded.kind == "document"
    assert loaded.title == "退货政策"
    assert loaded.text == text


def test_markdown_without_heading_uses_file_name(tmp_path):
    assert load(helpers.write(tmp_path / "notes.md", "just text")).title == "notes"


def test_plain_text(tmp_path):
    loaded = load(helpers.write(tmp_path / "privacy.en.txt",
                                "\n\nPrivacy notice\n\nWe keep chats for 2 years.\n"))
    assert loaded.kind == "document"
    assert loaded.title == "Privacy notice"
    assert "We keep chats for 2 years." in loaded.text


def test_plain_text_long_first_line_title_falls_back_to_file_name(tmp_path):
    loaded = load(helpers.write(tmp_path / "privacy.txt", "x" * 200 + "\n\nmore"))
    assert loaded.title == "privacy"


HTML = """<!doctype html>
<html><head><title>Shipping | NovaTech</title><style>.x{color:red}</style>
<script>var tracking = "SECRET_SCRIPT_TEXT";</script></head>
<body>
<header><a href="/">NovaTech Store HEADER_TEXT</a></header>
<nav class="top-nav"><ul><li>Home NAV_TEXT</li><li>Shop</li></ul></nav>
<div id="cookie-banner">We use cookies COOKIE_TEXT. <button>Accept</button></div>
<div class="sidebar">Related links SIDEBAR_TEXT</div>
<main>
  <h1>Shipping policy</h1>
  <p>Orders placed before 16:00 ship the <b>same day</b>.</p>
  <h2>Delivery times</h2>
  <ul><li>Standard: 7-15 business days</li><li>Express: 3-6 business days</li></ul>
  <table><tr><th>Method</th><th>Fee</th></tr><tr><td>Standard</td><td>$6.99</td></tr></table>
</main>
<footer>© 2026 NovaTech FOOTER_TEXT</footer>
<noscript>NOSCRIPT_TEXT</noscript>
</body></html>"""


def test_html_keeps_content_and_removes_boilerplate(tmp_path):
    loaded = load(helpers.write(tmp_path / "shipping.en.html", HTML))
    assert loaded.kind == "document"
    assert loaded.title == "Shipping policy"
    text = loaded.text
    for gone in ("SECRET_SCRIPT_TEXT", "HEADER_TEXT", "NAV_TEXT", "COOKIE_TEXT", "SIDEBAR_TEXT",
                 "FOOTER_TEXT", "NOSCRIPT_TEXT", "color:red", "Accept"):
        assert gone not in text
    assert "# Shipping policy" in text
    assert "## Delivery times" in text
    assert "same day" in text and "Orders placed before 16:00" in text
    assert "- Standard: 7-15 business days\n- Express: 3-6 business days" in text
    assert "| Method | Fee |\n| Standard | $6.99 |" in text


def test_html_without_main_uses_body(tmp_path):
    html = ("<html><body><nav>MENU</nav><h2>配送说明</h2><p>顺丰快递1-2天送达。</p>"
            "<div class='footer-links'>FOOT</div></body></html>")
    loaded = load(helpers.write(tmp_path / "ship.html", html))
    assert "顺丰快递1-2天送达。" in loaded.text
    assert "MENU" not in loaded.text and "FOOT" not in loaded.text
    assert loaded.title == "ship"


def test_html_gbk_encoded(tmp_path):
    html = "<html><body><main><h1>退货</h1><p>七天无理由退货。</p></main></body></html>"
    loaded = load(helpers.write(tmp_path / "r.html", html, encoding="gbk"))
    assert loaded.title == "退货" and "七天无理由退货。" in loaded.text


def test_pdf(tmp_path):
    path = helpers.make_pdf(tmp_path / "warranty.en.pdf", [
        "Warranty policy",
        "All products carry a 12-month warranty from the date of delivery.",
        "Pro models such as the X1 Pro carry a 24-month warranty.",
    ], title="NovaTech Warranty")
    loaded = load(path)
    assert loaded.kind == "document"
    assert loaded.title == "NovaTech Warranty"
    assert "12-month warranty" in loaded.text
    assert "24-month warranty" in " ".join(loaded.text.split())


def test_pdf_without_metadata_title_uses_first_line(tmp_path):
    path = helpers.make_pdf(tmp_path / "w.pdf", ["Repairs", "Repairs take 5-7 business days."])
    assert load(path).title == "Repairs"


def test_pdf_encrypted_with_empty_user_password_opens(tmp_path):
    plain = helpers.make_pdf(tmp_path / "plain.pdf", ["Repairs take 5-7 business days."])
    locked = helpers.encrypt_pdf(plain, tmp_path / "locked.pdf", user_password="")
    assert "5-7 business days" in load(locked).text


def test_docx_headings_lists_and_table(tmp_path):
    path = helpers.make_docx(
        tmp_path / "payment.en.docx", "Payment methods",
        [("Cards", ["We accept Visa and Mastercard."]),
         ("Installments", ["Pay in 4 for orders $30-$1,500."])],
        table=[["Method", "Fee"], ["PayPal", "none"]],
        bullets=["Alipay", "WeChat Pay"],
    )
    loaded = load(path)
    assert loaded.kind == "document"
    assert loaded.title == "Payment methods"
    text = loaded.text
    assert text.startswith("# Payment methods")
    assert "## Cards\n\nWe accept Visa and Mastercard." in text
    assert "## Installments" in text
    assert "- Alipay\n- WeChat Pay" in text
    assert "| Method | Fee |\n| PayPal | none |" in text


def test_docx_chinese(tmp_path):
    path = helpers.make_docx(tmp_path / "payment.zh.docx", "支付方式",
                             [("分期付款", ["订单满1000元可享3期、6期免息。"])])
    loaded = load(path)
    assert loaded.title == "支付方式"
    assert "## 分期付款" in loaded.text and "订单满1000元可享3期、6期免息。" in loaded.text
