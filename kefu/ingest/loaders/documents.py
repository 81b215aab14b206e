"""Documents → Markdown-like text: Markdown, plain text, HTML (boilerplate removed), PDF, DOCX."""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from kefu.errors import IngestError
from kefu.ingest.loaders.base import Loaded, LoadOptions, decode

_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.M)
_BOILERPLATE_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form",
                     "iframe", "svg", "button", "template")
_BOILERPLATE_HINT = re.compile(r"(^|[-_ ])(nav|navbar|menu|footer|sidebar|breadcrumbs?|cookie|"
                               r"banner|advert|ads|share|social|subscribe|popup|modal)([-_ ]|$)", re.I)


def _title_from_markdown(text: str, path: Path) -> str:
    m = _HEADING.search(text)
    return m.group(1).strip() if m else path.stem


def load_markdown(path: Path, data: bytes, options: LoadOptions) -> Loaded:
    text = decode(data, str(path))
    return Loaded("document", _title_from_markdown(text, path), text=text)


def load_text(path: Path, data: bytes, options: LoadOptions) -> Loaded:
    text = decode(data, str(path))
    first = next((line.strip() for line in text.splitlines() if line.strip()), path.stem)
    return Loaded("document", first[:80] if len(first) <= 80 else path.stem, text=text)


def load_html(path: Path, data: bytes, options: LoadOptions) -> Loaded:
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    tree = HTMLParser(decode(data, str(path)))
    title_node = tree.css_first("title")
    for tag in _BOILERPLATE_TAGS:
        for node in tree.css(tag):
            node.decompose()
    for node in tree.css("[class], [id], [role]"):
        marker = " ".join(filter(None, (node.attributes.get("class"), node.attributes.get("id"),
                                        node.attributes.get("role"))))
        if _BOILERPLATE_HINT.search(marker) and node.tag not in ("html", "body", "main", "article"):
            node.decompose()
    root = tree.css_first("main") or tree.css_first("article") or tree.body
    if root is None:
        raise IngestError("HTML has no body content", path=str(path))
    text = _html_to_markdown(root).strip()
    if not text:
        raise IngestError("HTML has no text after removing navigation and boilerplate", path=str(path))
    h1 = tree.css_first("h1")
    title = (h1.text(strip=True) if h1 else "") or (title_node.text(strip=True) if title_node else "")
    return Loaded("document", title or path.stem, text=text)


def _html_to_markdown(node) -> str:
    out: list[str] = []
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            text = child.text(deep=False).strip()
            if text:
                out.append(text + " ")
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            out.append(f"\n\n{'#' * int(tag[1])} {child.text(strip=True)}\n\n")
        elif tag in ("ul", "ol"):
            items = [li.text(separator=" ", strip=True) for li in child.css("li")]
            out.append("\n\n" + "\n".join(f"- {i}" for i in items if i) + "\n\n")
        elif tag == "table":
            rows = []
            for tr in child.css("tr"):
                cells = [c.text(separator=" ", strip=True) for c in tr.css("th, td")]
                rows.append("| " + " | ".join(cells) + " |")
            out.append("\n\n" + "\n".join(rows) + "\n\n")
        elif tag in ("p", "div", "section", "blockquote", "pre", "dl"):
            inner = _html_to_markdown(child).strip()
            if inner:
                out.append(f"\n\n{inner}\n\n")
        elif tag == "br":
            out.append("\n")
        else:
            inner = _html_to_markdown(child).strip()
            if inner:
                out.append(inner + " ")
    return re.sub(r"\n{3,}", "\n\n", "".join(out))


def load_pdf(path: Path, data: bytes, options: LoadOptions) -> Loaded:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception as exc:  # pypdf raises several types for unsupported crypto
                raise IngestError(f"PDF is encrypted and cannot be opened: {exc}", path=str(path)) from None
            if not ok:
                raise IngestError("PDF is encrypted with a password; remove the password and retry",
                                  path=str(path))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise IngestError(f"not a readable PDF (corrupt or truncated): {exc}", path=str(path)) from None
    text = "\n\n".join(unwrap_lines(p) for p in pages if p)
    if not text.strip():
        raise IngestError("PDF has no extractable text (scanned images need OCR first)", path=str(path))
    first = next((line.strip() for line in text.splitlines() if line.strip()), path.stem)
    return Loaded("document", meta_title.strip() or first[:80], text=text)


_CJK_CHAR = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"
_CJK_WRAP = re.compile(rf"(?<={_CJK_CHAR})\n(?={_CJK_CHAR}|[A-Za-z0-9])|(?<=[A-Za-z0-9])\n(?={_CJK_CHAR})")
_EN_WRAP = re.compile(r"(?<=[a-z,;])\n(?=[a-z(])")


def unwrap_lines(text: str) -> str:
    """Rejoin lines a PDF wrapped mid-sentence (``订\n单号`` → ``订单号``)."""
    lines = text.split("\n")
    # Only lines that run to (nearly) the full width were wrapped; short ones are headings.
    full = 0.7 * max((len(line) for line in lines), default=0)
    out = [lines[0]] if lines else []
    for n, line in enumerate(lines[1:], 1):
        prev = out[-1]
        seam = prev[-1:] + "\n" + line[:1]
        if (prev and line and len(lines[n - 1]) >= full
                and not prev.rstrip().endswith(tuple("。！？；：:.!?"))
                and not line.lstrip().startswith(("•", "-", "*"))
                and (_CJK_WRAP.search(seam) or _EN_WRAP.search(seam))):
            cjk = re.match(_CJK_CHAR, line[0]) or re.match(_CJK_CHAR, prev[-1])
            out[-1] = prev + ("" if cjk else " ") + line
        else:
            out.append(line)
    return "\n".join(out)


def load_docx(path: Path, data: bytes, options: LoadOptions) -> Loaded:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as exc:
        raise IngestError(f"not a readable DOCX file (corrupt, or not Word 2007+): {exc}",
                          path=str(path)) from None
    parts: list[str] = []
    body = document.element.body
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for element in body.iterchildren():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = Paragraph(element, document)
            text = para.text.strip()
            if not text:
                continue
            style = (para.style.name if para.style is not None else "") or ""
            if style.startswith("Heading") and style[-1:].isdigit():
                parts.append(f"{'#' * int(style[-1])} {text}")
            elif style == "Title":
                parts.append(f"# {text}")
            elif "List" in style:
                parts.append(f"- {text}")
            else:
                parts.append(text)
        elif tag == "tbl":
            table = Table(element, document)
            rows = ["| " + " | ".join(c.text.strip() for c in row.cells) + " |" for row in table.rows]
            parts.append("\n".join(rows))
    text = "\n\n".join(parts)
    if not text.strip():
        raise IngestError("DOCX has no text", path=str(path))
    title = (document.core_properties.title or "").strip() or _title_from_markdown(text, path)
    return Loaded("document", title, text=_join_lists(text))


def _join_lists(text: str) -> str:
    """Consecutive ``- item`` paragraphs form one list block."""
    return re.sub(r"(^- .+)\n\n(?=- )", r"\1\n", text, flags=re.M)
