"""Bad input: a clear message naming the file (and line), the rest still ingests, nothing half-written.

Each case is checked three ways: through ``Ingestor.ingest`` next to a good file, as a previously good
file that turned bad (its old chunks must survive), and through the CLI (exit status 1, failure in
the summary).
"""
from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from kefu.cli import main
from kefu.ingest.loaders.base import LoadOptions
from kefu.ingest.pipeline import Ingestor
from tests import helpers

GOOD_MD = "# Returns policy\n\nYou can return any item within 30 days of delivery.\n"


def random_bytes(n: int = 4000, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(1, 256) for _ in range(n))  # no NUL: not caught by the NUL check


def scratch(path: Path, name: str) -> Path:
    """A path for an intermediate file outside the folder being ingested."""
    folder = path.parent.parent / "scratch"
    folder.mkdir(exist_ok=True)
    return folder / f"{path.stem}.{name}"


def truncated_pdf(path: Path) -> bytes:
    pdf = helpers.make_pdf(scratch(path, "full.pdf"),
                           [f"Paragraph {i}: the warranty covers manufacturing defects." for i in range(20)])
    data = pdf.read_bytes()
    return data[: len(data) // 2]


def encrypted_pdf(path: Path) -> bytes:
    plain = helpers.make_pdf(scratch(path, "plain.pdf"), ["Secret pricing for partners."])
    return helpers.encrypt_pdf(plain, scratch(path, "locked.pdf"), user_password="s3cret").read_bytes()


def blank_pdf(path: Path) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    return bytes(pdf.output())


def chat_without_agent(path: Path) -> bytes:
    conv = helpers.chat("c1", ("customer", "Where is my parcel?"), ("customer", "Hello??"))
    return (json.dumps(conv) + "\n").encode()


GOOD: dict[str, Callable[[Path], bytes]] = {
    ".txt": lambda p: b"Returns are accepted within 30 days.\n",
    ".csv": lambda p: b"question,answer\nCan I return an item?,Yes within 30 days of delivery.\n",
    ".jsonl": lambda p: (json.dumps({"question": "Can I return it?", "answer": "Yes, within 30 days."})
                         + "\n").encode(),
    ".pdf": lambda p: helpers.make_pdf(scratch(p, "good.pdf"),
                                       ["Repairs take 5-7 business days."]).read_bytes(),
    ".docx": lambda p: helpers.make_docx(scratch(p, "good.docx"), "Payment",
                                         [("Cards", ["We accept Visa."])]).read_bytes(),
    ".xlsx": lambda p: helpers.make_xlsx(scratch(p, "good.xlsx"),
                                         {"S": [["question", "answer"], ["Q?", "An answer."]]}).read_bytes(),
}


@dataclass
class Case:
    name: str
    make: Callable[[Path], bytes]
    fragments: list[str]
    line: int | None = None
    options: LoadOptions = field(default_factory=LoadOptions)
    settings: dict = field(default_factory=dict)
    cli_args: list[str] = field(default_factory=list)


CASES = [
    Case("empty.txt", lambda p: b"", ["file is empty"]),
    Case("blank.csv", lambda p: b"  \n\n", ["file is empty"]),
    Case("empty.pdf", lambda p: b"", ["PDF"]),
    Case("empty.docx", lambda p: b"", ["DOCX"]),
    Case("empty.xlsx", lambda p: b"", ["XLSX"]),
    Case("binary.txt", lambda p: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, ["binary"]),
    Case("binary.csv", lambda p: random_bytes(), ["decode"]),
    Case("random.txt", lambda p: random_bytes(seed=9), ["decode"]),
    Case("utf16-broken.txt", lambda p: b"\xff\xfe" + "退货".encode("utf-16-le") + b"\x00\xd8", ["utf-16"]),
    Case("faq.csv", lambda p: b"question,answer\nQ?,A.\n", ["question column 'foo'", "question, answer"],
         options=LoadOptions(question_col="foo"), cli_args=["--question-col", "foo"]),
    Case("header-only.csv", lambda p: b"question,answer\n", ["no rows"]),
    Case("ragged.csv", lambda p: b"question,answer\nQ1?,A1.\nQ2?,A2.,extra,more\n",
         ["4 fields", "header has 2"], line=3),
    Case("bad.jsonl", lambda p: b'{"question": "Q1?", "answer": "A1."}\n\n{"question": "Q2?", "answer": \n',
         ["invalid JSON"], line=3),
    Case("list.jsonl", lambda p: b'{"question": "Q1?", "answer": "A1."}\n[1, 2]\n', ["JSON object"], line=2),
    Case("bad.json", lambda p: b'[{"question": "Q1?",\n "answer": }]', ["invalid JSON"], line=2),
    Case("corrupt.pdf", truncated_pdf, ["not a readable PDF"]),
    Case("locked.pdf", encrypted_pdf, ["encrypted", "password"]),
    Case("scanned.pdf", blank_pdf, ["no extractable text"]),
    Case("corrupt.docx", lambda p: b"PK\x03\x04" + random_bytes(500), ["DOCX"]),
    Case("corrupt.xlsx", lambda p: b"PK\x03\x04" + random_bytes(500), ["XLSX"]),
    Case("not-really.docx", lambda p: helpers.make_xlsx(scratch(p, "x.xlsx"),
                                                        {"S": [["a"], ["b"]]}).read_bytes(), ["DOCX"]),
    Case("big.txt", lambda p: b"Returns are accepted within 30 days.\n" * 600, ["max_file_mb"],
         settings={"max_file_mb": 0.01}),
    Case("no-agent.jsonl", chat_without_agent, ["no question", "agent"]),
]
IDS = [c.name for c in CASES]


def message_names_file(error: str, case: Case) -> None:
    assert case.name in error, error
    for fragment in case.fragments:
        assert fragment.lower() in error.lower(), error
    if case.line is not None:
        assert f"{case.name}:{case.line}:" in error, error


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    helpers.write(root / "good.md", GOOD_MD)
    return root


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_file_is_reported_and_others_still_ingest(case, folder, store, embedder):
    bad = folder / case.name
    helpers.write(bad, case.make(bad))
    ingestor = Ingestor(store, embedder, **case.settings)
    report = ingestor.ingest([folder], tenant="acme", options=case.options)
    results = {Path(f.path).name: f for f in report.files}
    assert results["good.md"].status == "ingested"
    failed = results[case.name]
    assert failed.status == "failed"
    assert failed.chunks == 0
    message_names_file(failed.error, case)
    assert report.totals()["failed"] == 1
    assert store.get_document("acme", f"kb/{case.name}") is None
    assert store.count_chunks("acme") == results["good.md"].chunks
    assert [(s["source"], s["documents"]) for s in store.list_sources("acme")] == [("kb", 1)]


GOOD_THEN_BAD = [c for c in CASES if Path(c.name).suffix in GOOD and c.options == LoadOptions()]


@pytest.mark.parametrize("case", GOOD_THEN_BAD, ids=[c.name for c in GOOD_THEN_BAD])
def test_file_that_turns_bad_keeps_its_previous_chunks(case, folder, store, embedder):
    path = folder / case.name
    helpers.write(path, GOOD[path.suffix](path))
    Ingestor(store, embedder).ingest([folder], tenant="acme")
    before_doc = store.get_document("acme", f"kb/{case.name}")
    assert before_doc is not None
    before = (store.count_chunks("acme"), store.list_sources("acme")[0]["chunks"])
    helpers.write(path, case.make(path))
    report = Ingestor(store, embedder, **case.settings).ingest([folder], tenant="acme", options=case.options)
    result = next(f for f in report.files if Path(f.path).name == case.name)
    assert result.status == "failed"
    message_names_file(result.error, case)
    after_doc = store.get_document("acme", f"kb/{case.name}")
    assert after_doc is not None and after_doc.content_hash == before_doc.content_hash
    assert (store.count_chunks("acme"), store.list_sources("acme")[0]["chunks"]) == before


def test_size_message_shows_the_real_size_and_limit(folder, store, embedder):
    """A 21 kB file over a 0.01 MB limit: not 'file is 0.0 MB … limit of 0.00999928 MB'."""
    path = helpers.write(folder / "big.txt", b"Returns are accepted within 30 days.\n" * 600)
    report = Ingestor(store, embedder, max_file_mb=0.01).ingest([path], tenant="acme")
    error = report.files[0].error
    size, unit = re.search(r"file is ([\d.]+) ?([kKM]B)", error).groups()
    assert (float(size) * 1024 if unit == "MB" else float(size)) > 10.24, error
    assert "limit of 0.01 MB" in error, error


def test_missing_path_is_reported(folder, store, embedder, tmp_path):
    missing = tmp_path / "does-not-exist"
    report = Ingestor(store, embedder).ingest([missing, folder], tenant="acme")
    results = {Path(f.path).name: f for f in report.files}
    assert results["does-not-exist"].status == "failed"
    assert "does-not-exist" in results["does-not-exist"].error
    assert "no such file" in results["does-not-exist"].error
    assert results["good.md"].status == "ingested"


def test_unknown_roles_are_warnings_not_failures(folder, store, embedder):
    helpers.jsonl(folder / "chats.jsonl", [
        helpers.chat("c1", ("customer", "Can I pay with PayPal?"), ("moderator", "flagged"),
                     ("agent", "Yes, PayPal is accepted at checkout.")),
        helpers.chat("c2", ("customer", "Do you ship to Japan?"), ("cat", "meow"),
                     ("agent", "Yes, standard shipping to Japan takes 7-15 business days.")),
    ])
    report = Ingestor(store, embedder).ingest([folder], tenant="acme")
    result = next(f for f in report.files if f.path.endswith("chats.jsonl"))
    assert result.status == "ingested" and result.chunks == 2
    assert len(result.warnings) == 2
    assert "chats.jsonl:1" in result.warnings[0] and "'moderator'" in result.warnings[0]
    assert "chats.jsonl:2" in result.warnings[1] and "'cat'" in result.warnings[1]


def test_only_unknown_roles_is_a_failure(folder, store, embedder):
    helpers.jsonl(folder / "chats.jsonl", [helpers.chat("c1", ("bot", "hi"), ("alien", "zzz"))])
    report = Ingestor(store, embedder).ingest([folder], tenant="acme")
    result = next(f for f in report.files if f.path.endswith("chats.jsonl"))
    assert result.status == "failed" and "chats.jsonl" in result.error


def test_unsupported_files_are_listed_and_skipped(folder, store, embedder):
    helpers.write(folder / "logo.png", b"\x89PNG\r\n\x1a\n")
    helpers.write(folder / "old.doc", b"\xd0\xcf\x11\xe0")
    helpers.write(folder / "Makefile", "all:\n")
    report = Ingestor(store, embedder).ingest([folder], tenant="acme")
    assert [Path(f.path).name for f in report.files] == ["good.md"]
    assert sorted(Path(p).name for p in report.skipped_unsupported) == ["Makefile", "logo.png", "old.doc"]


def test_unsupported_file_given_by_name_is_a_failure(tmp_path, store, embedder):
    path = helpers.write(tmp_path / "slides.pptx", b"PK\x03\x04")
    report = Ingestor(store, embedder).ingest([path], tenant="acme")
    assert report.files[0].status == "failed"
    assert "slides.pptx" in report.files[0].error and "unsupported" in report.files[0].error


def test_html_with_only_navigation(folder, store, embedder):
    helpers.write(folder / "nav.html",
                  "<html><body><nav>Home | Shop</nav><footer>© 2026</footer></body></html>")
    report = Ingestor(store, embedder).ingest([folder], tenant="acme")
    results = {Path(f.path).name: f for f in report.files}
    assert results["good.md"].status == "ingested"
    assert results["nav.html"].status == "failed"
    assert "nav.html" in results["nav.html"].error and "no text" in results["nav.html"].error


@pytest.mark.parametrize("text", [
    "Politique de retour : très simple. Vous avez trente jours. Merci beaucoup, à bientôt !",
    "Café au lait, s'il vous plaît. Très bien.",
    "Crème brûlée est délicieuse. Où est la gare?",
])
def test_latin1_text_is_decoded_correctly_or_rejected(folder, store, embedder, text):
    """Never silently stored as mojibake: either real Latin-1 text or a clear failure."""
    helpers.write(folder / "retour.txt", text, encoding="latin-1")
    report = Ingestor(store, embedder).ingest([folder], tenant="acme")
    result = next(f for f in report.files if f.path.endswith("retour.txt"))
    if result.status == "failed":
        assert "retour.txt" in result.error
    else:
        stored = store.get_chunks("acme", [h.chunk.id for h in store.vector_search(
            "acme", embedder.embed_queries(["x"])[0], 10)])
        assert text in [c.text for c in stored], [c.text for c in stored]


@pytest.mark.slow
def test_real_100_mb_file_is_refused_without_reading_it(tmp_path, store, embedder):
    path = tmp_path / "huge.csv"
    block = b"question,answer\n" + b"Q?,A long answer that repeats to fill the file.\n" * 20000
    with path.open("wb") as fh:
        while fh.tell() < 100 * 1024 * 1024:
            fh.write(block)
        fh.truncate(100 * 1024 * 1024)
    assert path.stat().st_size == 100 * 1024 * 1024
    report = Ingestor(store, embedder).ingest([path], tenant="acme")
    error = report.files[0].error
    assert report.files[0].status == "failed"
    assert "huge.csv" in error and "max_file_mb" in error and "50 MB" in error
    assert "100.0 MB" in error or "100 MB" in error
    assert store.count_chunks("acme") == 0


# -- through the CLI -----------------------------------------------------------------------------
def run_cli(home: Path, *args: str):
    runner = CliRunner()
    return runner.invoke(main, ["--home", str(home), *args], env={"COLUMNS": "1000"},
                         catch_exceptions=False)


CLI_CASES = [c for c in CASES if c.name in ("empty.txt", "binary.csv", "faq.csv", "bad.jsonl", "corrupt.pdf",
                                             "locked.pdf", "big.txt", "no-agent.jsonl")]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_cli_exit_status_and_summary(case, folder, tmp_path):
    bad = folder / case.name
    helpers.write(bad, case.make(bad))
    sets = [a for k, v in case.settings.items() for a in ("-s", f"{k}={v}")]
    home = tmp_path / "home"
    result = run_cli(home, *sets, "ingest", str(folder), *case.cli_args)
    assert result.exit_code == 1, result.output
    output = result.output
    assert "ingest summary" in output
    summary = re.search(r"│\s*(\d+)\s*│\s*(\d+)\s*│\s*(\d+)\s*│\s*(\d+)\s*│", output)
    assert summary and summary.groups() == ("2", "1", "0", "1"), output  # files, ingested, unchanged, failed
    error_lines = [line for line in output.splitlines() if line.startswith("✗")]
    assert len(error_lines) == 1
    message_names_file(error_lines[0], case)

    as_json = run_cli(home, *sets, "ingest", str(folder), *case.cli_args, "--json")
    assert as_json.exit_code == 1
    body = json.loads(as_json.stdout)
    assert body["totals"]["failed"] == 1 and body["totals"]["unchanged"] == 1
    failed = [f for f in body["files"] if f["status"] == "failed"]
    assert len(failed) == 1
    message_names_file(failed[0]["error"], case)


def test_cli_missing_path(tmp_path):
    result = run_cli(tmp_path / "home", "ingest", str(tmp_path / "nope.csv"))
    assert result.exit_code == 1
    assert "nope.csv" in result.output and "no such file" in result.output


def test_cli_folder_with_only_unsupported_files(tmp_path):
    helpers.write(tmp_path / "kb" / "logo.png", b"\x89PNG")
    result = run_cli(tmp_path / "home", "ingest", str(tmp_path / "kb"))
    assert result.exit_code == 1
    assert "skipped 1 file(s) of unsupported types" in result.output
    assert "no files to ingest" in result.output


def test_cli_all_good_exits_zero(folder, tmp_path):
    result = run_cli(tmp_path / "home", "ingest", str(folder))
    assert result.exit_code == 0, result.output
    assert "ingest summary" in result.output and "✗" not in result.output


def test_cli_dedup_threshold_at_its_maximum(folder, tmp_path):
    """Every value the settings table accepts must work: dedup_threshold may be up to 1.0."""
    for value in ("0.97", "1.0"):
        result = CliRunner().invoke(main, ["--home", str(tmp_path / "home"), "-s", f"dedup_threshold={value}",
                                           "ingest", str(folder)], env={"COLUMNS": "1000"})
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.exit_code == 0, result.output


def test_no_stray_files_left_next_to_inputs(folder, tmp_path, store, embedder):
    before = sorted(os.listdir(folder))
    Ingestor(store, embedder).ingest([folder], tenant="acme")
    assert sorted(os.listdir(folder)) == before
