"""A simulated phone caller: streams real audio frames over a real WebSocket and records what comes back."""
from __future__ import annotations

import base64
import json
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from kefu.voice.audio import mulaw_encode, pcm16_encode
from kefu.voice.base import Audio

RATES = {"mulaw8k": 8000, "pcm16k": 16000}


@dataclass
class Received:
    at: float
    event: dict | None = None
    audio: bytes | None = None


@dataclass
class Caller:
    """Talks on ``ws`` (a ``websockets.sync`` connection) in ``fmt``; a line-noise floor between utterances."""

    ws: object
    fmt: str
    twilio: bool = False
    inbox: queue.Queue = field(default_factory=queue.Queue)
    log: list[Received] = field(default_factory=list)
    last_voice_sent: float = 0.0

    def __post_init__(self) -> None:
        self.rate = RATES[self.fmt]
        self.frame = int(0.02 * self.rate)
        self._rng = np.random.default_rng(7)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for msg in self.ws:
                item = Received(time.perf_counter(), audio=msg) if isinstance(msg, bytes) else \
                    Received(time.perf_counter(), event=json.loads(msg))
                self.log.append(item)
                self.inbox.put(item)
        except Exception as exc:  # the connection closed: the test reads close codes from ws
            self.inbox.put(Received(time.perf_counter(), event={"event": "closed", "error": repr(exc)}))
        else:
            self.inbox.put(Received(time.perf_counter(), event={"event": "closed"}))

    def _encode(self, x: np.ndarray) -> bytes:
        return mulaw_encode(x) if self.fmt == "mulaw8k" else pcm16_encode(x)

    def _send(self, data: bytes) -> None:
        if self.twilio:
            self.ws.send(json.dumps({"event": "media", "media": {"payload": base64.b64encode(data).decode()}}))
        else:
            self.ws.send(data)

    def speak(self, audio: Audio, realtime: float = 1.0) -> None:
        """Stream ``audio`` in 20 ms frames, paced at ``realtime`` × real time."""
        x = audio.resampled(self.rate).samples
        start = time.perf_counter()
        for i in range(0, len(x), self.frame):
            self._send(self._encode(x[i:i + self.frame]))
            due = start + (i + self.frame) / self.rate / realtime
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if np.abs(x[i:i + self.frame]).max() > 0.02:
                self.last_voice_sent = time.perf_counter()

    def quiet(self, seconds: float, realtime: float = 1.0) -> None:
        """Line noise (about -60 dBFS) for ``seconds``."""
        self.speak(Audio(self._rng.normal(0, 0.001, int(seconds * self.rate)).astype(np.float32), self.rate),
                   realtime)

    def wait_for(self, name: str, timeout: float = 60.0) -> Received:
        deadline = time.monotonic() + timeout
        while True:
            item = self.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
            if item.event is not None and item.event.get("event") == name:
                return item
            if item.event is not None and item.event.get("event") == "closed" and name != "closed":
                raise AssertionError(f"the call closed while waiting for {name}: {self.events()}")

    def first_audio_after(self, t: float, timeout: float = 30.0) -> float | None:
        """When the first answer audio frame after ``t`` arrived (waiting up to ``timeout`` for it)."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((r.at for r in list(self.log) if r.audio is not None and r.at > t), None)
            if found is not None or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def events(self, name: str | None = None) -> list[dict]:
        return [r.event for r in self.log if r.event is not None and (name is None or r.event["event"] == name)]
