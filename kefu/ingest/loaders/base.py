"""What a loader returns, and reading text files whatever their encoding."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kefu.errors import IngestError

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


@dataclass
class QA:
    """A question with its answer (an FAQ row or a pair mined from a chat log)."""

    question: str
    answer: str
    tags: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Conversation:
    """A historical chat: turns of ``(role, text)`` with role customer, agent or system."""

    id: str
    turns: list[tuple[str, str]]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Loaded:
    """One file's content in one of three shapes: ``text`` (Markdown-like), ``qas``, ``rows``."""

    kind: str  # document | faq | chatlog | table
    title: str
    text: str = ""
    qas: list[QA] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class LoadOptions:
    """Column mapping for tables; ``None`` means detect."""

    question_col: str | None = None
    answer_col: str | None = None
    tags_col: str | None = None
    sheet: str | None = None


def decode(data: bytes, path: str) -> str:
    """Text from bytes: BOMs, UTF-8, then GB18030 (a superset of GBK), else a clear error.

    Binary content (NUL bytes outside a UTF-16 BOM, or undecodable bytes) is rejected.
    """
    if not data.strip():
        raise IngestError("file is empty", path=path)
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise IngestError(f"starts with a {encoding} byte-order mark but is not valid "
                                  f"{encoding}: {exc.reason} at byte {exc.start}", path=path) from None
    if b"\x00" in data[:8192]:
        raise IngestError("looks like a binary file (contains NUL bytes), not text", path=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None and _mostly_text(text):
        return text
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    if best is not None and best.encoding and _mostly_text(str(best)):
        encoding = best.encoding
        if re.match(r"(cp125|windows-125|iso8859|latin|mac_)", encoding):
            encoding = "cp1252"  # single-byte Western text: detectors often pick a sibling code page
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            pass
    raise IngestError("cannot decode as text (tried UTF-8, GB18030 and detection); "
                      "is it a binary file?", path=path)


def _mostly_text(text: str) -> bool:
    if not text:
        return False
    bad = sum(1 for c in text[:20000] if (ord(c) < 32 and c not in "\t\r\n") or 0xE000 <= ord(c) <= 0xF8FF)
    return bad / min(len(text), 20000) < 0.01


def read_text(path: Path) -> str:
    return decode(path.read_bytes(), str(path))
