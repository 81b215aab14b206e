"""Wires settings to backends: one ``Engine`` per process, built lazily (no work at import)."""
from __future__ import annotations

import json
import threading
from functools import cached_property

from kefu.config import Config
from kefu.dialog.answer import Answer, Answerer
from kefu.dialog.compose import Composer, build_chain, should_redact
from kefu.dialog.service import ChatService
from kefu.errors import BackendError, ConfigError, InputError
from kefu.ingest.pipeline import Ingestor
from kefu.nlp.embed import Embedder, QueryCache, load_embedder
from kefu.registry import resolve
from kefu.retrieve.retriever import Retriever
from kefu.store.base import Store
from kefu.store.chats import ChatStore

TENANT_LLM_SETTINGS = ("generator", "llm_base_url", "llm_model", "llm_api_key_env", "llm_max_tokens",
                       "llm_temperature", "llm_redact")


POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def _is_postgres(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def _backend(name: str, url: str) -> str:
    """``postgres`` for a PostgreSQL URL while the backend setting is still the default ``sqlite``."""
    return "postgres" if name == "sqlite" and _is_postgres(url) else name


class Engine:
    """The store, embedder, retriever, answerer and ingestor for one configuration."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._composers: dict[str, tuple[str, Composer]] = {}
        self._lock = threading.Lock()

    @cached_property
    def store(self) -> Store:
        url = self.config.database_url
        cls = resolve("store", _backend(self.config.store, url))
        return cls(url or self.config.db_path)

    @cached_property
    def chats(self) -> ChatStore:
        # On PostgreSQL the chat tables live in the same database unless chat_database_url says otherwise.
        url = self.config.chat_database_url or (self.config.database_url if _is_postgres(self.config.database_url)
                                                else "")
        cls = resolve("chatstore", _backend(self.config.chat_store, url))
        return cls(url or self.config.chats_path)

    @cached_property
    def service(self) -> ChatService:
        return ChatService(self, self.chats)

    @cached_property
    def embedder(self) -> Embedder:
        c = self.config
        return QueryCache(load_embedder(c.embedder, c.embed_threads, c.embed_workers, c.embed_engine,
                                        c.embed_query_threads))

    @cached_property
    def retriever(self) -> Retriever:
        c = self.config
        return Retriever(self.store, self.embedder, keyword_weight=c.keyword_weight,
                         vector_weight=c.vector_weight, rrf_k=c.rrf_k,
                         expand=self.graph_qa.expansion if c.kg_expand_queries else None)

    @cached_property
    def graph(self):
        """The knowledge graph (``kefu.kg``): ``kg_*`` tables beside the knowledge store (same file or database)."""
        url = self.config.database_url
        return resolve("graphstore", "postgres" if _is_postgres(url) else "sqlite")(url or self.config.db_path)

    @cached_property
    def graph_qa(self):
        from kefu.kg.query import GraphQA

        return GraphQA(self.graph, threshold=self.config.answer_threshold,
                       max_question_chars=self.config.max_question_chars, embedder=self.embedder)

    @cached_property
    def answerer(self) -> Answerer:
        c = self.config
        return Answerer(self.retriever, threshold=c.answer_threshold, top_k=c.top_k,
                        max_question_chars=c.max_question_chars, graph_qa=self.graph_qa)

    @cached_property
    def ingestor(self) -> Ingestor:
        c = self.config
        return Ingestor(self.store, self.embedder, chunk_chars=c.chunk_chars,
                        dedup_threshold=c.dedup_threshold, max_file_mb=c.max_file_mb,
                        redact_names=c.redact_names)

    def composer(self, tenant: str) -> Composer:
        """The tenant's generator chain (setting ``generator``, or the tenant's ``generator`` policy)."""
        override = self.chats.get_policy(tenant, "generator")
        key = json.dumps(override or {}, sort_keys=True)
        with self._lock:
            cached = self._composers.get(tenant)
            if cached is None or cached[0] != key:
                config = self.config.with_values(override) if override else self.config
                cached = (key, Composer(self.store, self.embedder, build_chain(config),
                                        max_tokens=config.llm_max_tokens, temperature=config.llm_temperature,
                                        redact=should_redact(config)))
                self._composers[tenant] = cached
            return cached[1]

    def respond(self, tenant: str, question: str, filters=None, *, emotion: str = "neutral") -> Answer:
        """The extractive answer, rewritten by the tenant's generator chain when one is configured."""
        answer = self.answerer.ask(tenant, question, filters)
        composer = self.composer(tenant)
        return composer.compose(tenant, question, answer, emotion=emotion) if composer.enabled else answer

    def set_generator_policy(self, tenant: str, data: dict) -> dict:
        """Store a tenant's generator settings after checking them like any setting."""
        if not isinstance(data, dict):
            raise InputError("the generator policy must be a JSON object")
        unknown = sorted(set(data) - set(TENANT_LLM_SETTINGS))
        if unknown:
            raise InputError(f"not a per-tenant generator setting: {', '.join(unknown)}; allowed: "
                             f"{', '.join(TENANT_LLM_SETTINGS)}")
        try:
            checked = self.config.with_values(data)
            build_chain(checked)  # unknown backends or a missing URL fail now, not on a customer's message
        except (ConfigError, BackendError) as exc:
            raise InputError(exc.message, hint=exc.hint) from None
        clean = {k: checked.as_dict()[k] for k in data}
        self.chats.set_policy(tenant, "generator", clean)
        return clean

    def close(self) -> None:
        if "service" in self.__dict__:
            self.__dict__["service"].close()
        if "retriever" in self.__dict__:
            self.__dict__["retriever"].close()
        for name in ("store", "chats", "graph"):
            if name in self.__dict__:
                self.__dict__[name].close()
