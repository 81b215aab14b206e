"""Server replicas on loopback sharing one PostgreSQL: in threads (one process) or as ``kefu serve`` processes."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from kefu.config import Config
from kefu.engine import Engine
from kefu.server.app import create_app
from kefu.server.auth import hash_password, new_key
from kefu.store.chats import Agent
from tests.server.live_server import free_port, serving

PASSWORD = "correct horse battery"
SETTINGS = {"rate_limit_ip_per_min": 0, "nlu_ner": False}


def replica_config(home: Path, database: str) -> Config:
    return Config.load(home, env={}, overrides={"database_url": database, **SETTINGS})


def seed(database: str, home: Path, tenant: str = "acme") -> tuple[str, str]:
    """A widget key and an agent ``alice`` in ``tenant``; returns (widget key, admin key)."""
    engine = Engine(replica_config(home, database))
    try:
        widget, _ = new_key(engine.chats, tenant, "widget", label="site")
        admin, _ = new_key(engine.chats, tenant, "admin", label="ops")
        engine.chats.add_agent(Agent(tenant, "alice", hash_password(PASSWORD), "agent", "Alice"))
        return widget, admin
    finally:
        engine.close()


@contextmanager
def thread_replicas(database: str, root: Path, embedder, n: int = 2, fallback: float = 30.0) -> Iterator[list[str]]:
    """``n`` apps (own engine each) served by uvicorn threads; event-stream poll fallback ``fallback`` s."""
    with ExitStack() as stack:
        urls = []
        for i in range(n):
            engine = Engine(replica_config(root / f"replica{i}", database))
            engine.__dict__["embedder"] = embedder
            stack.callback(engine.close)
            app = create_app(engine.config, engine)
            app.state.services.live.fallback = fallback  # only NOTIFY can wake a stream quickly
            stack.callback(lambda app=app: [close() for close in app.state.closers])
            port = free_port()
            stack.enter_context(serving(app, port, name=f"replica-{i}"))
            urls.append(f"http://127.0.0.1:{port}")
        yield urls


class Replica:
    """``kefu serve`` in a subprocess on a loopback port (killable, restartable)."""

    def __init__(self, database: str, home: Path, port: int | None = None) -> None:
        self.database, self.home, self.port = database, home, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, wait: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
        env.update({"KEFU_HOME": str(self.home), "KEFU_DATABASE_URL": self.database, "OMP_NUM_THREADS": "1",
                    **{f"KEFU_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
                       for k, v in SETTINGS.items()}})
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.home / "server.log", "ab")  # noqa: SIM115 - the child writes it until it exits
        command = [sys.executable, "-c", "from kefu.cli import main; main()", "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica exited with {self.proc.returncode}: "
                                   f"{(self.home / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"replica on {self.url} did not start: {(self.home / 'server.log').read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class EventStream:
    """Reads an SSE endpoint in a thread; ``next(kind, timeout)`` returns the next event's data of that kind."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.events: queue.Queue[tuple[str, dict]] = queue.Queue()
        self._stop = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=60))
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()

    def _read(self, url: str, headers: dict[str, str]) -> None:
        kind = ""
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        self.events.put((kind, json.loads(line[5:].strip())))
        except httpx.TransportError:
            if not self._stop.is_set():  # closed by ``close``: expected
                raise

    def next(self, kind: str, timeout: float, where=lambda data: True) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kind!r} event within {timeout} s")
            try:
                got, data = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if got == kind and where(data):
                return data

    def close(self) -> None:
        self._stop.set()
        self._client.close()
