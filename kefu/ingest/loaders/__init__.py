"""Loaders by file extension."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kefu.errors import IngestError
from kefu.ingest.loaders.base import QA, Conversation, Loaded, LoadOptions
from kefu.ingest.loaders.documents import load_docx, load_html, load_markdown, load_pdf, load_text
from kefu.ingest.loaders.tables import load_csv, load_jsonl, load_xlsx

Loader = Callable[[Path, bytes, LoadOptions], Loaded]

LOADERS: dict[str, Loader] = {
    ".md": load_markdown, ".markdown": load_markdown, ".txt": load_text, ".text": load_text,
    ".html": load_html, ".htm": load_html, ".pdf": load_pdf, ".docx": load_docx,
    ".csv": load_csv, ".tsv": load_csv, ".xlsx": load_xlsx, ".jsonl": load_jsonl, ".json": load_jsonl,
}

__all__ = ["LOADERS", "QA", "Conversation", "LoadOptions", "Loaded", "load", "supported"]


def supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load(path: Path, data: bytes, options: LoadOptions | None = None) -> Loaded:
    """Parse ``data`` (the bytes of ``path``) with the loader for its extension."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise IngestError(f"unsupported file type {path.suffix or '(no extension)'!r}; supported: "
                          f"{', '.join(sorted(LOADERS))}", path=str(path))
    return loader(path, data, options or LoadOptions())
