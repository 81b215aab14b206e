"""Each tenant's NLU for the chat service, kept up to date with what is trained and ingested while serving.

A tenant's NLU reads its trained intent model (``kefu train intent`` writes a new version and moves
``CURRENT``) and its catalogue rows (product names for entities). Every ``nlu_reload_check_s`` a message's
turn looks whether either changed; if so a fresh NLU is built and warmed up on a background thread and
replaces the old one when ready, so no customer waits for the load.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from kefu.pool import LazyPool
from kefu.store.base import sources_version

log = logging.getLogger("kefu.dialog")
RETRY_FAILED_S = 600.0  # a model that failed to load (broken, or memory short) is tried again after this


@dataclass
class _Loaded:
    nlu: Any
    version: tuple
    checked: float
    reloading: bool = False
    failed: tuple | None = None  # the version whose load failed: tried again only after RETRY_FAILED_S
    failed_at: float = 0.0


class TenantNLUs:
    """``get(tenant)``: the tenant's NLU, made on first use and remade when its model or catalogue changed."""

    def __init__(self, engine, factory=None) -> None:
        """``factory(tenant)`` makes an NLU (default: the tenant's trained model and catalogue rows)."""
        self.engine = engine
        self._factory = factory or self._make
        self._loaded: dict[str, _Loaded] = {}
        self._guard = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}  # per tenant, held while its first NLU loads
        self._pool = LazyPool(1, "kefu-nlu-reload")

    def get(self, tenant: str):
        every = getattr(self.engine.config, "nlu_reload_check_s", 0)
        now = time.monotonic()
        with self._guard:
            entry = self._loaded.get(tenant)
            if entry is not None:
                due = every > 0 and not entry.reloading and now - entry.checked >= every
                if due:
                    entry.checked, entry.reloading = now, True
            else:
                loading = self._loading.setdefault(tenant, threading.Lock())
        if entry is None:
            return self._first(tenant, loading)
        if due:
            self._pool.get().submit(self._reload, tenant, entry)
        return entry.nlu

    def _first(self, tenant: str, loading: threading.Lock):
        """Load the tenant's NLU once (its first messages wait for it; other tenants' do not)."""
        with loading:
            with self._guard:
                entry = self._loaded.get(tenant)
            if entry is None:
                version = self.version(tenant)  # first: a model trained while this one loads is seen next time
                nlu = self._factory(tenant)
                with self._guard:
                    entry = self._loaded[tenant] = _Loaded(nlu, version, time.monotonic())
            return entry.nlu

    def put(self, tenant: str, nlu) -> None:
        """Use ``nlu`` for ``tenant`` (until its intent model or knowledge changes)."""
        with self._guard:
            self._loaded[tenant] = _Loaded(nlu, self.version(tenant), time.monotonic())

    def version(self, tenant: str) -> tuple:
        """What the tenant's NLU is made from: its intent model's ``CURRENT`` (rewritten by each training)
        and its knowledge sources (catalogue rows among them)."""
        from kefu.nlp.intent import intent_dir

        current = intent_dir(self.engine.config.home, tenant) / "CURRENT"
        model = current.stat().st_mtime_ns if current.is_file() else None
        return model, sources_version(self.engine.store, tenant)

    def _reload(self, tenant: str, entry: _Loaded) -> None:
        version = None
        try:
            version = self.version(tenant)
            if version == entry.version or (version == entry.failed
                                            and time.monotonic() - entry.failed_at < RETRY_FAILED_S):
                return
            nlu = self._factory(tenant)
            nlu.warm_up()
            with self._guard:
                self._loaded[tenant] = _Loaded(nlu, version, time.monotonic())
            log.info("tenant %s: NLU reloaded (a new intent model or changed knowledge)", tenant)
            _close(entry.nlu)
        except Exception as exc:  # noqa: BLE001 - a background thread: the old NLU goes on serving
            entry.failed, entry.failed_at = version, time.monotonic()
            log.warning("tenant %s: reloading the NLU failed, the previous one goes on: %s", tenant, exc,
                        exc_info=True)
        finally:
            entry.reloading = False

    def _make(self, tenant: str):
        from kefu.nlp.entities import Gazetteer
        from kefu.nlp.nlu import NLU

        rows = [c.meta["fields"] for c in self.engine.store.list_chunks(tenant, ["row"])
                if isinstance(c.meta.get("fields"), dict) and _has_name(c.meta["fields"])]
        return NLU.for_tenant(self.engine.config, tenant, embedder=self.engine.embedder,
                              products=Gazetteer.from_rows(rows) if rows else None)

    def close(self) -> None:
        """Stop the reload thread and the NLUs' worker threads (a later message starts them again)."""
        self._pool.close()
        with self._guard:
            loaded = [entry.nlu for entry in self._loaded.values()]
        for nlu in loaded:
            _close(nlu)


def _close(nlu) -> None:
    close = getattr(nlu, "close", None)
    if callable(close):
        close()


def _has_name(fields: dict) -> bool:
    return any(str(k).strip().lower() in ("name", "product", "product_name", "名称") and v for k, v in fields.items())


__all__ = ["TenantNLUs"]
