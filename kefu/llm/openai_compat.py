"""``generator = "openai"``: any server that speaks the OpenAI chat-completions protocol.

Pointing kefu at a model server
-------------------------------
Every one of these is the same three settings (``kefu.toml`` or ``KEFU_*`` environment variables)::

    generator = "openai"
    llm_base_url = "http://127.0.0.1:8000/v1"   # the URL that ends where /chat/completions begins
    llm_model = "Qwen/Qwen2.5-7B-Instruct"      # the name the server knows the model by

* vLLM: ``vllm serve Qwen/Qwen2.5-7B-Instruct`` → ``llm_base_url = "http://127.0.0.1:8000/v1"``,
  ``llm_model`` = the name given to ``vllm serve`` (or its ``--served-model-name``).
* Ollama: ``ollama pull qwen2.5:7b`` → ``llm_base_url = "http://127.0.0.1:11434/v1"``, ``llm_model = "qwen2.5:7b"``.
* llama.cpp server: ``llama-server -m model.gguf --port 8080`` → ``llm_base_url = "http://127.0.0.1:8080/v1"``;
  ``llm_model`` may stay empty (the server has one model). ``generator = "llamacpp"`` starts one in-process.
* Hosted APIs (OpenAI, DeepSeek, Qwen/DashScope compatible mode, …): their ``…/v1`` base URL and model name,
  and the API key in the environment variable ``KEFU_LLM_API_KEY`` (or the one named by ``llm_api_key_env``).
  The key is sent as ``Authorization: Bearer …``; it is read from the environment at each request and never
  stored in settings, printed, logged or put in an error. Text sent off the machine is PII-redacted unless
  ``llm_redact = "never"``.

``llm_timeout_s`` bounds the connection and each read (so a non-streaming reply must arrive within it),
``llm_retries`` retries connection errors, timeouts, 429 and 5xx with exponential backoff and jitter, and
after ``llm_breaker_failures`` failed calls in a row a circuit breaker answers ``GeneratorError`` at once for
``llm_breaker_cooldown_s`` seconds, then lets one call through to test the server again. Any failure raises
``GeneratorError`` naming the server, and kefu answers with its extractive answer instead.
"""
from __future__ import annotations

import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from kefu.config import Secret
from kefu.errors import ConfigError
from kefu.llm.base import Generation, GeneratorError, Messages

log = logging.getLogger("kefu.llm")

MAX_BODY_BYTES = 8 * 1024 * 1024  # a reply larger than this is not a chat completion
MAX_ERROR_CHARS = 300  # of the server's own error message, quoted in ours
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


def estimate_tokens(text: str) -> int:
    """A rough token count for servers that report no ``usage``: one per CJK character, one per 4 others."""
    if not text:
        return 0
    cjk = len(_CJK.findall(text))
    return max(1, cjk + math.ceil((len(text) - cjk) / 4))


