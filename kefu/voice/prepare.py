"""What a call is likely to answer with, read from the store, so the voice warm-up can say it ahead.

``stored_answers`` ranks one tenant's answers as stored; ``answers_to_prepare`` takes every tenant's in
turn; ``knowledge_version`` tells when any tenant's knowledge changed (``kefu serve`` then prepares again).
``VoiceRuntime.prepare_answers`` says their first pieces into the speech cache.
"""
from __future__ import annotations

from collections import Counter
from typing import Any


def stored_answers(store, tenant: str, limit: int) -> list[tuple[str, str]]:
    """``(text, language)`` of up to ``limit`` texts a call is likely to start an answer with, as stored: the
    tenant's FAQ answers, then its passages and table rows (an answer from one starts with its opening when the
    passage is short, and often does when it is long: the heading is kept), then the answers mined from its
    chat logs, the most often given first."""
    if limit <= 0:
        return []
    faq = [(c.answer.strip(), c.lang) for c in store.list_chunks(tenant, ["faq"], limit)]
    passages = [(c.text.strip(), c.lang) for c in store.list_chunks(tenant, ["passage", "row"], limit)]
    mined = Counter((c.answer.strip(), c.lang) for c in store.list_chunks(tenant, ["qa"]))
    ranked = dict.fromkeys([*faq, *passages, *(answer for answer, _ in mined.most_common())])
    return [(text, lang) for text, lang in ranked if text and lang in ("zh", "en")][:limit]


def answers_to_prepare(store, tenant: str, limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` stored answers of every tenant, taken in turn (``tenant`` first): each tenant's likelier
    answers come before any tenant's less likely ones, so a cache too small for all of them is shared fairly."""
    from kefu.store.migrate import store_tenants

    tenants = list(dict.fromkeys([tenant, *store_tenants(store)]))
    lists = [stored_answers(store, t, limit) for t in tenants]
    turns = (answers[i] for i in range(max(map(len, lists), default=0)) for answers in lists if i < len(answers))
    return list(dict.fromkeys(turns))


def knowledge_version(store) -> tuple[Any, ...]:
    """Changes whenever a tenant's knowledge does: each tenant's sources with their document and chunk counts
    and last update (one small query per tenant)."""
    from kefu.store.migrate import store_tenants

    return tuple((t, tuple(tuple(sorted(s.items())) for s in store.list_sources(t))) for t in store_tenants(store))
