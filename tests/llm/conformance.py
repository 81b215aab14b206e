"""Conformance suite every ``Generator`` implementation must pass.

Subclass ``GeneratorConformance`` in a test module and provide two fixtures (any scope)::

    class TestMyGenerator(GeneratorConformance):
        @pytest.fixture
        def generator(self):
            return MyGenerator(..., api_key=Secret(API_KEY_ENV))     # a working model
        @pytest.fixture
        def broken_generator(self):
            return MyGenerator(dead_url(), timeout_s=1, retries=1)    # nothing listens there

The ``api_key`` fixture (autouse) puts ``API_KEY`` in the environment variable ``API_KEY_ENV`` for each test, so a
generator that takes a key can be given ``Secret(API_KEY_ENV)``; the suite checks it never shows. Prompts ask for
little and ``max_tokens`` stays small, so a 135M model on 2 CPU cores runs the suite in seconds.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest

from kefu.llm.base import Generation, Generator, GeneratorError

API_KEY_ENV = "CONFORMANCE_LLM_API_KEY"  # not KEFU_*: conftest clears those
API_KEY = "sk-conformance-8f3a1c9e2b7d4e60"
SMALL = 24  # max_tokens for most calls

ASK = [{"role": "system", "content": "You are a helpful customer-service assistant. Answer briefly."},
       {"role": "user", "content": "How long does delivery usually take?"}]
ASK_ZH = [{"role": "system", "content": "你是一名客服助手，请简短回答。"},
          {"role": "user", "content": "退货需要多长时间？"}]
LONG = [{"role": "user", "content": "Write a very long story about a cat who travels around the world."}]


def dead_url() -> str:
    """An http URL on loopback where nothing listens (a port the OS just handed out and took back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def time_limit(gen) -> float:
    """How long a failing call may take: each attempt's timeout plus the backoff between attempts."""
    timeout = getattr(gen, "timeout_s", 5.0)
    retries = getattr(gen, "retries", 2)
    backoff = getattr(gen, "backoff_s", 0.5)
    return timeout * (retries + 1) + backoff * (2 ** retries) + 2.0


class GeneratorConformance:
    @pytest.fixture(autouse=True)
    def api_key(self, monkeypatch):
        monkeypatch.setenv(API_KEY_ENV, API_KEY)
        return API_KEY

    def test_is_a_generator(self, generator):
        assert isinstance(generator, Generator)
        assert isinstance(generator.name, str) and generator.name

    def test_generate_returns_text_and_token_counts(self, generator):
        out = generator.generate(ASK, max_tokens=SMALL, temperature=0.0)
        assert isinstance(out, Generation)
        assert isinstance(out.text, str) and out.text.strip()
        assert out.prompt_tokens > 0 and out.completion_tokens > 0
        assert out.completion_tokens <= SMALL + 2
        assert out.ms > 0
        assert out.first_token_ms is None or 0 <= out.first_token_ms <= out.ms
        assert out.finish_reason

    def test_stream_pieces_join_to_a_reply(self, generator):
        pieces = list(generator.stream(ASK, max_tokens=SMALL, temperature=0.0))
        assert pieces and all(isinstance(p, str) for p in pieces)
        assert "".join(pieces).strip()

    def test_chinese_prompt(self, generator):
        out = generator.generate(ASK_ZH, max_tokens=SMALL)
        assert out.text.strip() and out.completion_tokens > 0

    def test_max_tokens_is_honoured(self, generator):
        out = generator.generate(LONG, max_tokens=8, temperature=0.0)
        assert 0 < out.completion_tokens <= 10
        assert out.finish_reason == "length"
        streamed = "".join(generator.stream(LONG, max_tokens=8, temperature=0.0))
        assert streamed.strip() and len(streamed) <= 8 * 16  # no token is longer than 16 characters

    def test_abandoned_stream_leaves_generator_usable(self, generator):
        stream = generator.stream(LONG, max_tokens=SMALL)
        assert next(stream)
        stream.close()
        assert generator.generate(ASK, max_tokens=8).text.strip()

    def test_concurrent_calls(self, generator):
        results, errors = [], []

        def ask():
            try:
                results.append(generator.generate(ASK, max_tokens=8).text)
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=ask) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors and len(results) == 3 and all(r.strip() for r in results)

    def test_dead_server_raises_generator_error_quickly(self, broken_generator):
        limit = time_limit(broken_generator)
        start = time.monotonic()
        with pytest.raises(GeneratorError):
            broken_generator.generate(ASK, max_tokens=8)
        with pytest.raises(GeneratorError):
            list(broken_generator.stream(ASK, max_tokens=8))
        assert time.monotonic() - start < 2 * limit

    def test_error_names_the_server_not_the_key(self, broken_generator):
        with pytest.raises(GeneratorError) as info:
            broken_generator.generate(ASK, max_tokens=8)
        text = str(info.value)
        assert API_KEY not in text and API_KEY not in repr(info.value)
        server = getattr(broken_generator, "server", None) or getattr(broken_generator, "base_url", "")
        if server:
            assert server in text

    def test_repr_never_contains_the_key(self, generator, broken_generator):
        for gen in (generator, broken_generator):
            assert API_KEY not in repr(gen) and API_KEY not in str(gen)
            assert API_KEY not in repr(vars(gen)) if hasattr(gen, "__dict__") else True