class CircuitBreaker:
    """Closed → open after ``failures`` failed calls in a row → half-open after ``cooldown_s`` (one trial call).

    Thread-safe. ``allow()`` says whether a call may go ahead; every allowed call must end in ``success()``
    or ``failure()``. While half-open only the trial call goes through; its outcome closes or re-opens.
    """

    def __init__(self, failures: int = 3, cooldown_s: float = 30.0, *, clock=time.monotonic) -> None:
        if failures < 1:
            raise ConfigError(f"breaker failures must be at least 1, not {failures!r}")
        if cooldown_s < 0:
            raise ConfigError(f"breaker cooldown must not be negative, not {cooldown_s!r}")
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = "closed"
        self._count = 0
        self._opened_at = 0.0
        self._trial = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open`` (open with its cooldown over, or a trial call running)."""
        with self._lock:
            if self._state == "open" and self._clock() - self._opened_at >= self.cooldown_s:
                return "half-open"
            return self._state

    def allow(self) -> float | None:
        """``None`` if a call may go ahead now, else the seconds until the breaker lets one through."""
        with self._lock:
            if self._state == "closed":
                return None
            if self._state == "open":
                left = self._opened_at + self.cooldown_s - self._clock()
                if left > 0:
                    return left
                self._state = "half-open"
            if self._trial:  # another caller is testing the server
                return 0.0
            self._trial = True
            return None

    def success(self) -> None:
        with self._lock:
            changed = self._state != "closed"
            self._state, self._count, self._trial = "closed", 0, False
        if changed:
            log.info("model server answers again; circuit breaker closed")

    def failure(self) -> bool:
        """Record a failed call; ``True`` when this one opened (or re-opened) the breaker."""
        with self._lock:
            self._count += 1
            self._trial = False
            if self._state == "half-open" or (self._state == "closed" and self._count >= self.failures):
                self._state, self._opened_at = "open", self._clock()
                return True
            return False


class _Failure(Exception):
    """One failed attempt. ``retryable``: worth another try; ``counts``: a sign the server is unwell."""

    def __init__(self, message: str, *, retryable: bool, counts: bool = True, status: int | None = None,
                 retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.counts = counts
        self.status = status
        self.retry_after = retry_after
        self.hint = hint


@dataclass
class _StreamState:
    pieces: list[str] = field(default_factory=list)
    usage: dict | None = None
    model: str = ""
    finish_reason: str | None = None
    done: bool = False
    first_token_at: float | None = None


class OpenAIGenerator:
    """A chat model behind an OpenAI-compatible ``POST {base_url}/chat/completions``."""

    name = "openai"
    #: ``generate`` reads a streamed reply (per-token read timeouts, a real ``first_token_ms``); the
    #: ``llamacpp`` backend turns it on because a small CPU model may take longer than one read timeout.
    generate_via_stream = False

    def __init__(self, base_url: str, model: str = "", *, api_key: Secret | None = None, timeout_s: float = 20.0,
                 retries: int = 2, backoff_s: float = 0.5, breaker_failures: int = 3,
                 breaker_cooldown_s: float = 30.0, max_tokens: int = 400, temperature: float = 0.2,
                 stream_usage: bool = True) -> None:
        if api_key is not None and not isinstance(api_key, Secret):
            raise ConfigError("api_key must be a kefu.config.Secret naming an environment variable, "
                              "never the key itself")
        if not timeout_s > 0:
            raise ConfigError(f"timeout_s must be positive, not {timeout_s!r}")
        if retries < 0 or backoff_s < 0:
            raise ConfigError("retries and backoff_s must not be negative")
        self._base_url = _normalise_url(base_url) if base_url is not None else None
        self.model = model or ""
        self.api_key = api_key
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.max_tokens = int(max_tokens)
        self.temperature = float(temperature)
        self.stream_usage = stream_usage
        self.breaker = CircuitBreaker(breaker_failures, breaker_cooldown_s)
        self._timeout = httpx.Timeout(self.timeout_s)  # connect, read, write and pool, each
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    @classmethod
    def from_config(cls, config) -> OpenAIGenerator:
        base_url = (config.llm_base_url or "").strip()
        if not base_url:
            raise ConfigError("generator 'openai' needs the setting llm_base_url (the server's OpenAI-compatible "
                              "URL)", hint='e.g. llm_base_url = "http://127.0.0.1:8080/v1" in kefu.toml, or '
                                        "KEFU_LLM_BASE_URL; vLLM, Ollama, llama.cpp server and hosted APIs work")
        env = (config.llm_api_key_env or "").strip()
        return cls(base_url, config.llm_model, api_key=Secret(env) if env else None,
                   timeout_s=config.llm_timeout_s, retries=config.llm_retries,
                   breaker_failures=config.llm_breaker_failures, breaker_cooldown_s=config.llm_breaker_cooldown_s,
                   max_tokens=config.llm_max_tokens, temperature=config.llm_temperature)

    # -- where to ---------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._base_url or ""

    def _endpoint(self) -> str:
        return self.base_url + "/chat/completions"

    @property
    def server(self) -> str:
        """The base URL as shown in errors and logs (no credentials, no query)."""
        return _display_url(self.base_url)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(base_url={self.server!r}, model={self.model!r}, "
                f"api_key={self.api_key!r}, timeout_s={self.timeout_s:g}, retries={self.retries})")

    __str__ = __repr__

    def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the protocol -----------------------------------------------------------------------------------

    def generate(self, messages: Messages, *, max_tokens: int | None = None,
                 temperature: float | None = None) -> Generation:
        """The whole reply; ``GeneratorError`` on any failure (never a partial reply)."""
        payload = self._payload(messages, max_tokens, temperature, stream=self.generate_via_stream)
        start = time.perf_counter()
        if self.generate_via_stream:
            state = _StreamState()
            for _ in self._stream(payload, state):
                pass
            text = "".join(state.pieces)
            return self._generation(messages, text, state.usage, state.model, state.finish_reason or "stop",
                                    start, state.first_token_at)
        self._admit()
        try:
            body, headers_at = self._with_retries(lambda: self._complete(payload))
            text, finish, model, usage = self._parse_completion(body)
        except _Failure as failure:
            self._settle(failure)
            raise self._error(failure) from None
        except Exception as exc:
            self.breaker.failure()
            raise self._unexpected(exc) from exc
        except BaseException:
            self.breaker.failure()
            raise
        self.breaker.success()
        return self._generation(messages, text, usage, model, finish, start, headers_at)

    def stream(self, messages: Messages, *, max_tokens: int | None = None,
               temperature: float | None = None) -> Iterator[str]:
        """The reply in pieces. A failure before the first piece is retried; after it, ``GeneratorError``."""
        payload = self._payload(messages, max_tokens, temperature, stream=True)
        return self._stream(payload, _StreamState())

    # -- internals --------------------------------------------------------------------------------------

    def _payload(self, messages: Messages, max_tokens: int | None, temperature: float | None, *,
                 stream: bool) -> dict[str, Any]:
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages):
            raise GeneratorError("messages must be a non-empty list of {'role': str, 'content': str}")
        max_tokens = self.max_tokens if max_tokens is None else int(max_tokens)
        temperature = self.temperature if temperature is None else float(temperature)
        if max_tokens < 1:
            raise GeneratorError(f"max_tokens must be at least 1, not {max_tokens}")
        payload: dict[str, Any] = {"messages": [{"role": m["role"], "content": m["content"]} for m in messages],
                                   "max_tokens": max_tokens, "temperature": temperature, "stream": stream}
        if self.model:
            payload["model"] = self.model
        if stream and self.stream_usage:
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _trust_env(self) -> bool:
        """Use proxy settings from the environment, except for a model server on this machine."""
        return (urlsplit(self.base_url).hostname or "") not in LOOPBACK

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self._timeout, trust_env=self._trust_env(),
                                            follow_redirects=False)
            return self._client

    def _headers(self, stream: bool) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        key = self.api_key.resolve() if self.api_key is not None else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _admit(self) -> None:
        wait = self.breaker.allow()
        if wait is not None:
            raise GeneratorError(
                f"model server {self.server} is unavailable: circuit breaker open after "
                f"{self.breaker.failures} failed call(s) in a row"
                + (f"; next try in {wait:.1f} s" if wait > 0 else "; a trial call is in progress"))

    def _settle(self, failure: _Failure) -> None:
        log.info("model call failed", extra={"fields": {"server": self.server, "status": failure.status,
                                                        "reason": _reason(failure)}})
        if not failure.counts:
            self.breaker.success()  # the server is up; the request itself was refused
        elif self.breaker.failure():
            log.warning("circuit breaker opened", extra={"fields": {
                "server": self.server, "failures": self.breaker.failures,
                "cooldown_s": self.breaker.cooldown_s}})

    def _error(self, failure: _Failure) -> GeneratorError:
        message = f"model server {self.server}: {failure.message}"
        hint = failure.hint
        if failure.status in (401, 403):
            hint = (f"check the API key in the environment variable {self.api_key.env_var}" if self.api_key else
                    "the server wants an API key: put it in KEFU_LLM_API_KEY (or the variable llm_api_key_env names)")
        return GeneratorError(self._scrub(message), hint=hint)

    def _unexpected(self, exc: Exception) -> GeneratorError:
        return GeneratorError(self._scrub(f"model server {self.server}: unexpected {type(exc).__name__}: {exc}"))

    def _scrub(self, text: str) -> str:
        key = self.api_key.resolve() if self.api_key is not None else None
        if key and len(key) >= 4:
            text = text.replace(key, "***")
        return text

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = self.backoff_s * (2 ** attempt)
        delay = delay / 2 + random.uniform(0, delay / 2)  # "equal jitter": spread callers out
        if retry_after is not None:  # the server's Retry-After, but never longer than one timeout
            delay = max(delay, min(retry_after, self.timeout_s))
        return delay

    def _with_retries(self, call):
        attempt = 0
        while True:
            try:
                return call()
            except _Failure as failure:
                if not failure.retryable or attempt >= self.retries:
                    if attempt:
                        failure.message += f" (after {attempt + 1} attempts)"
                    raise
                self._retry_pause(failure, attempt)
                attempt += 1

    def _retry_pause(self, failure: _Failure, attempt: int) -> None:
        delay = self._delay(attempt, failure.retry_after)
        log.warning("model call failed; retrying", extra={"fields": {
            "server": self.server, "attempt": attempt + 1, "status": failure.status,
            "reason": _reason(failure), "delay_s": round(delay, 3)}})
        time.sleep(delay)

    def _send(self, payload: dict, *, stream: bool) -> tuple[httpx.Response, float]:
        """One attempt: an open 200 response and when its headers came, or ``_Failure``."""
        client = self._http()
        try:
            request = client.build_request("POST", self._endpoint(), json=payload, headers=self._headers(stream))
            response = client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise _Failure(f"no answer within {self.timeout_s:g} s ({type(exc).__name__})", retryable=True) from None
        except httpx.TransportError as exc:
            raise _Failure(f"cannot connect: {_transport_message(exc)}", retryable=True) from None
        headers_at = time.perf_counter()
        if response.status_code == 200:
            return response, headers_at
        try:
            raw = _read_limited(response, 64 * 1024)
        except (httpx.HTTPError, _Failure):
            raw = b""
        finally:
            response.close()
        raise _status_failure(response, raw)

    def _complete(self, payload: dict) -> tuple[dict, float]:
        response, headers_at = self._send(payload, stream=False)
        try:
            raw = _read_limited(response, MAX_BODY_BYTES)
        except httpx.TimeoutException as exc:
            raise _Failure(f"no answer within {self.timeout_s:g} s ({type(exc).__name__})", retryable=True) from None
        except httpx.TransportError as exc:
            raise _Failure(f"connection lost while reading the reply: {_transport_message(exc)}",
                           retryable=True) from None
        finally:
            response.close()
        return _json_object(raw, "the reply"), headers_at

    def _parse_completion(self, body: dict) -> tuple[str, str, str, dict | None]:
        if "error" in body and not body.get("choices"):
            raise _Failure(f"error reply: {_error_text(body)}", retryable=False)
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _Failure("malformed reply: no 'choices'", retryable=False)
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if content is not None and not isinstance(content, str):
            raise _Failure("malformed reply: 'content' is not text", retryable=False)
        if not content or not content.strip():
            raise _Failure(f"empty reply (finish_reason={choice.get('finish_reason')!r})", retryable=False,
                           counts=False)
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
        model = body.get("model") if isinstance(body.get("model"), str) else ""
        return content, str(choice.get("finish_reason") or "stop"), model, usage

    def _stream(self, payload: dict, state: _StreamState) -> Iterator[str]:
        self._admit()
        start = time.perf_counter()
        yielded = False
        try:
            attempt = 0
            while True:
                try:
                    response, _ = self._send(payload, stream=True)
                    try:
                        for piece in self._events(response, state):
                            yielded = True
                            yield piece
                    finally:
                        response.close()
                    break
                except _Failure as failure:
                    if yielded:
                        failure.message = (f"the reply broke off after {len(''.join(state.pieces))} characters: "
                                           f"{failure.message}")
                        raise
                    if not failure.retryable or attempt >= self.retries:
                        if attempt:
                            failure.message += f" (after {attempt + 1} attempts)"
                        raise
                    self._retry_pause(failure, attempt)
                    attempt += 1
                    state.__init__()
            if not "".join(state.pieces).strip():
                raise _Failure(f"empty reply (finish_reason={state.finish_reason!r})", retryable=False,
                               counts=False)
        except _Failure as failure:
            self._settle(failure)
            raise self._error(failure) from None
        except GeneratorExit:  # the caller stopped reading: the server was answering
            self.breaker.success()
            raise
        except Exception as exc:
            self.breaker.failure()
            raise self._unexpected(exc) from exc
        except BaseException:
            self.breaker.failure()
            raise
        self.breaker.success()
        first = None if state.first_token_at is None else round((state.first_token_at - start) * 1000, 1)
        log.debug("model reply streamed", extra={"fields": {
            "server": self.server, "ms": round((time.perf_counter() - start) * 1000, 1), "first_token_ms": first,
            "chars": len("".join(state.pieces)), "finish_reason": state.finish_reason}})

    def _events(self, response: httpx.Response, state: _StreamState) -> Iterator[str]:
        """The text pieces of one streamed reply (Server-Sent Events, one JSON object per ``data:`` line)."""
        kind = response.headers.get("content-type", "")
        if kind.startswith("application/json"):  # the server ignored stream=true: one whole reply
            try:
                raw = _read_limited(response, MAX_BODY_BYTES)
            except httpx.TransportError as exc:
                raise _Failure(f"connection lost while reading the reply: {_transport_message(exc)}",
                               retryable=True) from None
            text, finish, model, usage = self._parse_completion(_json_object(raw, "the reply"))
            state.first_token_at = time.perf_counter()
            state.pieces.append(text)
            state.usage, state.model, state.finish_reason, state.done = usage, model, finish, True
            yield text
            return
        size = 0
        lines = response.iter_lines()
        while True:
            try:
                line = next(lines, None)
            except httpx.TimeoutException as exc:
                raise _Failure(f"the stream stalled for more than {self.timeout_s:g} s ({type(exc).__name__})",
                               retryable=True) from None
            except httpx.TransportError as exc:
                raise _Failure(f"the connection dropped mid-stream: {_transport_message(exc)}",
                               retryable=True) from None
            if line is None:
                break
            size += len(line)
            if size > MAX_BODY_BYTES:
                raise _Failure("the stream is larger than any chat reply", retryable=False)
            line = line.strip()
            if not line.startswith("data:"):
                continue  # blank separators, ": ping" comments, event:/id:/retry: fields
            data = line[5:].strip()
            if data == "[DONE]":
                state.done = True
                return
            chunk = _json_object(data.encode(), "a stream chunk")
            if "error" in chunk:
                raise _Failure(f"error in the stream: {_error_text(chunk)}", retryable=False)
            if isinstance(chunk.get("usage"), dict):
                state.usage = chunk["usage"]
            if isinstance(chunk.get("model"), str):
                state.model = chunk["model"]
            choices = chunk.get("choices")
            if choices is None and state.usage is None:
                raise _Failure("malformed stream chunk: no 'choices'", retryable=False)
            if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
                continue
            choice = choices[0]
            if choice.get("finish_reason"):
                state.finish_reason = str(choice["finish_reason"])
            delta = choice.get("delta")
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str) and content:
                if state.first_token_at is None:
                    state.first_token_at = time.perf_counter()
                state.pieces.append(content)
                yield content
        if not state.done and state.finish_reason is None:
            raise _Failure("the stream ended before [DONE]", retryable=True)

    def _generation(self, messages: Messages, text: str, usage: dict | None, model: str, finish: str,
                    start: float, first_at: float | None) -> Generation:
        prompt_tokens = _int(usage, "prompt_tokens")
        completion_tokens = _int(usage, "completion_tokens")
        if prompt_tokens is None:
            prompt_tokens = sum(estimate_tokens(m["content"]) + 4 for m in messages)
        if completion_tokens is None:
            completion_tokens = estimate_tokens(text)
        end = time.perf_counter()
        out = Generation(text=text, model=self.model or model, prompt_tokens=prompt_tokens,
                         completion_tokens=completion_tokens, finish_reason=finish, ms=(end - start) * 1000,
                         first_token_ms=None if first_at is None else (first_at - start) * 1000)
        log.debug("model reply", extra={"fields": {
            "server": self.server, "model": out.model, "ms": round(out.ms, 1),
            "first_token_ms": None if out.first_token_ms is None else round(out.first_token_ms, 1),
            "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "finish_reason": finish}})
        return out


# -- helpers ----------------------------------------------------------------------------------------------

def _normalise_url(url: str) -> str:
    url = (url or "").strip().rstrip("/")
    if url.endswith("/chat/completions"):
        url = url[: -len("/chat/completions")]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"llm_base_url {_display_url(url)!r} is not an http(s) URL",
                          hint='e.g. "http://127.0.0.1:8080/v1"')
    return url


def _display_url(url: str) -> str:
    """``url`` without user:password@ or a query string, which may carry credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _read_limited(response: httpx.Response, limit: int) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise _Failure(f"the reply is larger than {limit // 1024} KiB", retryable=False)
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(raw: bytes, what: str) -> dict:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        snippet = raw[:80].decode("utf-8", "replace")
        raise _Failure(f"malformed JSON in {what}: {snippet!r}", retryable=False) from None
    if not isinstance(value, dict):
        raise _Failure(f"malformed JSON in {what}: expected an object, got {type(value).__name__}",
                       retryable=False)
    return value


