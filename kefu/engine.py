"""Wires settings to backends: one ``Engine`` per process, built lazily (no work at import)."""
from __future__ import annotations

from functools import cached_property

from kefu.config import Config
from kefu.dialog.answer import Answerer
from kefu.dialog.service import ChatService
from kefu.ingest.pipeline import Ingestor
from kefu.nlp.embed import Embedder, load_embedder
from kefu.registry import resolve
from kefu.retrieve.retriever import Retriever
from kefu.store.base import Store
from kefu.store.chats import ChatStore


class Engine:
    """The store, embedder, retriever, answerer and ingestor for one configuration."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @cached_property
    def store(self) -> Store:
        cls = resolve("store", self.config.store)
        return cls(self.config.database_url or self.config.db_path)

    @cached_property
    def chats(self) -> ChatStore:
        cls = resolve("chatstore", self.config.chat_store)
        return cls(self.config.chat_database_url or self.config.chats_path)

    @cached_property
    def service(self) -> ChatService:
        return ChatService(self, self.chats)

    @cached_property
    def embedder(self) -> Embedder:
        return load_embedder(self.config.embedder, self.config.embed_threads)

    @cached_property
    def retriever(self) -> Retriever:
        c = self.config
        return Retriever(self.store, self.embedder, keyword_weight=c.keyword_weight,
                         vector_weight=c.vector_weight, rrf_k=c.rrf_k)

    @cached_property
    def answerer(self) -> Answerer:
        c = self.config
        return Answerer(self.retriever, threshold=c.answer_threshold, top_k=c.top_k,
                        max_question_chars=c.max_question_chars)

    @cached_property
    def ingestor(self) -> Ingestor:
        c = self.config
        return Ingestor(self.store, self.embedder, chunk_chars=c.chunk_chars,
                        dedup_threshold=c.dedup_threshold, max_file_mb=c.max_file_mb,
                        redact_names=c.redact_names)

    def close(self) -> None:
        for name in ("store", "chats"):
            if name in self.__dict__:
                self.__dict__[name].close()
