"""Small file makers shared by the tests: every test writes its own data under ``tmp_path``."""
from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEMO_KB = Path(__file__).resolve().parents[1] / "examples" / "demo-kb"

# A small bilingual FAQ used by many tests (no answer mentions another question's topic).
FAQ_ROWS: list[tuple[str, str, str]] = [
    ("How do I return an item?",
     "You can return any item within 30 days of delivery. Start the return from My Orders.", "returns"),
    ("如何退货？", "签收后7天内可以在“我的订单”中申请无理由退货。", "退货"),
    ("How long does shipping take?",
     "Standard shipping takes 7-15 business days; express shipping takes 3-6 business days.", "shipping"),
    ("配送需要几天？", "顺丰快递一般1-2天送达，偏远地区4-7天。", "配送"),
    ("How long is the warranty on the X1 Pro?",
     "The X1 Pro has a 24-month warranty that covers manufacturing defects.", "warranty"),
    ("可以分期付款吗？", "支持3期、6期免息分期，订单满1000元可用。", "支付"),
]


def write(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    """Write ``content`` to ``path`` (creating folders) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode(encoding))
    return path


def csv_text(rows: list[list[Any]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue()


def faq_csv(path: Path, rows: list[tuple[str, str, str]] | None = None,
            header: tuple[str, str, str] = ("question", "answer", "tags"), encoding: str = "utf-8",
            delimiter: str = ",") -> Path:
    rows = FAQ_ROWS if rows is None else rows
    return write(path, csv_text([list(header), *map(list, rows)], delimiter), encoding)


def jsonl(path: Path, objects: list[dict[str, Any]]) -> Path:
    return write(path, "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects))


def chat(conv_id: str, *turns: tuple[str, str]) -> dict[str, Any]:
    return {"id": conv_id, "turns": [{"role": r, "text": t} for r, t in turns]}


def make_pdf(path: Path, paragraphs: list[str], title: str | None = None) -> Path:
    """A real text PDF written with fpdf2 (Latin-1 core font, so English text only)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    if title:
        pdf.set_title(title)
    for para in paragraphs:
        pdf.multi_cell(0, 7, para, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    return write(path, bytes(pdf.output()))


def encrypt_pdf(source: Path, target: Path, user_password: str, owner_password: str = "owner") -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(source))
    writer.encrypt(user_password, owner_password)
    buf = io.BytesIO()
    writer.write(buf)
    return write(target, buf.getvalue())


def make_docx(path: Path, title: str, sections: list[tuple[str, list[str]]],
              table: list[list[str]] | None = None, bullets: list[str] | None = None) -> Path:
    """A real DOCX written with python-docx: Heading 1 title, Heading 2 sections, a table, bullets."""
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    for heading, paragraphs in sections:
        document.add_heading(heading, level=2)
        for para in paragraphs:
            document.add_paragraph(para)
    for item in bullets or []:
        document.add_paragraph(item, style="List Bullet")
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    buf = io.BytesIO()
    document.save(buf)
    return write(path, buf.getvalue())


def make_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """A real XLSX written with openpyxl; the first sheet in ``sheets`` is the active one."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return write(path, buf.getvalue())


SHIPPING_ZH_MD = """# 配送说明

我们使用顺丰快递发货。每天16:00前付款的订单当天发出。偏远地区需要四到七天。

## 运费

订单满99元包邮，不满99元收取10元运费。金卡会员始终包邮。
"""

WARRANTY_EN_MD = """# Warranty

All products carry a 12-month warranty from delivery. Repairs take 5-7 business days. Water damage is not \
covered by the warranty.

## Nova Care+

Nova Care+ extends the warranty by one year and covers accidental damage such as cracked screens.
"""


def bilingual_kb(root: Path) -> Path:
    """The FAQ (zh + en) plus a Chinese-only shipping page and an English-only warranty page."""
    faq_csv(root / "faq.csv")
    write(root / "shipping.zh.md", SHIPPING_ZH_MD)
    write(root / "warranty.en.md", WARRANTY_EN_MD)
    return root


@contextmanager
def loopback_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (random port) running ``handler`` on a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wait_for(check, seconds: float = 60.0) -> bool:
    """Poll ``check()`` until it is true or ``seconds`` pass; its last value (for work done on other threads)."""
    import time

    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(check())
