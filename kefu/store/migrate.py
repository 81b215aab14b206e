"""Copy a knowledge store (and optionally a chat store) into another backend, then verify the copy.

``migrate(src, dst)`` copies every document of every tenant with its chunks (vectors included)
through the ``Store`` protocol, then reads both sides back and compares per tenant the number of
documents and chunks and a SHA-256 over their content (chunk ids, document ids and ``updated_at``
differ between stores by design and are left out). Running it again is safe: ``replace_document``
replaces a uri, it never duplicates one.

Chat data moves through the ``ChatStore`` protocol plus a few optional methods the protocol lacks
(see ``MISSING_FROM_PROTOCOLS``): listing tenants, agents and policies, and a bulk import that keeps
message ids and timestamps. ``PostgresChatStore`` has all of them; a SQLite source is read directly.
Sessions are not copied (agents sign in again).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kefu.errors import InputError, NotFoundError
from kefu.store.base import Chunk, Document, Store
from kefu.store.chats import Agent, ChatStore, Conversation, Message

KNOWN_META_KEYS = ("embedder",)
KNOWN_POLICY_NAMES = ("handoff", "generator")
BATCH = 500
MISSING_FROM_PROTOCOLS = (
    "Store.list_tenants() -> list[str]",
    "Store: a way to list a document's chunks with vectors (list_chunks takes kinds and drops vectors)",
    "Store.list_meta() -> dict[str, str]",
    "ChatStore.list_tenants() -> list[str]",
    "ChatStore.list_agents(tenant) -> list[Agent]",
    "ChatStore.list_policies(tenant) -> dict[str, dict]",
    "ChatStore: paging for list_conversations (it has a limit, no offset)",
    "ChatStore: an import that keeps conversation/message timestamps and message ids",
)


@dataclass
class TenantReport:
    tenant: str
    documents: int = 0
    chunks: int = 0
    checksum: str = ""
    dst_documents: int = 0
    dst_chunks: int = 0
    dst_checksum: str = ""

    @property
    def ok(self) -> bool:
        return (self.documents, self.chunks, self.checksum) == (self.dst_documents, self.dst_chunks,
                                                                 self.dst_checksum)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class ChatReport:
    tenants: dict[str, dict[str, Any]] = field(default_factory=dict)
    kept_ids_and_times: bool = False
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class MigrationReport:
    tenants: list[TenantReport] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    chats: ChatReport | None = None
    graph: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.problems and all(t.ok for t in self.tenants) and (self.chats is None or self.chats.ok)
                and (self.graph is None or self.graph["ok"]))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "tenants": [t.to_dict() for t in self.tenants], "meta": self.meta,
                "chats": self.chats.to_dict() if self.chats else None, "graph": self.graph,
                "problems": self.problems}


def migrate(src: Store, dst: Store, tenants: list[str] | None = None, *,
            src_chats: ChatStore | None = None, dst_chats: ChatStore | None = None,
            src_graph=None, dst_graph=None, progress=None) -> MigrationReport:
    """Copy ``tenants`` (default: every tenant of ``src``) from ``src`` into ``dst`` and verify.

    With ``src_chats`` and ``dst_chats`` the chat data of the same tenants moves too, and with
    ``src_graph`` and ``dst_graph`` their knowledge graphs (``kefu.kg.migrate``). ``progress``,
    if given, is called with a line of text per document. The report's ``ok`` says whether every
    count and checksum matched; nothing is raised for a mismatch.
    """
    if tenants is None:
        tenants = store_tenants(src)
        if src_chats is not None:
            tenants = sorted(set(tenants) | set(chat_tenants(src_chats)))
    report = MigrationReport()
    for key in KNOWN_META_KEYS:
        value = src.get_meta(key)
        if value is not None:
            dst.set_meta(key, value)
            report.meta[key] = value
    for tenant in tenants:
        report.tenants.append(_copy_tenant(src, dst, tenant, progress))
    for t in report.tenants:
        if not t.ok:
            report.problems.append(
                f"tenant {t.tenant!r}: source has {t.documents} documents / {t.chunks} chunks (checksum "
                f"{t.checksum[:12]}), destination {t.dst_documents} / {t.dst_chunks} ({t.dst_checksum[:12]})")
    if src_chats is not None and dst_chats is not None:
        report.chats = migrate_chats(src_chats, dst_chats, tenants)
    if src_graph is not None and dst_graph is not None:
        from kefu.kg.migrate import migrate_graph

        report.graph = migrate_graph(src_graph, dst_graph, tenants, progress)
    return report


# -- knowledge ------------------------------------------------------------------------------------
def store_tenants(store: Store) -> list[str]:
    """Every tenant holding a document (``list_tenants()`` where the store has it)."""
    if hasattr(store, "list_tenants"):
        return list(store.list_tenants())
    raise InputError(f"{type(store).__name__} cannot list its tenants; name them (tenants=[...])")


def _all_chunks(store: Store, tenant: str) -> dict[int, list[Chunk]]:
    """The tenant's chunks with vectors, by document id, in insertion order."""
    total = store.count_chunks(tenant)
    listed = _list_all_chunks(store, tenant, total)
    by_doc: dict[int, list[Chunk]] = {}
    ids = [c.id for c in listed]
    for i in range(0, len(ids), BATCH):
        for c in store.get_chunks(tenant, ids[i:i + BATCH]):
            by_doc.setdefault(c.doc_id, []).append(c)
    return by_doc


