"""The ``Generator`` protocol: one small interface every large-model backend implements.

    gen = resolve("generator", "openai")(base_url="http://127.0.0.1:8080/v1", model="qwen2.5")
    out = gen.generate([{"role": "system", "content": "..."}, {"role": "user", "content": "..."}])
    out.text, out.prompt_tokens, out.completion_tokens
    for piece in gen.stream(messages): ...

Backends: ``openai`` (any OpenAI-compatible server: vLLM, Ollama, llama.cpp server, hosted APIs),
``llamacpp`` (a local SmolLM2 through ``xllamacpp``, optional extra). ``extractive`` is not a generator:
it is what kefu answers with when none is configured or every one failed. The conformance suite in
``tests/llm/conformance.py`` runs on each backend.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from kefu.errors import BackendError

Messages = list[dict[str, str]]  # OpenAI chat format: [{"role": "system"|"user"|"assistant", "content": str}]


class GeneratorError(BackendError):
    """The model could not answer (down, timed out, circuit open, malformed reply); callers fall back."""

    code = "generator_error"


@dataclass
class Generation:
    text: str
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    ms: float = 0.0
    first_token_ms: float | None = None


@runtime_checkable
class Generator(Protocol):
    """A chat model. Implementations raise only ``GeneratorError`` (never hang past their timeout)."""

    name: str

    def generate(self, messages: Messages, *, max_tokens: int = 400, temperature: float = 0.2) -> Generation:
        """The whole reply."""

    def stream(self, messages: Messages, *, max_tokens: int = 400, temperature: float = 0.2) -> Iterator[str]:
        """The reply in pieces as the model produces them. A failure mid-stream raises ``GeneratorError``."""
