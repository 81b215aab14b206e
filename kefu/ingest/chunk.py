"""Chunking that respects headings, lists, tables and sentence ends (zh + en)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from kefu.nlp.text import split_sentences

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*$")
_LIST_ITEM = re.compile(r"^\s*(?:(?:[-*+•]|\d{1,3}[.)])\s+|•\s*|\d{1,3}、\s*"
                        r"|[（(]?[一二三四五六七八九十]+[)）、]\s*)")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_ZH_END = tuple("。！？；，")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


@dataclass
class Block:
    kind: str  # heading | paragraph | list | table
    text: str
    level: int = 0


@dataclass
class TextChunk:
    text: str
    heading: str
    position: int


def parse_blocks(text: str) -> list[Block]:
    """Split Markdown-like text into headings, paragraphs, lists and tables."""
    blocks: list[Block] = []
    current: list[str] = []
    kind = "paragraph"

    def close() -> None:
        nonlocal current, kind
        if current:
            body = "\n".join(current).strip()
            if body:
                blocks.append(Block(kind, body))
        current, kind = [], "paragraph"

    for line in text.splitlines():
        stripped = line.strip()
        heading = _HEADING.match(stripped)
        if heading:
            close()
            blocks.append(Block("heading", heading.group(2).strip(), len(heading.group(1))))
            continue
        if not stripped:
            close()
            continue
        line_kind = ("table" if _TABLE_ROW.match(stripped) else
                     "list" if _LIST_ITEM.match(stripped) else "paragraph")
        if line_kind == "table" and _TABLE_RULE.match(stripped):
            continue
        if line_kind != kind and current and not (kind == "list" and line_kind == "paragraph"
                                                  and line.startswith((" ", "\t"))):
            close()
        if not current:
            kind = line_kind
        current.append(stripped)
    close()
    return blocks


def _split_long(block: Block, limit: int) -> list[str]:
    """Pieces of one oversize block: tables by rows (header repeated), lists by items, text by sentences."""
    if block.kind == "table":
        rows = block.text.splitlines()
        header, body = rows[0], rows[1:]
        return _pack([header + "\n" + r for r in body] if body else rows, limit, join="\n",
                     strip_prefix=header + "\n")
    if block.kind == "list":
        return _pack(block.text.splitlines(), limit, join="\n")
    return _pack(split_sentences(block.text), limit, join=" ")


def _pack(pieces: list[str], limit: int, join: str, strip_prefix: str = "") -> list[str]:
    out: list[str] = []
    current = ""
    for piece in pieces:
        if strip_prefix and current:
            piece = piece[len(strip_prefix):] if piece.startswith(strip_prefix) else piece
        glue = "" if join == " " and current.endswith(_ZH_END) else join
        candidate = f"{current}{glue}{piece}" if current else piece
        if current and len(candidate) > limit:
            out.append(current)
            current = piece if not strip_prefix or piece.startswith(strip_prefix) else strip_prefix + piece
        else:
            current = candidate
    if current:
        out.append(current)
    return [piece for part in out for piece in _hard_wrap(part, limit * 2)]


def _hard_wrap(text: str, limit: int) -> list[str]:
    """Last resort for a run with no sentence breaks at all."""
    if len(text) <= limit:
        return [text]
    return [text[i:i + limit] for i in range(0, len(text), limit)]


def chunk_text(text: str, limit: int = 600) -> list[TextChunk]:
    """Chunks of at most about ``limit`` characters; each knows the heading path above it."""
    chunks: list[TextChunk] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []
    size = 0

    def heading() -> str:
        return " > ".join(title for _, title in path)

    def flush() -> None:
        nonlocal buffer, size
        if buffer:
            chunks.append(TextChunk("\n\n".join(buffer), heading(), len(chunks)))
        buffer, size = [], 0

    for block in parse_blocks(text):
        if block.kind == "heading":
            flush()
            path = [(lvl, t) for lvl, t in path if lvl < block.level] + [(block.level, block.text)]
            continue
        pieces = [block.text] if len(block.text) <= limit else _split_long(block, limit)
        for piece in pieces:
            if buffer and size + len(piece) > limit:
                flush()
            buffer.append(piece)
            size += len(piece) + 2
    flush()
    return chunks