def _list_all_chunks(store: Store, tenant: str, total: int) -> list[Chunk]:
    return store.list_chunks(tenant, _kinds(store, tenant), limit=total + 1) if total else []


def _kinds(store: Store, tenant: str) -> list[str]:
    """Chunk kinds to list: ``CHUNK_KINDS`` plus any other kind the store can name."""
    from kefu.store.base import CHUNK_KINDS
    from kefu.store.sqlite import SQLiteStore

    kinds = set(CHUNK_KINDS)
    if hasattr(store, "chunk_kinds"):
        kinds |= set(store.chunk_kinds(tenant))
    elif isinstance(store, SQLiteStore):
        with store._lock:
            kinds |= {r[0] for r in store._db.execute("SELECT DISTINCT kind FROM chunks WHERE tenant = ?", (tenant,))}
    return sorted(kinds)


def _copy_tenant(src: Store, dst: Store, tenant: str, progress) -> TenantReport:
    docs = src.list_documents(tenant)
    by_doc = _all_chunks(src, tenant)
    for d in docs:
        chunks = [_fresh_chunk(c) for c in by_doc.get(d.id, [])]
        dst.replace_document(Document(tenant=d.tenant, source=d.source, uri=d.uri, title=d.title, kind=d.kind,
                                      content_hash=d.content_hash, lang=d.lang, meta=dict(d.meta)), chunks)
        if progress:
            progress(f"{tenant}: {d.uri} ({len(chunks)} chunks)")
    report = TenantReport(tenant)
    report.documents, report.chunks, report.checksum = fingerprint(src, tenant)
    report.dst_documents, report.dst_chunks, report.dst_checksum = fingerprint(dst, tenant)
    return report


def _fresh_chunk(c: Chunk) -> Chunk:
    return Chunk(text=c.text, title=c.title, position=c.position, lang=c.lang, kind=c.kind, question=c.question,
                 answer=c.answer, tags=list(c.tags), meta=dict(c.meta),
                 vector=None if c.vector is None else np.array(c.vector, dtype=np.float32),
                 content_hash=c.content_hash)


def fingerprint(store: Store, tenant: str) -> tuple[int, int, str]:
    """``(documents, chunks, sha256)`` of a tenant's content, independent of ids and of the backend.

    Every document in uri order with its chunks in position order; vectors as float32 bytes.
    """
    digest = hashlib.sha256()
    docs = store.list_documents(tenant)
    by_doc = _all_chunks(store, tenant)
    n_chunks = 0
    for d in sorted(docs, key=lambda d: d.uri):
        digest.update(_canon(["doc", d.source, d.uri, d.title, d.kind, d.lang, d.content_hash, d.meta]))
        chunks = sorted(by_doc.get(d.id, []), key=lambda c: (c.position, c.content_hash, c.text))
        for c in chunks:
            vector = "" if c.vector is None else np.asarray(c.vector, dtype=np.float32).tobytes().hex()
            digest.update(_canon(["chunk", c.position, c.title, c.text, c.lang, c.kind, c.question, c.answer,
                                  c.tags, c.meta, c.content_hash, vector]))
        n_chunks += len(chunks)
    counted = store.count_chunks(tenant)
    if counted != n_chunks:  # chunks the protocol could not list: make the mismatch visible
        digest.update(_canon(["unlisted", counted - n_chunks]))
    return len(docs), counted, digest.hexdigest()