def _error_text(body: Any) -> str:
    """The server's own message from an OpenAI/llama.cpp/Ollama/vLLM error body, shortened."""
    text = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            text = err.get("message") or err.get("msg")
        elif isinstance(err, str):
            text = err
        text = text or body.get("message") or body.get("detail")
    if not isinstance(text, str):
        text = json.dumps(body, ensure_ascii=False) if body is not None else ""
    text = " ".join(text.split())
    return text[:MAX_ERROR_CHARS] + ("…" if len(text) > MAX_ERROR_CHARS else "")


def _status_failure(response: httpx.Response, raw: bytes) -> _Failure:
    status = response.status_code
    try:
        message = _error_text(json.loads(raw)) if raw else ""
    except ValueError:
        message = _error_text(raw.decode("utf-8", "replace"))
    what = f"HTTP {status} {response.reason_phrase}".rstrip() + (f": {message}" if message else "")
    retry_after = None
    header = response.headers.get("retry-after")
    if header:
        try:
            retry_after = max(0.0, float(header))
        except ValueError:
            retry_after = None
    hint = None
    if status == 404:
        hint = "check llm_base_url (it usually ends in /v1) and llm_model"
    retryable = status in (408, 429) or status >= 500
    counts = not (400 <= status < 500) or status in (401, 403, 404, 408, 429)
    return _Failure(what, retryable=retryable, counts=counts, status=status, retry_after=retry_after, hint=hint)


def _transport_message(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def _reason(failure: _Failure) -> str:
    """A short reason for logs: the status or the exception kind, never the server's message text."""
    if failure.status is not None:
        return f"HTTP {failure.status}"
    return failure.message.split(":", 1)[0][:60]


def _int(usage: dict | None, key: str) -> int | None:
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
