"""Tables → FAQ pairs, chat logs or catalogue rows: CSV/TSV, XLSX, JSONL/JSON."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from kefu.errors import IngestError
from kefu.ingest.loaders.base import QA, Conversation, Loaded, LoadOptions, decode

QUESTION_COLS = ("question", "questions", "q", "query", "instruction", "问题", "问", "标准问题")
ANSWER_COLS = ("answer", "answers", "a", "response", "reply", "答案", "回答", "答")
TAGS_COLS = ("tags", "tag", "category", "intent", "标签", "分类", "类别")
CONV_COLS = ("conversation_id", "conversation", "session_id", "dialog_id", "会话id", "会话")
ROLE_COLS = ("role", "speaker", "sender", "角色", "发送方")
TEXT_COLS = ("text", "message", "content", "utterance", "内容", "消息")
ROLES = {
    "customer": "customer", "user": "customer", "client": "customer", "visitor": "customer",
    "buyer": "customer", "客户": "customer", "用户": "customer", "顾客": "customer", "买家": "customer",
    "agent": "agent", "staff": "agent", "support": "agent", "human": "agent", "客服": "agent",
    "人工": "agent", "坐席": "agent", "assistant": "agent", "seller": "agent", "卖家": "agent",
    "system": "system", "bot": "system", "系统": "system",
}


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], path: str,
          what: str) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    if wanted is not None:
        if wanted.strip().lower() not in lowered:
            raise IngestError(f"the {what} column {wanted!r} is not in the header; columns are: "
                              f"{', '.join(columns) or '(none)'}", path=path)
        return lowered[wanted.strip().lower()]
    return next((lowered[c] for c in candidates if c in lowered), None)


def _from_records(records: list[tuple[int, dict[str, Any]]], columns: list[str], path: Path,
                  options: LoadOptions) -> Loaded:
    """Decide FAQ / chat log / catalogue from the columns and build the ``Loaded``."""
    where = str(path)
    q_col = _pick(columns, options.question_col, QUESTION_COLS, where, "question")
    a_col = _pick(columns, options.answer_col, ANSWER_COLS, where, "answer")
    if options.question_col or options.answer_col:
        if not (q_col and a_col):
            raise IngestError("both --question-col and --answer-col must name columns", path=where)
    if q_col and a_col:
        return _faq(records, q_col, a_col, _pick(columns, options.tags_col, TAGS_COLS, where, "tags"),
                    path)
    conv, role, text = (_pick(columns, None, c, where, "") for c in (CONV_COLS, ROLE_COLS, TEXT_COLS))
    if conv and role and text:
        return _chat_rows(records, conv, role, text, path)
    if not records:
        raise IngestError("table has a header but no rows", path=where)
    rows = [{k: str(v).strip() for k, v in rec.items() if v not in (None, "")} for _, rec in records]
    return Loaded("table", path.stem, rows=[r for r in rows if r])


def _faq(records, q_col: str, a_col: str, tags_col: str | None, path: Path) -> Loaded:
    loaded = Loaded("faq", path.stem)
    for line, rec in records:
        q, a = str(rec.get(q_col) or "").strip(), str(rec.get(a_col) or "").strip()
        if not q or not a:
            loaded.warnings.append(f"{path}:{line}: skipped, empty {'question' if not q else 'answer'}")
            continue
        raw_tags = rec.get(tags_col) if tags_col else None
        if isinstance(raw_tags, list):
            tags = [str(t).strip() for t in raw_tags if str(t).strip()]
        else:
            tags = [t.strip() for t in str(raw_tags or "").replace("；", ";").split(";") if t.strip()]
        extra = {k: v for k, v in rec.items() if k not in (q_col, a_col) and v not in (None, "")}
        loaded.qas.append(QA(q, a, tags, {"line": line, **{k: str(v) for k, v in extra.items()}}))
    if not loaded.qas:
        raise IngestError(f"no rows with both a question ({q_col}) and an answer ({a_col})",
                          path=str(path))
    return loaded


def _chat_rows(records, conv_col: str, role_col: str, text_col: str, path: Path) -> Loaded:
    by_id: dict[str, Conversation] = {}
    loaded = Loaded("chatlog", path.stem)
    for line, rec in records:
        cid = str(rec.get(conv_col) or "").strip()
        if not cid:
            loaded.warnings.append(f"{path}:{line}: skipped, no conversation id")
            continue
        conv = by_id.setdefault(cid, Conversation(cid, []))
        _add_turn(conv, rec.get(role_col), rec.get(text_col), f"{path}:{line}", loaded)
    loaded.conversations = list(by_id.values())
    return loaded


def _add_turn(conv: Conversation, role: Any, text: Any, where: str, loaded: Loaded) -> None:
    name = str(role or "").strip().lower()
    if name not in ROLES:
        loaded.warnings.append(f"{where}: skipped turn with unknown role {str(role)[:30]!r}")
        return
    if str(text or "").strip():
        conv.turns.append((ROLES[name], str(text).strip()))


def load_csv(path: Path, data: bytes, options: LoadOptions) -> Loaded:
    text = decode(data, str(path))
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _delimiter(text.split("\n", 1)[0])
    csv.field_size_limit(10_000_000)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
        records = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                raise IngestError(f"row has {len(row)} fields but the header has {len(header)}",
                                  path=str(path), line=reader.line_num)
            records.append((reader.line_num, dict(zip(header, row))))
    except csv.Error as exc:
        raise IngestError(f"malformed CSV: {exc}", path=str(path), line=reader.line_num) from None
    return _from_records(records, header, path, options)


def _delimiter(header: str) -> str:
    """Comma unless the header line clearly uses tabs or semicolons (cells may contain both)."""
    counts = {d: header.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] and counts[","] == 0 else ","


def load_xlsx(path: Path, data: bytes, options: LoadOptions) -> Loaded:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise IngestError(f"not a readable XLSX workbook: {exc}", path=str(path)) from None
    if options.sheet and options.sheet not in book.sheetnames:
        raise IngestError(f"no sheet {options.sheet!r}; sheets are {', '.join(book.sheetnames)}",
                          path=str(path))
    sheet = book[options.sheet] if options.sheet else book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    if not any(header):
        raise IngestError("first sheet is empty (no header row)", path=str(path))
    records = [(n, dict(zip(header, ["" if v is None else v for v in row])))
               for n, row in enumerate(rows, 2) if any(v not in (None, "") for v in row)]
    book.close()
    return _from_records(records, header, path, options)


def load_jsonl(path: Path, data: bytes, options: LoadOptions) -> Loaded:
    text = decode(data, str(path))
    items: list[tuple[int, dict]] = []
    if path.suffix.lower() == ".json":
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IngestError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from None
        parsed = parsed if isinstance(parsed, list) else [parsed]
        items = [(n, obj) for n, obj in enumerate(parsed, 1)]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise IngestError(f"invalid JSON on this line: {exc.msg} (column {exc.colno})",
                                  path=str(path), line=n) from None
    for n, obj in items:
        if not isinstance(obj, dict):
            raise IngestError(f"expected a JSON object, got {type(obj).__name__}", path=str(path), line=n)
    if items and any("turns" in obj or "messages" in obj for _, obj in items):
        return _chat_objects(items, path)
    columns = sorted({k for _, obj in items for k in obj})
    return _from_records(items, columns, path, options)


def _chat_objects(items: list[tuple[int, dict]], path: Path) -> Loaded:
    loaded = Loaded("chatlog", path.stem)
    for n, obj in items:
        turns = obj.get("turns", obj.get("messages"))
        if not isinstance(turns, list):
            raise IngestError("'turns' must be a list of {role, text} objects", path=str(path), line=n)
        conv = Conversation(str(obj.get("id", n)), [],
                            {k: v for k, v in obj.items() if k not in ("turns", "messages")})
        for turn in turns:
            if not isinstance(turn, dict):
                raise IngestError("each turn must be an object with role and text", path=str(path),
                                  line=n)
            _add_turn(conv, turn.get("role", turn.get("speaker")),
                      turn.get("text", turn.get("content")), f"{path}:{n}", loaded)
        loaded.conversations.append(conv)
    return loaded
