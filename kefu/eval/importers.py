"""Historical conversations for replay: kefu chat logs, the Bitext CSV and CrossWOZ JSON.

Each importer yields :class:`kefu.ingest.loaders.base.Conversation` with turns ``(role, text)``;
a turn's intent label, where the data has one, is in ``conv.meta["intents"][i]``.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

from kefu.errors import IngestError
from kefu.ingest import loaders
from kefu.ingest.loaders.base import Conversation, LoadOptions, decode

FORMATS = ("auto", "chatlog", "bitext", "crosswoz")


def load_conversations(path: str | Path, fmt: str = "auto", limit: int | None = None) -> list[Conversation]:
    """Every conversation in ``path`` (a file or a folder of chat logs)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise IngestError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", path=str(path))
    if not path.exists():
        raise IngestError("no such file or directory", path=str(path))
    if fmt == "auto":
        fmt = _detect(path)
    convs = {"bitext": _bitext, "crosswoz": _crosswoz, "chatlog": _chatlogs}[fmt](path)
    if limit is not None:
        convs = convs[:limit]
    return convs


def _detect(path: Path) -> str:
    name = path.name.lower()
    if "crosswoz" in name or name.endswith(".zip"):
        return "crosswoz"
    if path.is_file() and path.suffix.lower() == ".csv":
        head = path.read_bytes()[:4096].decode("utf-8", "replace").lower()
        if "instruction" in head and "response" in head and "intent" in head:
            return "bitext"
    return "chatlog"


def _chatlogs(path: Path) -> list[Conversation]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and loaders.supported(p))
    out: list[Conversation] = []
    for file in files:
        loaded = loaders.load(file, file.read_bytes(), LoadOptions())
        if loaded.kind != "chatlog":
            raise IngestError(f"not a chat log (read as {loaded.kind}); replay needs conversations with "
                              "customer and agent turns", path=str(file))
        out += loaded.conversations
    return out


def _bitext(path: Path) -> list[Conversation]:
    """One conversation per row: the customer's instruction, the agent's response; intent labelled."""
    text = decode(path.read_bytes(), str(path))
    reader = csv.DictReader(io.StringIO(text))
    missing = {"instruction", "response", "intent"} - set(reader.fieldnames or [])
    if missing:
        raise IngestError(f"not a Bitext CSV: missing column(s) {', '.join(sorted(missing))}", path=str(path))
    out = []
    for n, row in enumerate(reader, 2):
        q, a = (row.get("instruction") or "").strip(), (row.get("response") or "").strip()
        if q and a:
            out.append(Conversation(f"bitext-{n}", [("customer", q), ("agent", a)],
                                    {"intents": [row.get("intent") or None, None], "category": row.get("category")}))
    return out


def _crosswoz(path: Path) -> list[Conversation]:
    """CrossWOZ dialogues (usr/sys turns, Chinese); a turn's intent is its dialogue-act signature."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                name = next(n for n in z.namelist() if n.endswith(".json"))
                data = json.loads(z.read(name).decode("utf-8"))
        else:
            data = json.loads(decode(path.read_bytes(), str(path)))
    except (StopIteration, json.JSONDecodeError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise IngestError(f"not CrossWOZ JSON: {exc}", path=str(path)) from None
    if not isinstance(data, dict):
        raise IngestError("not CrossWOZ JSON: expected an object of dialogues", path=str(path))
    out = []
    for did, dialogue in data.items():
        turns, intents = [], []
        for msg in dialogue.get("messages", []) if isinstance(dialogue, dict) else []:
            role = {"usr": "customer", "sys": "agent"}.get(msg.get("role"))
            if role and isinstance(msg.get("content"), str):
                turns.append((role, msg["content"]))
                intents.append(_act_signature(msg.get("dialog_act") or []))
        if turns:
            out.append(Conversation(f"crosswoz-{did}", turns, {"intents": intents}))
    return out


def _act_signature(acts: list) -> str | None:
    """``Request-餐馆-名称+Inform-餐馆-推荐菜``: the dialogue acts without values, sorted."""
    parts = sorted({"-".join(str(x) for x in act[:3]) for act in acts if isinstance(act, list) and len(act) >= 3
                    and act[0] != "General"})
    return "+".join(parts) or None