def _canon(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n"


# -- chats ----------------------------------------------------------------------------------------
def chat_tenants(chats: ChatStore) -> list[str]:
    if hasattr(chats, "list_tenants"):
        return list(chats.list_tenants())
    return []


def _agents(chats: ChatStore, tenant: str) -> list[Agent] | None:
    if hasattr(chats, "list_agents"):
        return list(chats.list_agents(tenant))
    return None


def _policies(chats: ChatStore, tenant: str) -> dict[str, dict]:
    if hasattr(chats, "list_policies"):
        return dict(chats.list_policies(tenant))
    found = {name: chats.get_policy(tenant, name) for name in KNOWN_POLICY_NAMES}
    return {name: value for name, value in found.items() if value is not None}


def _conversations(chats: ChatStore, tenant: str) -> list[Conversation]:
    return chats.list_conversations(tenant, None, limit=2**62)


def _messages(chats: ChatStore, tenant: str, conv_id: str) -> list[Message]:
    out: list[Message] = []
    after = 0
    while True:
        page = chats.list_messages(tenant, conv_id, after=after, limit=BATCH)
        out += page
        if len(page) < BATCH:
            return out
        after = page[-1].id


def migrate_chats(src: ChatStore, dst: ChatStore, tenants: list[str]) -> ChatReport:
    """Conversations with their messages and feedback, agents, API keys and policies of ``tenants``."""
    report = ChatReport(kept_ids_and_times=hasattr(dst, "import_conversations"),
                        skipped=["sessions (agents sign in again)"])
    for tenant in tenants:
        conversations = _conversations(src, tenant)
        messages = {c.id: _messages(src, tenant, c.id) for c in conversations}
        if report.kept_ids_and_times:
            dst.import_conversations(conversations)
            dst.import_messages([m for ms in messages.values() for m in ms])
        else:
            _copy_chats_by_protocol(dst, tenant, conversations, messages)
        agents = _agents(src, tenant)
        if agents is None:
            report.skipped.append(f"agents of {tenant!r} ({type(src).__name__} cannot list them)")
            agents = []
        for agent in agents:
            if dst.get_agent(tenant, agent.username) is None:
                dst.add_agent(Agent(agent.tenant, agent.username, agent.password_hash, agent.role, agent.display_name))
            else:
                dst.set_agent_password(tenant, agent.username, agent.password_hash)
        keys = src.list_keys(tenant)
        for key in keys:
            if dst.find_key(key.key_hash) is None:
                dst.add_key(type(key)(key.tenant, key.kind, key.key_hash, key.label, list(key.origins)))
        policies = _policies(src, tenant)
        for name, value in policies.items():
            dst.set_policy(tenant, name, value)
        report.tenants[tenant] = {"conversations": len(conversations),
                                  "messages": sum(len(m) for m in messages.values()),
                                  "agents": len(agents), "keys": len(keys), "policies": len(policies)}
        _verify_chats(src, dst, tenant, agents, policies, report)
    return report


def _copy_chats_by_protocol(dst: ChatStore, tenant: str, conversations: list[Conversation],
                            messages: dict[str, list[Message]]) -> None:
    """Only what the protocol allows: new timestamps and message ids (feedback is carried over)."""
    for conv in conversations:
        copy = Conversation(**{**conv.to_dict()})
        try:
            dst.get_conversation(tenant, conv.id)
        except NotFoundError:
            dst.create_conversation(copy)
        else:
            dst.update_conversation(copy)
            if dst.list_messages(tenant, conv.id, limit=1):
                continue  # copied before: the protocol has no way to tell which messages match
        for m in messages[conv.id]:
            new = dst.add_message(Message(m.tenant, m.conversation_id, m.role, m.text, dict(m.meta)))
            if m.feedback is not None:
                dst.set_feedback(tenant, new.id, m.feedback)


def _chat_digest(chats: ChatStore, tenant: str, with_times: bool) -> tuple[int, int, str]:
    digest = hashlib.sha256()
    convs = sorted(_conversations(chats, tenant), key=lambda c: c.id)
    n_messages = 0
    for c in convs:
        d = c.to_dict()
        if not with_times:
            d.pop("created_at")
            d.pop("updated_at")
        digest.update(_canon(["conversation", d]))
        for m in _messages(chats, tenant, c.id):
            digest.update(_canon(["message", m.id if with_times else None, m.role, m.text, m.meta, m.feedback,
                                  m.created_at if with_times else None]))
            n_messages += 1
    return len(convs), n_messages, digest.hexdigest()


def _verify_chats(src: ChatStore, dst: ChatStore, tenant: str, agents: list[Agent], policies: dict,
                  report: ChatReport) -> None:
    with_times = report.kept_ids_and_times
    a, b = _chat_digest(src, tenant, with_times), _chat_digest(dst, tenant, with_times)
    report.tenants[tenant]["checksum"] = a[2]
    if a != b:
        report.problems.append(f"tenant {tenant!r}: source has {a[0]} conversations / {a[1]} messages "
                               f"(checksum {a[2][:12]}), destination {b[0]} / {b[1]} ({b[2][:12]})")
    for agent in agents:
        got = dst.get_agent(tenant, agent.username)
        if got is None or (got.password_hash, got.role, got.display_name) != (agent.password_hash, agent.role,
                                                                              agent.display_name):
            report.problems.append(f"tenant {tenant!r}: agent {agent.username!r} differs after the copy")
    src_keys = {(k.kind, k.key_hash, k.label, tuple(k.origins)) for k in src.list_keys(tenant)}
    dst_keys = {(k.kind, k.key_hash, k.label, tuple(k.origins)) for k in dst.list_keys(tenant)}
    if not src_keys <= dst_keys:
        report.problems.append(f"tenant {tenant!r}: {len(src_keys - dst_keys)} API keys missing after the copy")
    for name, value in policies.items():
        if dst.get_policy(tenant, name) != value:
            report.problems.append(f"tenant {tenant!r}: policy {name!r} differs after the copy")
