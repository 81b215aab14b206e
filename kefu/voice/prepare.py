"""What a call is likely to answer with, read from the store, so the voice warm-up can say it ahead.

``stored_answers`` ranks one tenant's answers as stored; ``answers_to_prepare`` takes every tenant's in
turn; ``knowledge_version`` tells when any tenant's knowledge changed (``kefu serve`` then prepares again).
``VoiceRuntime.prepare_answers`` says their first pieces into the speech cache.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from kefu.errors import InputError
from kefu.store.base import sources_version


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


def tenants(store, first: str) -> list[str]:
    """Every tenant holding knowledge, ``first`` first; only ``first`` for a store that cannot list them."""
    from kefu.store.migrate import store_tenants

    try:
        return list(dict.fromkeys([first, *store_tenants(store)]))
    except InputError:
        return [first]


def answers_to_prepare(store, tenant: str, limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` stored answers of every tenant, taken in turn (``tenant`` first): each tenant's likelier
    answers come before any tenant's less likely ones, so a cache too small for all of them is shared fairly."""
    lists = [stored_answers(store, t, limit) for t in tenants(store, tenant)]
    turns = (answers[i] for i in range(max(map(len, lists), default=0)) for answers in lists if i < len(answers))
    return list(dict.fromkeys(turns))


def knowledge_version(store, tenant: str) -> tuple[Any, ...]:
    """Changes whenever any tenant's knowledge does (``sources_version`` of each; ``tenant``'s alone for a
    store that cannot list its tenants)."""
    return tuple((t, sources_version(store, t)) for t in tenants(store, tenant))
